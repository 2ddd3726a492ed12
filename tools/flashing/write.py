"""Write an appliance image (made by `tools/flash.py build`) to an SD card, verify it, grow its
data partition to the end of the card.

`write_image` checks the target first and refuses (WriteRefused: nothing written) a partition,
a regular file, anything mounted, used as swap or by the device mapper, the disk holding this
system's root, a read-only card or one smaller than the image; a disk that is not removable
(not an SD card, nor a loop device) or larger than the limit unless forced. Once asked, it
writes with bmaptool (which checks the image's checksums), reads back every mapped range and
compares its checksum with the bmap's, then grows the extended partition p4 and the data
partition p7 in it (sfdisk, partx, e2fsck, resize2fs). A failure after the question is a
WriteFailed naming the step and what the card then holds."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tools.flashing.disk import partition_name, read_table

EXTENDED, DATA = 4, 7           # the image's layout: p7, the last, in the extended p4
SLOT_B = (3, 6)                 # its boot and root partitions, empty in the image
DATA_LABEL = "data"
SECTOR = 512                    # the image's partition table counts 512-byte sectors
TOOLS = ("bmaptool", "sfdisk", "partx", "e2fsck", "resize2fs", "e2label")
MOUNTINFO, SWAPS = Path("/proc/self/mountinfo"), Path("/proc/swaps")
SYS_DEV = Path("/sys/dev/block")


class WriteRefused(Exception):
    """Nothing was written: the reason (with how to override it, where one may), followed by
    "Nothing written."; just "Nothing written." when the question was answered no."""

    def __init__(self, reason: str = ""):
        self.reason = reason if not reason or reason.endswith(".") else reason + "."
        super().__init__(f"{self.reason} Nothing written." if reason else "Nothing written.")


class WriteFailed(Exception):
    """A step after the question failed ("writing", "verifying", "growing the data
    partition"): the step, what went wrong, what the card holds."""

    def __init__(self, step: str, device: str, reason: str, state: str):
        super().__init__(f"{step.capitalize()} failed on {device}: {reason}. {state}")
        self.step, self.state = step, state


@dataclass(frozen=True)
class Bmap:
    """What `bmaptool create` says of an image: its mapped ranges of blocks, (first, last,
    checksum) each."""
    image_size: int
    block_size: int
    checksum: str
    ranges: tuple[tuple[int, int, str], ...]

    @property
    def mapped(self) -> int:
        return sum(min((last + 1) * self.block_size, self.image_size) - first * self.block_size
                   for first, last, _ in self.ranges)


@dataclass(frozen=True)
class Target:
    """A whole disk that passed the checks."""
    path: str                   # its node, symbolic links resolved: /dev/sdb
    name: str                   # the kernel's: sdb
    size: int                   # bytes
    model: str
    partitions: tuple[str, ...]  # what the kernel sees on it now, described


def human(size: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024


def bmap_path(image: Path) -> Path:
    return image.with_name(image.name + ".bmap")


def read_bmap(path: Path) -> Bmap:
    """Parse a bmap file (format 1.x or 2.0); ValueError if it is not one with checksums."""
    try:
        root = ET.parse(path).getroot()
        kind = (root.findtext("ChecksumType") or "sha1").strip()
        ranges = []
        for item in root.iterfind("BlockMap/Range"):
            first, _, last = item.text.strip().partition("-")
            checksum = item.get("chksum") or item.get("sha1")
            if not checksum:
                raise ValueError(f"range {item.text.strip()} has no checksum")
            ranges.append((int(first), int(last or first), checksum))
        bmap = Bmap(int(root.findtext("ImageSize")), int(root.findtext("BlockSize")), kind,
                    tuple(ranges))
        hashlib.new(kind)
    except (ET.ParseError, TypeError, AttributeError) as error:
        raise ValueError(f"not a bmap file ({error})") from None
    if not bmap.ranges:
        raise ValueError("it maps no block")
    return bmap


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def _unescape(field: str) -> str:
    """A path as /proc writes it (space as \\040 and so on)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), field)


def _sysfs(rdev: int) -> Path:
    return SYS_DEV.joinpath(f"{os.major(rdev)}:{os.minor(rdev)}").resolve()


def _partitions(sysdir: Path) -> list[Path]:
    """A disk's partitions, as the kernel sees them."""
    return sorted((d for d in sysdir.iterdir() if (d / "partition").exists()),
                  key=lambda d: int(_read(d / "partition")))


def _in_use(sysdir: Path) -> tuple[dict[str, str], list[str]]:
    """'major:minor' → name of a disk, its partitions and whatever is built on them (device
    mapper, RAID), recursively; and the names of the latter."""
    found, built, todo = {}, [], [sysdir, *_partitions(sysdir)]
    while todo:
        d = todo.pop()
        if d.name not in found.values():
            found[_read(d / "dev")] = d.name
            holders = [h.resolve() for h in (d / "holders").iterdir()]
            built += [h.name for h in holders]
            todo += holders
    return found, sorted(set(built))


def _disks_under(sysdir: Path) -> set[str]:
    """The whole disks a block device (partition, device mapper) lies on."""
    if (sysdir / "partition").exists():
        return {sysdir.parent.name}
    slaves = list((sysdir / "slaves").glob("*"))
    if not slaves:
        return {sysdir.name}
    return set().union(*(_disks_under(s.resolve()) for s in slaves))


def _block(source: str) -> int | None:
    """The device number of a block device's node (None: not one)."""
    if not source.startswith("/"):
        return None
    try:
        st = os.stat(source)
    except OSError:
        return None
    return st.st_rdev if stat.S_ISBLK(st.st_mode) else None


def root_disks() -> set[str]:
    """The disks holding the running system's root file system (none if on no disk)."""
    dev = os.stat("/").st_dev
    if os.major(dev) == 0:   # btrfs, overlay...: the mount's source, if a block device
        for line in _read(MOUNTINFO).splitlines():
            fields = line.split()
            if _unescape(fields[4]) == "/":
                dev = _block(fields[fields.index("-") + 2]) or dev
    path = SYS_DEV / f"{os.major(dev)}:{os.minor(dev)}"
    return _disks_under(path.resolve()) if path.exists() else set()


def removable(name: str) -> bool:
    """An SD card or eMMC, a loop device, or a disk the kernel calls removable."""
    return name.startswith(("mmcblk", "loop")) or _read(Path("/sys/block", name,
                                                             "removable")) == "1"


def _describe(sysdir: Path) -> str:
    d = sysdir / "device"
    if sysdir.name.startswith("loop"):
        return f"loop device on {_read(sysdir / 'loop' / 'backing_file') or 'nothing'}"
    words = [_read(d / "vendor"), _read(d / "model") or _read(d / "name")]
    return " ".join(w for w in words if w) or "unknown model"


def _content(name: str, size: int) -> str:
    """A partition, with its file system and label when blkid finds them."""
    if size <= 2 * 512:
        return f"{name}  extended"
    found = {}
    if shutil.which("blkid") and os.path.exists(f"/dev/{name}"):
        out = subprocess.run(["blkid", "-o", "export", f"/dev/{name}"], text=True,
                             capture_output=True).stdout
        found = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    label = f"labelled {found['LABEL']!r}" if found.get("LABEL") else ""
    return "  ".join(filter(None, [name, human(size), found.get("TYPE"), label]))


def check_target(image: Path, device: str, *, force: bool = False,
                 limit_gib: float = 256) -> Target:
    """The target, if the image may be written there; else WriteRefused saying why."""
    def refuse(reason: str, what: object = device):
        raise WriteRefused(f"checking {what}: {reason}")

    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    if missing:
        refuse(f"{', '.join(missing)} not found: install bmap-tools, fdisk, util-linux and "
               "e2fsprogs", "the tools")
    if not image.is_file():
        refuse("not a file", image)
    try:
        bmap = read_bmap(bmap_path(image))
    except FileNotFoundError:
        refuse(f"{bmap_path(image)} is missing: `tools/flash.py build` makes it beside the "
               "image", image)
    except (OSError, ValueError) as error:
        refuse(f"{bmap_path(image)}: {error}; build the image again", image)
    if bmap.image_size != image.stat().st_size:
        refuse(f"{bmap_path(image)} is not this image's map (it says {bmap.image_size} bytes, "
               f"the image has {image.stat().st_size}); build the image again", image)
    path = os.path.realpath(device)
    rdev = _block(path)
    if not os.path.exists(path):
        refuse("no such device (`lsblk` lists the disks)")
    if rdev is None:
        refuse("not a block device (a card is /dev/sdX or /dev/mmcblkN; `lsblk` lists them)")
    sysdir = _sysfs(rdev)
    name = sysdir.name
    if (sysdir / "partition").exists():
        refuse(f"{name} is a partition of {sysdir.parent.name}: give the whole disk, "
               f"/dev/{sysdir.parent.name}")
    if name in root_disks():
        refuse("it holds this system's root file system")
    users, built = _in_use(sysdir)
    for line in _read(MOUNTINFO).splitlines():
        fields = line.split()
        source = fields[fields.index("-") + 2]
        used = users.get(fields[2]) or users.get(_dev_number(_block(source)))
        if used:
            refuse(f"{used} is mounted at {_unescape(fields[4])}: unmount it first")
    for line in _read(SWAPS).splitlines()[1:]:
        used = users.get(_dev_number(_block(_unescape(line.split()[0]))))
        if used:
            refuse(f"{used} is used as swap: swapoff it first")
    if built:
        refuse(f"{', '.join(built)} (device mapper or RAID) uses it: close them first "
               "(cryptsetup close, vgchange -an, mdadm --stop)")
    if _read(sysdir / "ro") == "1":
        refuse("it is read-only (an SD card's lock switch?)")
    if _read(sysdir / "queue" / "logical_block_size") not in ("", str(SECTOR)):
        refuse(f"its sectors are {_read(sysdir / 'queue' / 'logical_block_size')} bytes; the "
               f"image's partition table is for {SECTOR}-byte sectors")
    size = int(_read(sysdir / "size") or 0) * 512   # sysfs counts 512 bytes whatever the disk
    if size < bmap.image_size:
        refuse(f"it has {human(size)}, less than the image's {human(bmap.image_size)}")
    if not force and not removable(name):
        refuse(f"{name} ({_describe(sysdir)}) is not a removable disk nor an SD card; "
               "--force writes it anyway")
    if not force and size > limit_gib * 2**30:
        refuse(f"it has {human(size)}, more than {limit_gib:g} GiB: is it really the card? "
               "--force writes it anyway")
    return Target(path, name, size, _describe(sysdir),
                  tuple(_content(p.name, int(_read(p / "size")) * 512)
                        for p in _partitions(sysdir)))


def _dev_number(rdev: int | None) -> str:
    return f"{os.major(rdev)}:{os.minor(rdev)}" if rdev is not None else ""


def plan(image: Path, target: Target) -> str:
    """What writing the image to the target does, for the technician to read before saying
    yes."""
    bmap = read_bmap(bmap_path(image))
    lost = (":\n" + "\n".join(f"          {p}" for p in target.partitions)
            if target.partitions else " (the kernel sees no partition on it)")
    grow = (f"then its data partition is grown to the end of the card (about "
            f"{human(target.size - bmap.image_size)} more)"
            if target.size - bmap.image_size >= 2**20 else
            "the card has no room left to grow the data partition")
    return (f"Image:  {image} ({human(bmap.image_size)}, {human(bmap.mapped)} of it mapped)\n"
            f"Map:    {bmap_path(image)}\n"
            f"Card:   {target.path}: {target.model}, {human(target.size)}\n"
            f"Lost:   everything on the card{lost}\n"
            f"The image is written with bmaptool, read back and compared with its map; {grow}.")


def _run(command: list[str], **options) -> subprocess.CompletedProcess:
    return subprocess.run(command, text=True, capture_output=True, **options)


def _said(done: subprocess.CompletedProcess) -> str:
    lines = (done.stderr.strip() or done.stdout.strip()).splitlines()
    return f"{done.args[0]} exit status {done.returncode}" + (f": {lines[-1]}" if lines else "")


def _tell_kernel(target: Target) -> subprocess.CompletedProcess:
    """Have the kernel read the card's partition table again (partx adds, resizes, removes
    partitions; their nodes appear in /dev without udev). A udev rereading the table after
    the write may race it: it is waited for, and partx tried three times."""
    for _ in range(3):
        _settle()
        done = _run(["partx", "-u", target.path])
        if done.returncode == 0:
            break
        time.sleep(1)
    _settle()
    return done


def _settle() -> None:
    """Wait for udev, if it runs, to handle the events of the card's changes."""
    if shutil.which("udevadm") and os.path.exists("/run/udev/control"):
        _run(["udevadm", "settle", "--timeout=10"])


def write(image: Path, target: Target) -> None:
    """Copy the image with bmaptool (its output goes to the terminal)."""
    known = _partitions(_sysfs(os.stat(target.path).st_rdev))
    if known:   # old partitions gone before the write: nothing mounts them meanwhile
        done = _run(["partx", "-d", target.path])
        if done.returncode:
            raise WriteRefused(f"writing {target.path}: the kernel keeps its partitions "
                               f"({_said(done)}): close whatever uses them.")
    done = subprocess.run(["bmaptool", "copy", "--bmap", str(bmap_path(image)), str(image),
                           target.path])
    if done.returncode:
        raise WriteFailed("writing", target.path, f"bmaptool exit status {done.returncode} "
                          "(its message above)", "The card holds a partial image: write it "
                          "again.")


def verify(device: str, bmap: Bmap) -> None:
    """Read back every mapped range from the device (not from the page cache) and compare its
    checksum with the bmap's; WriteFailed naming the first range that differs."""
    try:
        fd = os.open(device, os.O_RDONLY)
    except OSError as error:
        raise WriteFailed("verifying", device, f"it cannot be opened ({error.strerror})",
                          "The card holds the image, unverified: write it again.") from None
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        for first, last, checksum in bmap.ranges:
            start = first * bmap.block_size
            end = min((last + 1) * bmap.block_size, bmap.image_size)
            digest, at = hashlib.new(bmap.checksum), start
            while at < end:
                try:
                    chunk = os.pread(fd, min(end - at, 2**20), at)
                except OSError as error:
                    raise WriteFailed("verifying", device, f"reading bytes {at}- failed "
                                      f"({error.strerror})", "The card holds the image, "
                                      "unverified: write it again, or use another card.")
                if not chunk:
                    break
                digest.update(chunk)
                at += len(chunk)
            if digest.hexdigest() != checksum.lower():
                blocks = f"{first}-{last}" if last != first else str(first)
                raise WriteFailed(
                    "verifying", device, f"blocks {blocks} of {bmap.block_size} bytes (bytes "
                    f"{start}-{end - 1}) read back differ from the image",
                    "The card holds a bad copy: write it again, and use another card if this "
                    "happens again.")
    finally:
        os.close(fd)


def clear_slot_b(image: Path, target: Target) -> None:
    """The starts of slot B's partitions (3 and 6) zeroed: the image leaves them unwritten, and
    a card used before must not keep a system there that a firmware could start."""
    starts = {int(re.search(r"\d+$", p["node"])[0]): p["start"] * SECTOR
              for p in read_table(image)["partitions"]}
    try:
        with open(target.path, "r+b") as card:
            for number in SLOT_B:
                card.seek(starts[number])
                card.write(bytes(2**20))
            card.flush()
            os.fsync(card.fileno())
    except (OSError, KeyError) as exc:
        raise WriteFailed("clearing slot B", target.path, str(exc),
                          "The card holds the image, verified; slot B may keep an old system: "
                          "write the card again.") from None


def grow_data(target: Target) -> int | None:
    """Grow the extended partition and the data partition in it to the end of the card, and
    the data file system to fill it; its new size in bytes (None: nothing to grow)."""
    step, device = "growing the data partition", target.path
    data = f"/dev/{partition_name(target.name, DATA)}"
    kept = ("The card holds the image, verified; its data partition keeps the image's size: "
            "the appliance works so, or write the card again.")

    def fail(reason: str, state: str = kept):
        raise WriteFailed(step, device, reason, state)

    done = _run(["sfdisk", "--json", device])
    if done.returncode:
        fail(_said(done))
    table = {int(re.search(r"\d+$", p["node"])[0]): p
             for p in json.loads(done.stdout)["partitiontable"]["partitions"]}
    extended, last = table.get(EXTENDED), table.get(DATA)
    if not extended or not last or extended["type"] not in ("5", "f", "85") or (
            last["start"] + last["size"] != extended["start"] + extended["size"]):
        fail(f"its partition table is not the image's (p{DATA} at the end of the extended "
             f"p{EXTENDED})")
    sectors = target.size // SECTOR
    if (sectors - extended["start"] - extended["size"]) * SECTOR < 2**20:
        done = _tell_kernel(target)
        print("The image fills the card: no data partition to grow."
              + (f" (The kernel does not see its partitions yet: {_said(done)}.)"
                 if done.returncode else ""), flush=True)
        return None
    for number in (EXTENDED, DATA):
        done = _run(["sfdisk", "-q", "-N", str(number), "--no-reread", "--no-tell-kernel",
                     device], input=",+\n")
        if done.returncode:
            fail(f"sfdisk -N {number}: {_said(done)}")
    grown = ("The card holds the image, verified, with its partition table grown but not its "
             "data file system: write the card again.")
    done = _tell_kernel(target)
    for _ in range(50):
        if os.path.exists(data) or done.returncode:
            break
        time.sleep(0.1)
    if not os.path.exists(data):
        fail(f"{data} did not appear ({_said(done)})", grown)
    label = _run(["e2label", data])
    if label.returncode or label.stdout.strip() != DATA_LABEL:
        fail(f"{data} is not the data file system ("
             + (_said(label) if label.returncode else f"labelled {label.stdout.strip()!r}")
             + ")", grown)
    done = _run(["e2fsck", "-f", "-y", data])
    if done.returncode >= 4:
        fail(f"e2fsck: {_said(done)}", grown)
    done = _run(["resize2fs", data])
    if done.returncode:
        fail(f"resize2fs: {_said(done)}", "The card's data file system may be half grown: "
             "write the card again.")
    size = int(_read(Path("/sys/block", target.name, partition_name(target.name, DATA),
                          "size")) or 0) * 512
    print(f"Data partition {data} grown to {human(size)}, its file system with it.", flush=True)
    return size


def write_image(image: Path, device: str, *, force: bool = False, limit_gib: float = 256,
                ask: Callable[[str], bool]) -> None:
    """Check DEVICE, say what will happen, ask; then write the image, verify it, grow the data
    partition. WriteRefused: nothing written; WriteFailed: the step that failed and what the
    card holds."""
    image = Path(image)
    target = check_target(image, device, force=force, limit_gib=limit_gib)
    print(plan(image, target), flush=True)
    if not ask(f"Erase {target.path} and write the image there?"):
        raise WriteRefused()
    again = check_target(image, device, force=force, limit_gib=limit_gib)
    if again != target:
        raise WriteRefused(f"checking {device}: it changed while you answered ({again.model}, "
                           f"{human(again.size)}, partitions {', '.join(again.partitions)})")
    write(image, target)
    print(f"Verifying {target.path}...", flush=True)
    verify(target.path, read_bmap(bmap_path(image)))
    print("Verified: the card holds the image.", flush=True)
    clear_slot_b(image, target)
    grow_data(target)
