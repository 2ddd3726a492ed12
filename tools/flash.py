"""The technician's tool: from a stock board image to a running appliance, and its updates.

    python tools/flash.py build BASE.img OUT.img [--keys DIR] [--hostname NAME]
                                [--config hall.toml] [--screen] [--root-size MIB] ...
    python tools/flash.py write OUT.img DEVICE [--force] [--limit GIB]
    python tools/flash.py setup USER@BOARD [--hostname NAME] [--config hall.toml] [--screen]
    python tools/flash.py update OUT.img BUNDLE.raucb [--keys DIR] [--version V]
    python tools/flash.py keypad [PORT] [--address N] [--baudrate B] [--parity P] [--out DIR]

Every verb says what it will do, and asks before it destroys anything (--yes: never asks).
README, "Installing a box", tells the whole way."""

from __future__ import annotations

import argparse
import math
import re
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.flashing import build, disk, keypad, rauc, setup, write  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/flash.py", description=__doc__.split("\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--yes", action="store_true", help="do not ask before writing")

    made = verbs.add_parser(
        "build", parents=[common], help="an appliance image from Raspberry Pi OS Lite (arm64)")
    made.add_argument("base", type=Path, help="the stock image (.img, uncompressed)")
    made.add_argument("out", type=Path, help="the appliance's image; OUT.bmap and "
                      "OUT.stick.key (this box's key for signing sticks) go beside it")
    made.add_argument("--keys", type=Path, default=Path("signing"), help="the vendor's update "
                      "keys (made there when missing; default ./signing)")
    made.add_argument("--hostname", type=hostname, default="queue-appliance",
                      help="the box's name on the network (kept on its data partition)")
    made.add_argument("--disk", type=disk_path, default="/dev/mmcblk0",
                      help="the board's disk as Linux names it (default /dev/mmcblk0: SD card "
                      "or eMMC; /dev/sda: a USB disk)")
    made.add_argument("--config", type=Path, help="the hall's config.toml, checked and installed")
    made.add_argument("--screen", action="store_true", help="a hall screen on the HDMI output")
    made.add_argument("--wheels", type=Path, help="install Python packages from this folder "
                      "only (offline)")
    defaults = disk.Sizes()
    for name in ("boot", "root", "data"):
        made.add_argument(f"--{name}-size", type=int, default=getattr(defaults, name),
                          metavar="MIB", help=f"{name} partition in MiB "
                          f"(default {getattr(defaults, name)})")
    made.set_defaults(run=run_build)

    written = verbs.add_parser(
        "write", parents=[common], help="write an image to an SD card or eMMC, verified")
    written.add_argument("image", type=Path)
    written.add_argument("device", help="the whole card: /dev/sdX, /dev/mmcblkN")
    written.add_argument("--force", action="store_true",
                         help="write to a fixed disk, or one larger than --limit")
    written.add_argument("--limit", type=gibibytes, default=256, metavar="GIB",
                         help="refuse larger devices (default 256 GiB)")
    written.set_defaults(run=run_write)

    remote = verbs.add_parser(
        "setup", parents=[common], help="install on a running Raspberry Pi OS board over SSH")
    remote.add_argument("host", help="user@board: a user who may sudo without a password")
    remote.add_argument("--hostname", type=hostname, default="queue-appliance")
    remote.add_argument("--config", type=Path, help="the hall's config.toml (a box that has "
                        "one keeps it)")
    remote.add_argument("--screen", action="store_true", help="a hall screen on the HDMI output")
    remote.add_argument("--wheels", type=Path, help="install Python packages from this folder "
                        "only (offline)")
    remote.set_defaults(run=run_setup)

    update = verbs.add_parser(
        "update", parents=[common], help="a signed update bundle from a built image")
    update.add_argument("image", type=Path, help="an image made by build")
    update.add_argument("bundle", type=Path, help="the bundle to make (.raucb)")
    update.add_argument("--keys", type=Path, default=Path("signing"))
    update.add_argument("--version", help="the bundle's version (default: the appliance's"
                        " and the time)")
    update.set_defaults(run=run_update)

    flashed = verbs.add_parser(
        "keypad", parents=[common], help="build the keypad firmware; with PORT, write it")
    flashed.add_argument("port", nargs="?", help="the board's USB serial port (/dev/ttyACM0)")
    flashed.add_argument("--address", type=int, help="the keypad's address (its counter), "
                         "1-247; DIP switches set to anything but 0 override it")
    flashed.add_argument("--baudrate", type=int, choices=keypad.RATES)
    flashed.add_argument("--parity", choices=("none", "even", "odd"))
    flashed.add_argument("--out", type=Path, help="keep the built files in this folder")
    flashed.set_defaults(run=keypad.run)

    args = parser.parse_args(argv)

    def ask(question: str) -> bool:
        print(question)
        if args.yes:
            return True
        try:
            if input("Go on? [y/N] ").strip().lower() in ("y", "yes"):
                return True
        except EOFError:   # (no one to answer: --yes is how scripts say yes)
            print()
        print("Nothing written.")
        return False
    for signum in (signal.SIGHUP, signal.SIGTERM):   # a closed terminal cleans up as Ctrl-C does
        signal.signal(signum, lambda signum, frame: sys.exit(128 + signum))
    return args.run(args, ask)


