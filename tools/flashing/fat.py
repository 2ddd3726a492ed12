"""New FAT file systems for the image (drivers/fat.py reads and writes them)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from drivers.fat import Fat


def make_fat(path: Path, size: int, label: str) -> Fat:
    """A new FAT file system in the new file `path` of `size` bytes."""
    subprocess.run(["mkfs.vfat", "-C", "-n", label, str(path), str(size // 1024)], check=True,
                   capture_output=True)
    return Fat(path)
