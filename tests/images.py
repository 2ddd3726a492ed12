"""Image files for the image tool's tests: a small stand-in for Raspberry Pi OS Lite, and
loop devices with their partitions (no udev here: partx makes the nodes)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from tools.flashing import disk
from tools.flashing.ext4 import make_ext4
from tools.flashing.fat import make_fat

STOCK_CONFIG = "dtparam=audio=on\ncamera_auto_detect=1\n\n[cm4]\notg_mode=1\n\n[all]\n"
STOCK_CMDLINE = ("console=serial0,115200 console=tty1 root=PARTUUID=5e3da3da-02 "
                 "rootfstype=ext4 fsck.repair=yes rootwait quiet "
                 "init=/usr/lib/raspberrypi-sys-mods/firstboot\n")
STOCK_FSTAB = ("proc            /proc           proc    defaults          0       0\n"
               "PARTUUID=5e3da3da-01  /boot/firmware  vfat    defaults          0       2\n"
               "PARTUUID=5e3da3da-02  /               ext4    defaults,noatime  0       1\n")
DPKG_STATUS = "".join(f"Package: {name}\nStatus: install ok installed\nArchitecture: arm64\n\n"
                      for name in ("base-files", "python3.11", "rauc", "rauc-service",
                                   "mtools"))


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (loop devices, as CI has)")
    if not Path("/dev/loop-control").exists():
        pytest.skip("no loop devices here (/dev/loop-control)")


def make_base(path: Path) -> None:
    """A Raspberry Pi OS Lite image as far as build reads one: a FAT boot partition with the
    firmware's files, config.txt and cmdline.txt, an ext4 root with fstab, the users, a
    python3 link, and dpkg's record of the packages the appliance needs."""
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
        root = work / "root"
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
        make_ext4(work / "root.ext4", 96 * disk.MIB, "rootfs", root)
        parts = [disk.Partition(1, "boot", 4 * disk.MIB, 64 * disk.MIB, "c"),
                 disk.Partition(2, "root", 68 * disk.MIB, 96 * disk.MIB, "83")]
        with open(path, "wb") as f:
            f.truncate(164 * disk.MIB)
        disk.make_table(path, parts, 0x5e3da3da)
        disk.insert(work / "boot.vfat", path, parts[0].start)
        disk.insert(work / "root.ext4", path, parts[1].start)


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
