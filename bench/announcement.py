"""How long a call takes to say with the generated clips (tools/make_clips.py), in Chinese then
English, numbers said as numbers, beside the same calls said digit by digit as before.

Usage: python bench/announcement.py
"""

import subprocess
import sys
import tempfile
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from media.speech import call_announcement  # noqa: E402

CALLS = (("A012", 3), ("B105", 12), ("C999", 4))


def seconds(folder: Path, clips) -> float:
    total = 0.0
    for clip in clips:
        with wave.open(str(folder / f"{clip}.wav")) as f:
            total += f.getnframes() / f.getframerate()
    return total


def digit_by_digit(label: str, counter: int) -> list[str]:
    """The clips of the same call as the box said it before: every digit apart."""
    def spell(text, language):
        return [f"letters/{c}" if c.isalpha() else f"{language}/{c}" for c in text]
    return ["chime", "zh/qing", *spell(label, "zh"), "zh/hao", "zh/dao",
            *spell(str(counter), "zh"), "zh/hao", "zh/chuangkou", "en/ticket",
            *spell(label, "en"), "en/please_go_to_counter", *spell(str(counter), "en")]


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, str(ROOT / "tools" / "make_clips.py"), folder],
                       check=True, capture_output=True)
        for label, counter in CALLS:
            now = seconds(Path(folder), call_announcement(label, counter, ("zh", "en")).clips)
            before = seconds(Path(folder), digit_by_digit(label, counter))
            print(f"{label} to counter {counter:<3} {now:5.1f} s (digit by digit {before:4.1f} s):"
                  f" {60 / now:4.1f} calls a minute")


if __name__ == "__main__":
    main()
