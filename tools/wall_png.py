"""Write a PNG of what the wall display shows for the given lines (LEDs drawn as dots).

Usage: python tools/wall_png.py OUT.png [--config FILE] "A012 → 3" "B004 → 1" …
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import DEFAULT, load_config  # noqa: E402
from media.wall import led_picture, wall_frame  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("lines", nargs="+")
    parser.add_argument("--config", type=Path, default=DEFAULT)
    args = parser.parse_args(argv)
    display = load_config(args.config).hardware.display
    frame = wall_frame(args.lines, display.width, display.height, [0] * len(args.lines))
    led_picture(frame).save(args.out)
    print(f"{args.out}: {display.width} x {display.height} LEDs")


if __name__ == "__main__":
    main()
