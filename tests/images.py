"""Image files for the image tool's tests: a small stand-in for Raspberry Pi OS Lite, and
loop devices with their partitions (no udev here: partx makes the nodes)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from drivers.fat import Fat
from drivers.tryboot import read_autoboot
from tools.flashing import disk, rauc
from tools.flashing.ext4 import make_ext4
from tools.flashing.fat import make_fat

ROOT = Path(__file__).resolve().parent.parent

STOCK_CONFIG = "dtparam=audio=on\ncamera_auto_detect=1\n\n[cm4]\notg_mode=1\n\n[all]\n"
STOCK_CMDLINE = ("console=serial0,115200 console=tty1 root=PARTUUID=5e3da3da-02 "
                 "rootfstype=ext4 fsck.repair=yes rootwait quiet "
                 "init=/usr/lib/raspberrypi-sys-mods/firstboot\n")
STOCK_FSTAB = ("proc            /proc           proc    defaults          0       0\n"
               "PARTUUID=5e3da3da-01  /boot/firmware  vfat    defaults          0       2\n"
               "PARTUUID=5e3da3da-02  /               ext4    defaults,noatime  0       1\n")
DPKG_STATUS = "".join(f"Package: {name}\nStatus: install ok installed\nArchitecture: arm64\n\n"
                      for name in ("base-files", "python3.11", "rauc", "rauc-service",
                                   "mtools", "openssl", "fonts-unifont",
                                   "libnss-myhostname"))


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (loop devices, as CI has)")
    if not Path("/dev/loop-control").exists():
        pytest.skip("no loop devices here (/dev/loop-control)")


def make_base(path: Path, root: Path | None = None, root_mib: int = 96) -> None:
    """A Raspberry Pi OS Lite image as far as build reads one: a FAT boot partition with the
    firmware's files, config.txt and cmdline.txt, and an ext4 root: the folder `root` (a real
    arm64 Debian, tests/test_image_arm64.py), else a stand-in with fstab, the users, a python3
    link, and dpkg's record of the packages the appliance needs."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        boot = work / "boot"
        (boot / "overlays").mkdir(parents=True)
        (boot / "config.txt").write_text(STOCK_CONFIG)
        (boot / "cmdline.txt").write_text(STOCK_CMDLINE)
        for name in ("start4.elf", "fixup4.dat", "kernel8.img", "bcm2711-rpi-4-b.dtb",
                     "overlays/disable-bt.dtbo"):
            (boot / name).write_bytes(os.urandom(4096))
        (boot / "firstrun.sh").write_text("#!/bin/bash\n")
        make_fat(work / "boot.vfat", 64 * disk.MIB, "bootfs").copy_in(boot)
        if root is None:
            root = stand_in_root(work / "root")
        make_ext4(work / "root.ext4", root_mib * disk.MIB, "rootfs", root)
        parts = [disk.Partition(1, "boot", 4 * disk.MIB, 64 * disk.MIB, "c"),
                 disk.Partition(2, "root", 68 * disk.MIB, root_mib * disk.MIB, "83")]
        with open(path, "wb") as f:
            f.truncate(parts[1].end)
        disk.make_table(path, parts, 0x5e3da3da)
        disk.insert(work / "boot.vfat", path, parts[0].start)
        disk.insert(work / "root.ext4", path, parts[1].start)


def stand_in_root(root: Path) -> Path:
    """The few files of Raspberry Pi OS that build reads."""
    for folder in ("etc/systemd/system/multi-user.target.wants", "usr/bin", "sbin",
                   "var/lib/dpkg", "proc", "sys", "dev", "mnt", "run"):
        (root / folder).mkdir(parents=True)
    (root / "etc/fstab").write_text(STOCK_FSTAB)
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\naudio:x:29:\ndialout:x:20:\n")
    (root / "etc/shadow").write_text("root:*:19000:0:99999:7:::\n")
    (root / "etc/gshadow").write_text("root:*::\naudio:*::\ndialout:*::\n")
    (root / "etc/hostname").write_text("raspberrypi\n")
    (root / "usr/bin/python3").symlink_to("python3.11")
    (root / "var/lib/dpkg/status").write_text(DPKG_STATUS)
    return root


SMALL = disk.Sizes(autoboot=8, boot=64, root=192, data=32)


