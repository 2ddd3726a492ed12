"""The appliance's partition layout, and moving partitions in and out of image files.

The Raspberry Pi firmware reads only FAT, and its one-shot `tryboot` switches between whole
boot partitions named in `autoboot.txt` on the first one, so each root file system has a boot
partition of its own (kernel, firmware, config.txt, cmdline.txt). Seven partitions need an
MBR extended partition (the firmware's advice for autoboot.txt is MBR):

    1 autoboot  FAT   autoboot.txt: which boot partition is the committed one, which the trial
    2 boot-a    FAT   slot A's kernel and configuration        } RAUC slot A
    5 root-a    ext4  slot A's root file system (read-only)    }
    3 boot-b    FAT   slot B's                                 } RAUC slot B (empty until the
    6 root-b    ext4  slot B's                                 }   first update)
    7 data      ext4  /data: the appliance's database, keys, configuration, RAUC's status
    (4 is the extended partition holding 5-7.)
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

SECTOR = 512
MIB = 1024 * 1024
FIRST = 4 * MIB          # where partition 1 starts (the firmware's and SD cards' alignment)
EBR_GAP = 1 * MIB        # before each logical partition, for its extended boot record


@dataclass(frozen=True)
class Partition:
    number: int
    name: str
    start: int           # bytes
    size: int            # bytes
    kind: str            # MBR type: c FAT32 (LBA), 5 extended, 83 Linux

    @property
    def end(self) -> int:
        return self.start + self.size


@dataclass(frozen=True)
class Sizes:
    """Partition sizes in MiB."""
    autoboot: int = 8
    boot: int = 256
    root: int = 4096
    data: int = 512


def layout(sizes: Sizes) -> list[Partition]:
    """Every partition, with explicit starts (sfdisk otherwise fills a gap before the first)."""
    parts, at = [], FIRST
    for number, name, mib in ((1, "autoboot", sizes.autoboot), (2, "boot-a", sizes.boot),
                              (3, "boot-b", sizes.boot)):
        parts.append(Partition(number, name, at, mib * MIB, "c"))
        at += mib * MIB
    extended, logical = at, []
    for number, name, mib in ((5, "root-a", sizes.root), (6, "root-b", sizes.root),
                              (7, "data", sizes.data)):
        at += EBR_GAP
        logical.append(Partition(number, name, at, mib * MIB, "83"))
        at += mib * MIB
    parts.append(Partition(4, "extended", extended, at - extended, "5"))
    return parts + logical


def image_size(parts: list[Partition]) -> int:
    return max(p.end for p in parts)


def partition(parts: list[Partition], name: str) -> Partition:
    return next(p for p in parts if p.name == name)


def make_table(image: Path, parts: list[Partition], disk_id: int) -> None:
    """Write the MBR of `parts` to `image` (which must be large enough already)."""
    lines = ["label: dos", f"label-id: 0x{disk_id:08x}", "unit: sectors", ""]
    lines += [f"start={p.start // SECTOR}, size={p.size // SECTOR}, type={p.kind}"
              for p in sorted(parts, key=lambda p: p.number)]
    subprocess.run(["sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", str(image)],
                   input="\n".join(lines) + "\n", text=True, check=True, capture_output=True)


def read_table(image: Path) -> dict:
    """sfdisk's view of a disk image's partition table (label, id, partitions in sectors)."""
    out = subprocess.run(["sfdisk", "--json", str(image)], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)["partitiontable"]


def partition_name(disk: str, number: int) -> str:
    """The kernel's name of a disk's partition: sdb 1 → sdb1, mmcblk0 1 → mmcblk0p1."""
    return f"{disk}p{number}" if disk[-1].isdigit() else f"{disk}{number}"


def extract(image: Path, start: int, size: int, out: Path) -> None:
    """Copy `size` bytes of `image` at `start` into the new file `out`, keeping holes sparse."""
    copy_range(image, start, size, out, 0)


def insert(source: Path, image: Path, start: int) -> None:
    """Copy the file `source` into a fresh `image` at `start` (its zeros stay holes)."""
    copy_range(source, 0, source.stat().st_size, image, start)


def copy_range(source: Path, start: int, size: int, target: Path, at: int) -> None:
    zero = bytes(MIB)
    with open(source, "rb") as src, open(target, "r+b" if target.exists() else "wb") as dst:
        src.seek(start)
        done = 0
        while done < size:
            chunk = src.read(min(MIB, size - done))
            if not chunk:
                raise ValueError(f"{source} ends {size - done} bytes short of the partition")
            if chunk != zero[:len(chunk)]:
                dst.seek(at + done)
                dst.write(chunk)
            done += len(chunk)
        if dst.seek(0, os.SEEK_END) < at + size:
            dst.truncate(at + size)
