"""`build`: from a stock Raspberry Pi OS Lite image (arm64), the appliance's image.

Nothing is mounted but the root file system, and that only when Debian packages must be
added (apt in a chroot, under qemu-user-static on a PC): the FAT partitions are read and
written with mtools, the ext4 ones with debugfs, the partition table with sfdisk. The image
is made as OUT.partial and renamed only when complete, with OUT.bmap beside it.
"""

from __future__ import annotations

import os
import platform
import random
import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from config import load_config
from config.pin_hashing import keepable
from drivers.fat import Fat
from drivers.tryboot import NAME as AUTOBOOT, autoboot_text
from firmware.signature import KEY_NAME, make_key
from tools.flashing import appliance, disk, rauc
from tools.flashing.appliance import IMAGE_FILES, ROOT
from tools.flashing.ext4 import Ext4, check_and_resize, make_ext4
from tools.flashing.fat import make_fat
from tools.make_clips import main as make_clips

# What the appliance needs of Debian on the board: updates (RAUC, and mtools for FAT without
# mounting it), the back office's own certificate (openssl), Chinese on tickets and LEDs, and
# the box's own host name resolved whatever /etc/hosts says (it is set from /data).
PACKAGES = ("rauc", "rauc-service", "mtools", "openssl", "fonts-unifont", "libnss-myhostname")
LIB = "/usr/lib/queue-appliance"
DEVICES = (("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
           ("urandom", 1, 9), ("tty", 5, 0))   # (character devices: name, major, minor)
# Units only an image has (its host name from /data; updates by RAUC, through the root helper
# that its path unit starts): enabled, and the helper's service, which the path unit starts.
IMAGE_UNITS = ("queue-appliance-hostname.service", "queue-appliance-update.path")
STARTED_UNITS = ("queue-appliance-update.service",)
HOSTNAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")   # one DNS label (RFC 1123)
# cmdline.txt words the appliance sets itself, or that would undo its layout: RPi OS's
# first-boot partition resizing and scripts (and the serial console, as on every board).
DROPPED_WORDS = ("rw", "ro", "rootwait", "resize", "quiet")
DROPPED_PREFIXES = ("root=", "rootfstype=", "init=", "rauc.slot=", "systemd.run",
                    "fsck.repair=")


class BuildFailed(Exception):
    """A step failed: what was being done, and why."""


@dataclass
class Options:
    sizes: disk.Sizes = field(default_factory=disk.Sizes)
    keys: Path = Path("signing")           # the vendor's RAUC keys (made when missing)
    hostname: str = "queue-appliance"      # the box's (on /data: an update keeps it)
    disk: str = "/dev/mmcblk0"             # the board's disk (SD card, eMMC), as Linux names it
    config: Path | None = None             # the hall's config.toml, checked, for /data
    screen: bool = False                   # the hall screen on HDMI (queue-hall-screen)
    wheels: Path | None = None             # a folder of wheels to install from, offline


def build(base: Path, out: Path, options: Options, say: Callable[[str], None] = print) -> None:
    partial = out.with_name(out.name + ".partial")
    work = Path(tempfile.mkdtemp(prefix="build-", dir=out.parent))
    steps = Steps(say)
    try:
        with steps("reading the base image"):
            fat_part, root_part = base_partitions(base)
        disk_id = random.SystemRandom().getrandbits(32) or 1
        parts = disk.layout(options.sizes)
        devices = rauc.on_disk(options.disk)
        with steps("boot partition (config.txt, cmdline.txt)"):
            boot = work / "boot-a.vfat"
            make_boot(Fat(base, fat_part[0]), boot, options.sizes.boot, work / "boot",
                      root=devices["root-a"])
            make_fat(work / "autoboot.vfat", options.sizes.autoboot * disk.MIB,
                     "AUTOBOOT").write(AUTOBOOT, autoboot_text(2, 3))
        with steps("root file system: copied and resized"):
            root = work / "root-a.ext4"
            disk.extract(base, *root_part, root)
            check_and_resize(root, options.sizes.root * disk.MIB)
        fs = Ext4(root)
        try:
            python = python_version(fs)
            missing = missing_packages(fs, PACKAGES + (appliance.KIOSK_PACKAGES
                                                       if options.screen else ()))
            if missing:
                with steps(f"Debian packages: {' '.join(missing)} (apt in the image)"):
                    install_packages(root, missing)
            with steps(f"the appliance and its libraries for Python {python} on aarch64"):
                appliance.install(fs, work / "site", python, options.wheels)
            with steps("system settings (read-only root, /data, journal, users, units)"):
                if not (options.keys / rauc.CA).exists():
                    say(f"  no vendor keys in {options.keys}: making a new CA and signing key"
                        " (keep them: every update must be signed with them)")
                    rauc.make_keys(options.keys)
                configure(fs, options, devices)
                fs.commit()
        finally:
            fs.close()
        with steps("data partition (this box's key, the hall's configuration, the clips)"):
            data = work / "data.ext4"
            key = make_data(work / "data", data, options.sizes.data * disk.MIB, options.config,
                            options.hostname)
        with steps("the image"):
            with open(partial, "wb") as f:
                f.truncate(disk.image_size(parts))
            disk.make_table(partial, parts, disk_id)
            for name, source in (("autoboot", work / "autoboot.vfat"), ("boot-a", boot),
                                 ("root-a", root), ("data", data)):
                disk.insert(source, partial, disk.partition(parts, name).start)
        with steps("the block map (.bmap)"):
            bmap = out.with_name(out.name + ".bmap")
            subprocess.run(["bmaptool", "create", "-o", str(partial) + ".bmap", str(partial)],
                           check=True, capture_output=True)
            os.replace(str(partial) + ".bmap", bmap)
            os.replace(partial, out)
            copy_secret(key, out.with_name(out.name + ".stick.key"))
    except BaseException:
        partial.unlink(missing_ok=True)
        Path(str(partial) + ".bmap").unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def copy_secret(source: Path, target: Path) -> None:
    """`source` copied to `target`, readable by its owner alone from the start."""
    target.unlink(missing_ok=True)
    with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
        f.write(source.read_bytes())


class Steps:
    """Numbered steps, said as they start; a failure raises BuildFailed naming its step."""

    def __init__(self, say: Callable[[str], None]):
        self.say, self.number = say, 0

    @contextmanager
    def __call__(self, what: str) -> Iterator[None]:
        self.number += 1
        self.say(f"[{self.number}] {what}")
        try:
            yield
        except (OSError, ValueError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", None)
            if isinstance(detail, bytes):
                detail = detail.decode(errors="replace")
            raise BuildFailed(f"step {self.number} ({what}) failed: {exc}"
                              + (f"\n{detail.strip()}" if detail else "")) from exc


def base_partitions(base: Path) -> tuple[tuple[int, int], tuple[int, int]]:
    """(start, size) in bytes of the base image's FAT boot partition and its root."""
    table = disk.read_table(base)
    found = {"fat": None, "root": None}
    for part in table.get("partitions", []):
        span = (part["start"] * disk.SECTOR, part["size"] * disk.SECTOR)
        kind = part["type"].lower()
        if kind in ("b", "c", "e", "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7") and not found["fat"]:
            found["fat"] = span
        elif kind in ("83", "0fc63daf-8483-4772-8e79-3d69d8477de4") and not found["root"]:
            found["root"] = span
    if not all(found.values()):
        raise ValueError(f"{base} is no Raspberry Pi OS image: it needs a FAT boot partition "
                         "and a Linux root partition")
    return found["fat"], found["root"]


def make_boot(base: Fat, out: Path, size_mib: int, folder: Path, root: str) -> None:
    base.copy_out(folder)
    config = folder / "config.txt"
    if not config.exists():
        raise ValueError("the base image's boot partition has no config.txt")
    config.write_text(appliance.config_txt(config.read_text()))
    cmdline = folder / "cmdline.txt"
    if not cmdline.exists():
        raise ValueError("the base image's boot partition has no cmdline.txt")
    words = [w for w in appliance.without_serial_console(cmdline.read_text())
             if w not in DROPPED_WORDS and not w.startswith(DROPPED_PREFIXES)]
    cmdline.write_text(" ".join(words + [f"root={root}", "rootfstype=ext4", "ro", "rootwait",
                                         f"init={LIB}/overlay-init", "rauc.slot=A"]) + "\n")
    for name in ("firstrun.sh", "userconf.txt", "ssh", "wpa_supplicant.conf"):
        (folder / name).unlink(missing_ok=True)   # Imager's first-boot customisations
    make_fat(out, size_mib * disk.MIB, "BOOT").copy_in(folder)


def python_version(fs: Ext4) -> str:
    """The base's Python (3.11 in Raspberry Pi OS 12, 3.13 in 13), by its library folder."""
    target = fs.link_target("/usr/bin/python3")
    found = re.fullmatch(r"(?:/usr/bin/)?python(3\.\d+)", target or "")
    if not found:
        raise ValueError("the base image has no /usr/bin/python3 -> python3.N")
    return found[1]


def missing_packages(fs: Ext4, wanted: tuple[str, ...]) -> list[str]:
    status = (fs.read("/var/lib/dpkg/status") or b"").decode(errors="replace")
    installed = {m[1] for m in re.finditer(r"^Package: (\S+)\nStatus: install ok installed",
                                           status, re.M)}
    return [name for name in wanted if name not in installed]


def install_packages(root: Path, packages: list[str]) -> None:
    """apt-get install in the image's root, mounted (this step alone needs root), under
    qemu-user-static on a PC; services are not started."""
    if os.geteuid() != 0:
        raise OSError("adding Debian packages to the image needs root (sudo)")
    if platform.machine() != "aarch64" and not Path(
            "/proc/sys/fs/binfmt_misc/qemu-aarch64").exists():
        raise OSError("running the image's arm64 apt needs qemu-user-static (apt install "
                      "qemu-user-static binfmt-support)")
    mount = Path(tempfile.mkdtemp(prefix="root-"))
    mounted = []
    try:
        subprocess.run(["mount", "-o", "loop", str(root), str(mount)], check=True,
                       capture_output=True)
        mounted.append(mount)
        # The image's programs get their own /proc and /sys, and a /dev of the few devices
        # apt needs: none of this PC's disks.
        for kind, name in (("proc", "proc"), ("sysfs", "sys"), ("tmpfs", "dev")):
            subprocess.run(["mount", "-t", kind, "-o", "nosuid,noexec", kind, str(mount / name)],
                           check=True)
            mounted.append(mount / name)
        for name, major, minor in DEVICES:
            os.mknod(mount / "dev" / name, 0o20666, os.makedev(major, minor))
            os.chmod(mount / "dev" / name, 0o666)   # (past the umask: apt runs as _apt too)
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
            (mount / "dev" / name).symlink_to(target)
        resolv = mount / "etc/resolv.conf"
        saved = resolv.read_bytes() if resolv.is_file() and not resolv.is_symlink() else None
        resolv.unlink(missing_ok=True)
        shutil.copyfile("/etc/resolv.conf", resolv)
        policy = mount / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")   # no service starts in the chroot
        policy.chmod(0o755)
        try:
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            for command in (["apt-get", "update"], ["apt-get", "install", "-y",
                                                    "--no-install-recommends", *packages],
                            ["apt-get", "clean"]):
                subprocess.run(["chroot", str(mount), *command], check=True, env=env,
                               capture_output=True)
        finally:
            policy.unlink()
            resolv.unlink()
            if saved is not None:
                resolv.write_bytes(saved)
    finally:
        for path in reversed(mounted):
            subprocess.run(["umount", str(path)], capture_output=True)
        mount.rmdir()


def configure(fs: Ext4, options: Options, devices: dict[str, str]) -> None:
    """Everything of the system the appliance needs, in the root file system."""
    fstab = [line for line in (fs.read("/etc/fstab") or b"").decode().splitlines()
             if not re.match(r"\s*\S+\s+(/|/boot|/boot/firmware)\s", line)]
    fstab.append(f"{devices['data']}  /data  ext4  defaults,noatime  0  2")
    fs.write("/etc/fstab", ("\n".join(fstab) + "\n").encode())
    fs.mkdirs("/data")
    fs.write("/etc/hostname", b"queue-appliance\n")   # (until /data/hostname is read)
    for name, target in (("overlay-init", f"{LIB}/overlay-init"),
                         ("rauc-tryboot", f"{LIB}/rauc-tryboot"),
                         ("rauc-post-install", f"{LIB}/rauc-post-install")):
        fs.write(target, (IMAGE_FILES / name).read_bytes(), 0o755)
    fs.write("/etc/dbus-1/system.d/queue-appliance-rauc.conf",
             (IMAGE_FILES / "rauc-dbus.conf").read_bytes())
    fs.write("/etc/rauc/system.conf", rauc.system_conf(devices).encode())
    fs.write(f"/etc/rauc/{rauc.CA}", (options.keys / rauc.CA).read_bytes())
    for unit in IMAGE_UNITS + STARTED_UNITS:
        fs.write(f"/etc/systemd/system/{unit}", (ROOT / "config" / unit).read_bytes())
    for unit in appliance.system_files(fs, options.screen) + IMAGE_UNITS:
        fs.symlink(f"/etc/systemd/system/multi-user.target.wants/{unit}",
                   f"/etc/systemd/system/{unit}")
    add_users(fs)
    # Raspberry Pi OS's first-boot user wizard would wait on the console for ever.
    fs.symlink("/etc/systemd/system/userconfig.service", "/dev/null")


def add_users(fs: Ext4) -> None:
    """The appliance's users and groups, made now by systemd-sysusers on a copy of /etc (the
    read-only root could not keep ids made at each boot)."""
    with tempfile.TemporaryDirectory() as folder:
        etc = Path(folder, "etc")
        etc.mkdir()
        for name in ("passwd", "group", "shadow", "gshadow"):
            data = fs.read(f"/etc/{name}")
            if data is not None:
                (etc / name).write_bytes(data)
        subprocess.run(["systemd-sysusers", f"--root={folder}",
                        str(ROOT / "config" / "queue-appliance.sysusers")], check=True,
                       capture_output=True)
        for name, mode in (("passwd", 0o644), ("group", 0o644), ("shadow", 0o640),
                           ("gshadow", 0o640)):
            if (etc / name).exists():
                fs.write(f"/etc/{name}", (etc / name).read_bytes(), mode)


def make_data(folder: Path, out: Path, size: int, config: Path | None, hostname: str) -> Path:
    """The data partition: what is this box's, not its system's (an update replaces the root
    file system, never this): its host name, /data/queue with its installation key, the
    announcement clips (and the hall's configuration); returns the key's file."""
    queue = folder / "queue"
    queue.mkdir(parents=True, mode=0o700)
    (folder / "rauc").mkdir()
    (folder / "hostname").write_text(hostname + "\n")
    make_key(queue)
    make_clips(queue / "clips")   # (espeak-ng's, until a stick brings recorded ones)
    if config is not None:   # checked as the box checks it, and kept with its PINs hashed
        (queue / "config.toml").write_bytes(keepable(load_config(config)).data)
    make_ext4(out, size, "data", folder)
    return queue / KEY_NAME
