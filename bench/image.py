"""The image tool's figures: build time and size, update bundle size and install time, and the
appliance's share of a board's boot against the seed's 9 s.

The base is tests/images.py's stand-in for Raspberry Pi OS Lite (a stock image is 2.7 GB and
not on this machine), so the build's own work is measured, with the appliance's real aarch64
wheels (from pip's cache after the first run) but a small root. The update is installed by
RAUC on loop devices, as tests/test_image.py does (needs root). Boot: what runs here is
measured (the appliance from process start to READY, bench/boot.py's figure); the firmware,
kernel and systemd stages are estimates, with their sources.
Usage: sudo .venv/bin/python bench/image.py [--root-size MIB]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from bench.boot import boot_once  # noqa: E402
from images import Board, attached, make_base  # noqa: E402
from tools.flashing import build, disk, rauc  # noqa: E402
from tools.flashing.write import read_bmap  # noqa: E402

SEED_BOOT = 9.0   # seconds from power to tickets, the seed's "qqh" class
# Stages before the appliance: not measurable here (no board); each with its source.
ESTIMATES = (
    ("firmware and bootloader (power to kernel)", 2.0,
     "1.5-2 s at least, himeshp.blogspot.com/2018/08/fast-boot-with-raspberry-pi.html; a "
     "Pi 4 EEPROM adds its own SD/USB probing"),
    ("kernel to userspace", 2.7,
     "2.70 s before userspace on stock Raspbian, juju.nz/michaelh/post/2017/piboot/"),
    ("systemd to local-fs.target and /data (the unit's ordering)", 2.0,
     "a Pi Zero reached local-fs 4.7 s after userspace began, same source; a Pi 4's four "
     "cores are several times faster"),
)
PI_SLOWER = 6   # a Pi 4's Cortex-A72 against this machine, for Python start-up (estimate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root-size", type=int, default=1024, metavar="MIB")
    args = parser.parse_args()
    sizes = disk.Sizes(boot=64, root=args.root_size, data=64)
    with tempfile.TemporaryDirectory(prefix="bench-image-", dir="/var/tmp") as folder:
        work = Path(folder)
        make_base(work / "base.img")
        started = time.perf_counter()
        build.build(work / "base.img", work / "out.img",
                    build.Options(sizes=sizes, keys=work / "keys"), say=lambda _: None)
        built = time.perf_counter() - started
        image = work / "out.img"
        bmap = read_bmap(image.with_name(image.name + ".bmap"))
        print(f"build: {built:.1f} s; image {image.stat().st_size / disk.MIB:.0f} MiB "
              f"(sparse), {bmap.mapped / disk.MIB:.0f} MiB written to a card "
              f"(the bmap's mapped blocks)")
        started = time.perf_counter()
        rauc.make_bundle(image, work / "update.raucb", work / "keys", "bench")
        print(f"update bundle: {(work / 'update.raucb').stat().st_size / disk.MIB:.0f} MiB, "
              f"made in {time.perf_counter() - started:.1f} s (root slot {args.root_size} MiB)")
        install(work, image)
    boot_budget()


def install(work: Path, image: Path) -> None:
    card = work / "card.img"
    subprocess.run(["cp", "--sparse=always", str(image), str(card)], check=True)
    with attached(card) as device:
        board = Board(device, work, work / "keys")
        try:
            board.power_on()
            started = time.perf_counter()
            done = board.rauc("install", str(work / "update.raucb"))
            took = time.perf_counter() - started
            board.reboot_on_trial()
            trial = board.power_on()
            started = time.perf_counter()
            board.rauc("status", "mark-good")
            marked = time.perf_counter() - started
            print(f"update install on loop devices: {took:.1f} s "
                  f"({'ok' if done.returncode == 0 else done.stderr.strip()}); trial boot "
                  f"on {trial}, marked good in {marked * 1000:.0f} ms")
        finally:
            board.stop()
            board.bus.terminate()


def boot_budget() -> None:
    with tempfile.TemporaryDirectory() as folder:
        runs = [boot_once(Path(folder))[0] for _ in range(5)]
    here = statistics.median(runs)
    print(f"\nboot budget, power to READY (seed: {SEED_BOOT:.0f} s):")
    total = 0.0
    for stage, seconds, source in ESTIMATES:
        total += seconds
        print(f"  {stage:58} ~{seconds:.1f} s  estimate: {source}")
    board = here * PI_SLOWER
    total += board
    print(f"  {'the appliance, process start to READY':58} {here:.2f} s here, measured; "
          f"~{board:.1f} s on a Pi 4 (x{PI_SLOWER}, estimate)")
    print(f"  {'total':58} ~{total:.1f} s, {SEED_BOOT - total:+.1f} s against the seed")


if __name__ == "__main__":
    main()