@contextmanager
def attached(image: Path) -> Iterator[str]:
    """`image` on a loop device with its partitions' nodes: the device's path."""
    device = subprocess.run(["losetup", "-f", "--show", str(image)], check=True,
                            capture_output=True, text=True).stdout.strip()
    try:
        subprocess.run(["partx", "-a", device], capture_output=True)
        yield device
    finally:
        subprocess.run(["partx", "-d", device], capture_output=True)
        subprocess.run(["losetup", "-d", device], capture_output=True)


def dump(ext4: Path, folder: str, out: Path) -> Path:
    """The folder `folder` of the ext4 file system in `ext4`, copied out under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["debugfs", "-R", f"rdump {folder} {out}", str(ext4)], check=True,
                   capture_output=True)
    return out / Path(folder).name


BUS = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path={path}</listen>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/>
<allow receive_sender="*"/></policy></busconfig>
"""


class Board:
    """The built image on a loop device as a board's card, RAUC running on it as on the board
    (its system.conf from the image tool, its bootloader backend drivers/tryboot.py, which
    reads the booted slot from the kernel's command line: the one the firmware started)."""

    def __init__(self, device: str, folder: Path, keys: Path):
        self.device, self.folder = device, folder
        devices = {name: f"{device}p{n}" for name, n in (
            ("autoboot", 1), ("boot-a", 2), ("boot-b", 3), ("root-a", 5), ("root-b", 6),
            ("data", 7))}
        backend = folder / "backend"
        (folder / "cmdline").write_text("console=tty1\n")
        backend.write_text(
            f"#!/bin/sh\ncd {ROOT}\nexec unshare --mount sh -c 'mount --bind {folder}/cmdline "
            f"/proc/cmdline && exec \"$0\" -m drivers.tryboot --conf {folder}/system.conf "
            f"\"$@\"' {sys.executable} \"$@\"\n")
        backend.chmod(0o755)
        (folder / "data").mkdir()
        (folder / "system.conf").write_text(rauc.system_conf(
            devices, backend=str(backend), post_install=None,
            keyring=str(keys / rauc.CA), data_directory=str(folder / "data")))
        (folder / "bus.conf").write_text(BUS.format(path=folder / "bus"))
        self.bus = subprocess.Popen(["dbus-daemon", "--nofork", "--config-file",
                                     str(folder / "bus.conf")])
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=f"unix:path={folder / 'bus'}")
        self.service: subprocess.Popen | None = None
        self.tryboot = False

    def power_on(self) -> str:
        """The firmware picks the boot partition from autoboot.txt ([tryboot] once after a
        reboot "0 tryboot", [all] otherwise); RAUC starts on that slot. Returns its name."""
        committed, trial = read_autoboot(Fat(f"{self.device}p1").read("autoboot.txt"))
        booted = {2: "A", 3: "B"}[trial if self.tryboot else committed]
        self.tryboot = False
        (self.folder / "cmdline").write_text(f"console=tty1 rauc.slot={booted}\n")
        self.stop()
        (self.folder / "mnt").mkdir(exist_ok=True)
        self.service = subprocess.Popen(
            ["rauc", "service", f"--conf={self.folder / 'system.conf'}",
             f"--mount={self.folder / 'mnt'}", f"--override-boot-slot={booted}"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while self.rauc("status").returncode and time.monotonic() < deadline:
            time.sleep(0.1)
        return booted

    def reboot_on_trial(self) -> None:
        """What the image's post-install handler does: reboot "0 tryboot"."""
        self.tryboot = True

    def rauc(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["rauc", *args], env=self.env, capture_output=True, text=True,
                              timeout=120)

    def cmdline(self, slot: str) -> str:
        return Fat(f"{self.device}p{2 if slot == 'A' else 3}").read("cmdline.txt").decode()

    def slot_b_and_autoboot(self) -> list[bytes]:
        """The first MiB of slot B's partitions, and autoboot.txt."""
        found = []
        for number in (3, 6):
            with open(f"{self.device}p{number}", "rb") as partition:
                found.append(partition.read(disk.MIB))
        return found + [Fat(f"{self.device}p1").read("autoboot.txt")]

    def stop(self) -> None:
        if self.service is not None:
            self.service.terminate()
            self.service.wait(10)
            self.service = None
