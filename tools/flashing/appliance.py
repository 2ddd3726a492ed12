"""What goes onto a board's root file system for the appliance, whether into an image (build:
an Ext4) or a folder sent to a running board (setup: a Folder): the appliance in its venv,
its units, users and system settings, and its lines of config.txt."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Protocol

ROOT = Path(__file__).resolve().parents[2]
IMAGE_FILES = ROOT / "config" / "image"
VENV = "/opt/queue-appliance/.venv"
UNITS = ("queue-appliance.service", "queue-appliance-usb.service")
KIOSK_UNIT = "queue-hall-screen.service"
KIOSK_PACKAGES = ("xserver-xorg", "xserver-xorg-legacy", "xinit", "chromium",
                  "fonts-wqy-zenhei")
# cmdline.txt: a serial console would talk on the RS-485 line's UART.
SERIAL_CONSOLES = ("console=serial0", "console=ttyAMA0", "console=ttyS0")
# config.txt: the SPI bus (LED matrix), the UART on GPIO 14/15 for the RS-485 line with
# Bluetooth moved off it, the hardware watchdog.
MARK = "# -- queue appliance (tools/flash.py) --"
CONFIG_TXT = f"""
{MARK}
[all]
dtparam=spi=on
enable_uart=1
dtoverlay=disable-bt
dtparam=watchdog=on
"""


class Tree(Protocol):
    def write(self, name: str, data: bytes, mode: int = 0o644) -> None: ...
    def symlink(self, name: str, target: str) -> None: ...
    def copy_tree(self, local: Path, name: str) -> None: ...


class Folder:
    """A root file system's files gathered in a local folder."""

    def __init__(self, path: Path):
        self.path = path

    def _at(self, name: str) -> Path:
        path = self.path / PurePosixPath(name).relative_to("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write(self, name: str, data: bytes, mode: int = 0o644) -> None:
        path = self._at(name)
        path.write_bytes(data)
        path.chmod(mode)

    def symlink(self, name: str, target: str) -> None:
        path = self._at(name)
        path.unlink(missing_ok=True)
        path.symlink_to(target)

    def copy_tree(self, local: Path, name: str) -> None:
        shutil.copytree(local, self._at(name), symlinks=True, dirs_exist_ok=True)


def config_txt(text: str) -> str:
    """config.txt with the appliance's lines at its end (once, whatever ran before)."""
    return text.split(MARK)[0].rstrip("\n") + "\n" + CONFIG_TXT


def without_serial_console(cmdline: str) -> list[str]:
    """cmdline.txt's words, but a serial console's."""
    return [w for w in cmdline.split() if not w.startswith(SERIAL_CONSOLES)]


def install(tree: Tree, site: Path, python: str, wheels: Path | None) -> None:
    """The appliance and its libraries as aarch64 wheels (no emulation), in a venv that also
    sees Debian's packages (lgpio and spidev, compiled for the board by Raspberry Pi OS)."""
    wheelhouse = site.with_name("wheels")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    offline = ["--no-index", "--find-links", str(wheels)] if wheels is not None else []
    source = site.with_name("source")   # (a copy: setuptools leaves build/ in the tree)
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".*", "var", "build", "*.egg-info", "__pycache__", "tests", "bench", "docs"))
    subprocess.run(pip + ["wheel", "--no-deps", *offline, "-w", str(wheelhouse), str(source)],
                   check=True, capture_output=True)
    ours = next(wheelhouse.glob("queue_appliance-*.whl"))
    glibc = [f"manylinux_2_{n}_aarch64" for n in range(36, 16, -1)]
    command = pip + ["install", "--target", str(site), "--only-binary=:all:",
                     "--implementation", "cp", "--python-version", python,
                     *(a for p in (*glibc, "manylinux2014_aarch64", "linux_aarch64")
                       for a in ("--platform", p)), str(ours)]
    if python != "%d.%d" % sys.version_info[:2]:
        command.append("--no-compile")   # (bytecode is per version: the board makes its own)
    subprocess.run(command + offline, check=True, capture_output=True)
    shutil.rmtree(site / "bin", ignore_errors=True)   # (the build machine's console scripts)
    tree.copy_tree(site, f"{VENV}/lib/python{python}/site-packages")
    tree.write(f"{VENV}/pyvenv.cfg", f"home = /usr/bin\ninclude-system-site-packages = true\n"
               f"version = {python}\n".encode())
    tree.symlink(f"{VENV}/bin/python", f"/usr/bin/python{python}")
    tree.symlink(f"{VENV}/bin/python3", "python")
    tree.write(f"{VENV}/bin/queue-appliance", (
        f"#!{VENV}/bin/python\nimport sys\nfrom firmware.boot import main\n"
        "sys.exit(main())\n").encode(), 0o755)


def system_files(tree: Tree, screen: bool) -> tuple[str, ...]:
    """The units (returned: the caller enables them), the users' definition, the journal in
    memory and the hardware watchdog fed by systemd."""
    units = UNITS + ((KIOSK_UNIT,) if screen else ())
    for unit in units:
        tree.write(f"/etc/systemd/system/{unit}", (ROOT / "config" / unit).read_bytes())
    tree.write("/usr/lib/sysusers.d/queue-appliance.conf",
               (ROOT / "config" / "queue-appliance.sysusers").read_bytes())
    tree.write("/etc/systemd/journald.conf.d/queue-appliance.conf",
               (IMAGE_FILES / "journald.conf").read_bytes())
    tree.write("/etc/systemd/system.conf.d/queue-appliance.conf",
               (IMAGE_FILES / "watchdog.conf").read_bytes())
    return units