def hostname(text: str) -> str:
    """A box's host name: one DNS label (it goes into the system, and a shell command)."""
    if not build.HOSTNAME.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r}: 1-63 lower-case letters, digits and inner"
                                         " hyphens")
    return text


def disk_path(text: str) -> str:
    """The board's disk as Linux names it (it goes into RAUC's system.conf, fstab, cmdline)."""
    if not re.fullmatch(r"/dev/[a-z][a-z0-9]{1,15}", text):
        raise argparse.ArgumentTypeError(f"{text!r}: a whole disk, such as /dev/mmcblk0")
    return text


def gibibytes(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text}: a size in GiB, more than 0")
    return value


def run_build(args: argparse.Namespace, ask) -> int:
    if not args.base.is_file():
        raise SystemExit(f"{args.base}: no such image (unpack a .img.xz first: unxz)")
    if args.out.resolve() == args.base.resolve() or args.out.is_dir():
        raise SystemExit(f"{args.out}: name a new image file, not the base or a folder")
    key = args.out.with_name(args.out.name + ".stick.key")
    old = [str(p) for p in (args.out, key) if p.exists()]
    if old and not ask(f"{' and '.join(old)} will be replaced: a box written from the old image"
                       " keeps its own key, which the new key file no longer matches."):
        return 1
    if args.config is not None:   # (checked now, not after the long steps)
        try:
            build.load_config(args.config)
        except (OSError, ValueError) as exc:
            raise SystemExit(f"--config: {exc}")
    options = build.Options(
        sizes=disk.Sizes(boot=args.boot_size, root=args.root_size, data=args.data_size),
        keys=args.keys, hostname=args.hostname, config=args.config, screen=args.screen,
        wheels=args.wheels, disk=args.disk)
    print(f"Building {args.out} from {args.base}:")
    try:
        build.build(args.base, args.out, options, say=print)
    except build.BuildFailed as exc:
        print(f"{exc}\nNothing was made: {args.out} is untouched.", file=sys.stderr)
        return 2
    size = disk.image_size(disk.layout(options.sizes)) / disk.MIB
    print(f"Made {args.out} ({size:.0f} MiB, sparse), {args.out}.bmap, and this box's key "
          f"{args.out}.stick.key (sign its sticks with it: tools/sign_stick.py).")
    return 0


def run_write(args: argparse.Namespace, ask) -> int:
    try:
        write.write_image(args.image, args.device, force=args.force, limit_gib=args.limit,
                          ask=ask)
    except write.WriteRefused as exc:
        print(exc, file=sys.stderr)
        return 1
    except write.WriteFailed as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


def run_setup(args: argparse.Namespace, ask) -> int:
    key = Path(f"{args.host.rsplit('@', 1)[-1]}.stick.key")
    if not ask(f"This installs the appliance on {args.host} (replacing one installed before, "
               "keeping its data), enables its units, and changes its config.txt and "
               f"cmdline.txt; this box's key goes to {key}."):
        return 1
    try:
        setup.setup(args.host, args.hostname, args.config, args.screen, args.wheels, key)
    except build.BuildFailed as exc:
        print(f"{exc}\nRun setup again once the cause is fixed: it starts over.",
              file=sys.stderr)
        return 2
    return 0


def run_update(args: argparse.Namespace, ask) -> int:
    if not (args.keys / rauc.CERT).exists():
        raise SystemExit(f"{args.keys}: no signing key ({rauc.CERT}, {rauc.KEY}): use the "
                         "folder build made the image's keys in")
    version = args.version or f"{metadata.version('queue-appliance')}+" \
        f"{time.strftime('%Y%m%d.%H%M', time.gmtime())}"
    if not args.image.is_file() or args.bundle.resolve() == args.image.resolve():
        raise SystemExit(f"update {args.image} {args.bundle}: an image made by build, then the "
                         "bundle to make")
    if args.bundle.exists() and not ask(f"{args.bundle} exists and will be replaced."):
        return 1
    try:
        rauc.check_image(args.image, args.keys)
        args.bundle.unlink(missing_ok=True)
        sizes = rauc.make_bundle(args.image, args.bundle, args.keys, version)
    except (OSError, ValueError, KeyError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None) or b""
        print(f"No bundle made: {exc} {detail.decode(errors='replace').strip()}",
              file=sys.stderr)
        args.bundle.unlink(missing_ok=True)
        return 2
    print(f"Made {args.bundle} ({args.bundle.stat().st_size / disk.MIB:.0f} MiB), version "
          f"{version}: put it on a stick as update/appliance.raucb (signed for the box with "
          "tools/sign_stick.py), or upload it in the back office. It fits boxes whose boot "
          f"partitions hold {sizes['boot.vfat'] / disk.MIB:.0f} MiB and root partitions "
          f"{sizes['rootfs.ext4'] / disk.MIB:.0f} MiB (build's --boot-size, --root-size); "
          "on boxes with smaller ones the installation fails, and their running system is "
          "untouched.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
