"""The USB mount helper, run as root by queue-appliance-usb.service: the one thing still root's.

Once a second it looks in /sys/block for a removable disk on the USB bus (no udev needed),
probes its first partition and mounts it at MOUNT_DIR only when it holds vfat or exfat, owned
by the appliance's user and never executable; it unmounts the stick when it is pulled out and
when the helper stops. Run: python -m drivers.usb_mount [--user queue-appliance]
"""

from __future__ import annotations

import argparse
import logging
import pwd
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

from drivers.usb import MOUNT_DIR, MOUNTINFO, mounted

log = logging.getLogger("usb_mount")
# The file systems a stick may hold, with their own extra mount options (exfat has no flush);
# any other (ext4 could carry device nodes and set-uid files) is never handed to the kernel.
FILE_SYSTEMS = {"vfat": ",flush", "exfat": ""}


class StickMounter:
    """Mounts a USB stick at `mount_dir` for `uid`:`gid`, one at a time, and unmounts it when
    it goes.

    Commands go through `run` (subprocess.run's signature).
    Example: StickMounter(1001, 1001).poll()
    """

    def __init__(self, uid: int, gid: int, mount_dir: Path = MOUNT_DIR,
                 sys_block: Path = Path("/sys/block"), mountinfo: Path = MOUNTINFO,
                 run: Callable = subprocess.run):
        self.uid, self.gid, self.mount_dir = uid, gid, mount_dir
        self.sys_block, self.mountinfo, self.run = sys_block, mountinfo, run
        self.device: str | None = None    # the partition mounted
        self.refused: set[str] = set()    # not mounted, and not tried again until pulled out

    def sticks(self) -> list[str]:
        """Device names of the partitions to mount: one per removable USB disk."""
        found = []
        for disk in sorted(self.sys_block.glob("sd*")):
            if (disk / "removable").read_text().strip() != "1" or \
                    "/usb" not in str(disk.resolve()):
                continue
            partitions = sorted(p.name for p in disk.iterdir() if p.name.startswith(disk.name))
            found.append(partitions[0] if partitions else disk.name)
        return found

    def poll(self) -> None:
        sticks = self.sticks()
        if self.device and self.device not in sticks:
            log.info("usb: /dev/%s removed", self.device)
            self.unmount()
        self.refused &= set(sticks)
        waiting = [stick for stick in sticks if stick not in self.refused]
        if self.device is None and waiting:
            self.mount(waiting[0])

    def mount(self, device: str) -> None:
        probe = self._command("blkid", "-p", "-o", "value", "-s", "TYPE", f"/dev/{device}")
        kind = probe.stdout.strip() if probe.returncode == 0 else ""
        if kind not in FILE_SYSTEMS:
            log.error("usb: /dev/%s not mounted: its file system is %s, only vfat and exfat"
                      " are mounted", device, kind or "unknown (the probe failed)")
            self.refused.add(device)
            return
        options = (f"rw,nosuid,nodev,noexec,noatime,uid={self.uid},gid={self.gid},"
                   f"fmask=0177,dmask=0077{FILE_SYSTEMS[kind]}")
        self.mount_dir.mkdir(parents=True, exist_ok=True)
        if self._command("mount", "-t", kind, "-o", options, f"/dev/{device}",
                         str(self.mount_dir)).returncode != 0:
            self.refused.add(device)
            return
        self.device = device
        log.info("usb: /dev/%s (%s) mounted at %s", device, kind, self.mount_dir)

    def unmount(self) -> None:
        """Unmounts whatever is at the mount point: the stick, or one a killed helper left."""
        if mounted(self.mount_dir, self.mountinfo):
            self._command("umount", "-l", str(self.mount_dir))
        self.device = None

    def _command(self, *argv: str) -> subprocess.CompletedProcess:
        result = self.run(list(argv), capture_output=True, text=True)
        if result.returncode != 0:
            log.error("usb: %s failed: %s", " ".join(argv), result.stderr.strip())
        return result


def serve(mounter: StickMounter, interval: float = 1.0) -> int:
    """Polls until SIGTERM or SIGINT, then unmounts; returns the exit status."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    mounter.unmount()
    while not stop.wait(interval):
        try:
            mounter.poll()
        except OSError:   # a disk going away while /sys/block is read; the next poll sees it
            log.exception("usb: watching failed")
    mounter.unmount()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drivers.usb_mount",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--user", default="queue-appliance",
                        help="the user who owns the stick's files (default: queue-appliance)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)-7s %(name)s: %(message)s")
    try:
        user = pwd.getpwnam(args.user)
    except KeyError:
        parser.error(f"no user {args.user!r}")
    return serve(StickMounter(user.pw_uid, user.pw_gid))


if __name__ == "__main__":
    sys.exit(main())
