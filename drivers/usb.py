"""USB sticks: the one the mount helper mounted, noticed and announced to the loop by events.

The appliance runs unprivileged and mounts nothing: drivers.usb_mount, a helper run as root by
its own unit, mounts a stick's vfat or exfat file system at MOUNT_DIR for the appliance's user.
The real watcher reads the mount table once a second and posts when that mount comes and goes.
The simulated one watches a folder on the PC: each sub-folder that appears there is a stick.
"""

from __future__ import annotations

import logging
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from drivers.events import UsbInserted, UsbRemoved

log = logging.getLogger(__name__)
# Inside a folder only root may write, so the unprivileged appliance cannot swap the mount
# point for a symlink and have root mount a stick over something else.
MOUNT_DIR = Path("/run/queue-appliance-usb/stick")
MOUNTINFO = Path("/proc/self/mountinfo")


def mounted(path: Path, mountinfo: Path = MOUNTINFO) -> bool:
    """Whether `path` is a mount point, by the kernel's table (needs no access to `path`)."""
    for line in mountinfo.read_text().splitlines():
        fields = line.split(" ")
        # the mount point, with space, tab, newline and backslash escaped in octal (\040)
        if len(fields) > 4 and re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)),
                                      fields[4]) == str(path):
            return True
    return False


class _Poller:
    """Calls `self._poll()` every `interval` seconds on its own thread until close()."""

    def __init__(self, post: Callable, clock: Callable[[], float], interval: float):
        self.post, self.clock, self.interval = post, clock, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=type(self).__name__, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._poll()
            except Exception:
                log.exception("usb: watching failed")

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


class UsbSticks(_Poller):
    """The stick the mount helper mounts at `mount_dir`: posts UsbInserted / UsbRemoved.

    The helper (drivers.usb_mount, as root) mounts a vfat or exfat stick there read-write for
    this process's user, nosuid, nodev and noexec; whoever writes to it fsyncs what it wrote.
    Example: UsbSticks(MOUNT_DIR, appliance.post, time.time).start()
    """

    def __init__(self, mount_dir: Path, post: Callable, clock: Callable[[], float],
                 interval: float = 1.0, mountinfo: Path = MOUNTINFO):
        super().__init__(post, clock, interval)
        self.mount_dir, self.mountinfo = mount_dir, mountinfo
        self.present = False

    def _poll(self) -> None:
        present = mounted(self.mount_dir, self.mountinfo)
        if present != self.present:
            self.present = present
            event = UsbInserted if present else UsbRemoved
            self.post(event(str(self.mount_dir), self.clock()))

    @contextmanager
    def writable(self, path: Path) -> Iterator[Path]:
        """The stick mounted at `path` (the mount folder), already writable for this user."""
        if path != self.mount_dir or not mounted(self.mount_dir, self.mountinfo):
            raise OSError(f"no USB stick mounted at {path}")
        yield self.mount_dir


class SimUsbSticks(_Poller):
    """A folder whose sub-folders are sticks: `mkdir var/usb/stick` plugs one in."""

    def __init__(self, root: Path, post: Callable, clock: Callable[[], float],
                 interval: float = 1.0):
        super().__init__(post, clock, interval)
        self.root = root
        self.present: set[Path] = set()
        root.mkdir(parents=True, exist_ok=True)   # where a user plugs a stick in: there

    def _poll(self) -> None:
        now = {p for p in self.root.iterdir() if p.is_dir()}
        for path in sorted(self.present - now):
            self.post(UsbRemoved(str(path), self.clock()))
        for path in sorted(now - self.present):
            self.post(UsbInserted(str(path), self.clock()))
        self.present = now

    @contextmanager
    def writable(self, path: Path) -> Iterator[Path]:
        """A folder stick needs no remounting."""
        if not path.is_dir():
            raise OSError(f"no USB stick at {path}")
        yield path
