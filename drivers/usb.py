"""USB sticks: noticed when plugged in, mounted read-only, announced to the loop by events.

The real watcher reads /sys/block once a second (no udev daemon needed): a removable disk on
the USB bus gets its first partition mounted read-only at the configured folder. The simulated
one watches a folder on the PC: each sub-folder that appears there is a stick.
"""

from __future__ import annotations

import logging
import subprocess
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from drivers.events import UsbInserted, UsbRemoved

log = logging.getLogger(__name__)


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
    """Mounts a USB stick read-only at `mount_dir` and posts UsbInserted / UsbRemoved.

    Example: UsbSticks(Path("/run/queue-appliance/usb"), appliance.post, time.time).start()
    """

    def __init__(self, mount_dir: Path, post: Callable, clock: Callable[[], float],
                 interval: float = 1.0, sys_block: Path = Path("/sys/block"),
                 run: Callable = subprocess.run):
        super().__init__(post, clock, interval)
        self.mount_dir, self.sys_block, self.run = mount_dir, sys_block, run
        self.device: str | None = None

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

    def _poll(self) -> None:
        sticks = self.sticks()
        if self.device and self.device not in sticks:
            self._command("umount", "-l", str(self.mount_dir))
            log.info("usb: %s removed", self.device)
            self.device = None
            self.post(UsbRemoved(str(self.mount_dir), self.clock()))
        if self.device is None and sticks:
            self.mount_dir.mkdir(parents=True, exist_ok=True)
            if self._command("mount", "-o", "ro,nosuid,nodev,noexec", f"/dev/{sticks[0]}",
                             str(self.mount_dir)):
                self.device = sticks[0]
                log.info("usb: %s mounted read-only at %s", self.device, self.mount_dir)
                self.post(UsbInserted(str(self.mount_dir), self.clock()))

    @contextmanager
    def writable(self, path: Path) -> Iterator[Path]:
        """The stick at `path` (the mount folder) remounted read-write for an export; flushed
        and read-only again after."""
        if self.device is None or path != self.mount_dir:
            raise OSError(f"no USB stick mounted at {path}")
        if not self._command("mount", "-o", "remount,rw", str(self.mount_dir)):
            raise OSError(f"cannot write to the USB stick at {self.mount_dir}")
        try:
            yield self.mount_dir
        finally:
            self._command("sync")
            self._command("mount", "-o", "remount,ro", str(self.mount_dir))

    def _command(self, *argv: str) -> bool:
        result = self.run(list(argv), capture_output=True, text=True)
        if result.returncode != 0:
            log.error("usb: %s failed: %s", " ".join(argv), result.stderr.strip())
        return result.returncode == 0


class SimUsbSticks(_Poller):
    """A folder whose sub-folders are sticks: `mkdir var/usb/stick` plugs one in."""

    def __init__(self, root: Path, post: Callable, clock: Callable[[], float],
                 interval: float = 1.0):
        super().__init__(post, clock, interval)
        self.root = root
        self.present: set[Path] = set()

    def _poll(self) -> None:
        now = {p for p in self.root.iterdir() if p.is_dir()} if self.root.is_dir() else set()
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
