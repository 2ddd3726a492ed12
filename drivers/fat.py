"""A FAT file system read and written with mtools: no mount, so no root and no vfat driver
(the board's boot partitions, for RAUC's backend drivers/tryboot.py; image files, for
tools/flash.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path


class Fat:
    """The FAT file system in `path` (an image file or a device), at byte `offset`."""

    def __init__(self, path: Path | str, offset: int = 0):
        self.drive = f"{path}@@{offset}" if offset else str(path)

    def _mtools(self, *command: str, data: bytes | None = None) -> bytes:
        result = subprocess.run([command[0], "-i", self.drive, *command[1:]], input=data,
                                capture_output=True)
        if result.returncode:
            raise OSError(f"{' '.join(command)}: {result.stderr.decode(errors='replace').strip()}")
        return result.stdout

    def read(self, name: str) -> bytes:
        return self._mtools("mcopy", "-n", f"::{name}", "-")

    def write(self, name: str, data: bytes) -> None:
        self._mtools("mcopy", "-o", "-", f"::{name}", data=data)

    def names(self) -> list[str]:
        """Every file and folder, as /-separated paths from the top."""
        out = self._mtools("mdir", "-/", "-b", "::").decode()
        return [line.removeprefix("::/").rstrip("/") for line in out.splitlines() if line]

    def copy_out(self, folder: Path) -> None:
        """Everything into `folder` (made)."""
        folder.mkdir(parents=True, exist_ok=True)
        self._mtools("mcopy", "-s", "-n", "-m", "::*", str(folder))

    def copy_in(self, folder: Path) -> None:
        """Everything in `folder` onto the file system's top."""
        items = [str(p) for p in sorted(folder.iterdir())]
        if items:
            self._mtools("mcopy", "-s", "-m", *items, "::")
