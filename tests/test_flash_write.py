"""The image tool's `write` step (tools/flashing/write.py) on loop devices standing in for SD
cards: what it refuses before writing anything, the write read back and checked, the data
partition grown to the end of the card."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from images import needs_root  # noqa: E402
from tools.flashing.disk import partition_name  # noqa: E402
from tools.flashing.write import (TOOLS, WriteFailed, WriteRefused, check_target,  # noqa: E402
                                  read_bmap, verify, write_image)

MIB = 2**20
# sectors: p1, p2 FAT, p3 empty, p4 extended to the end, in it p5 ext4, p6 empty, p7 ext4 "data"
LAYOUT = """label: dos
start=2048, size=2048, type=c, bootable
start=4096, size=8192, type=c
start=12288, size=8192, type=c
start=20480, type=5
start=22528, size=16384, type=83
start=40960, size=8192, type=83
start=51200, type=83
"""
IMAGE_MIB, DATA_START = 64, 51200
HELLO = b"kept through the write and the growth\n"


def run(*command, **options):
    return subprocess.run(command, check=True, capture_output=True, text=True, **options)


def table(path) -> dict[int, tuple[int, int]]:
    """Partition number → (start, size) in sectors."""
    parts = json.loads(run("sfdisk", "--json", str(path)).stdout)["partitiontable"]["partitions"]
    return {int(re.search(r"\d+$", p["node"])[0]): (p["start"], p["size"]) for p in parts}


def fs_field(device: str, field: str) -> str:
    for line in run("dumpe2fs", "-h", device).stdout.splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    raise KeyError(field)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    """A 64 MiB appliance-like image and its bmap; a file, hello.txt, on the data partition."""
    missing = [t for t in TOOLS + ("mkfs.vfat", "mkfs.ext4", "debugfs", "dumpe2fs")
               if not shutil.which(t)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (bmap-tools, fdisk, dosfstools, "
                    "e2fsprogs)")
    folder = tmp_path_factory.mktemp("image")
    out = folder / "appliance.img"
    with open(out, "wb") as f:
        f.truncate(IMAGE_MIB * MIB)
    run("sfdisk", str(out), input=LAYOUT)
    hello = folder / "hello.txt"
    hello.write_bytes(HELLO)
    parts = [(2048, 1, "AUTOBOOT"), (4096, 4, "BOOT-A")]   # (slot B, p3 and p6, is empty)
    for start, size, label in parts:
        fat = folder / f"{label}.fat"
        run("mkfs.vfat", "-C", "-n", label, str(fat), str(size * 1024))
        run("dd", f"if={fat}", f"of={out}", "bs=512", f"seek={start}", "conv=notrunc,sparse")
    for start, size, label in ((22528, 8, "root-a"), (DATA_START, 39, "data")):
        ext4 = folder / f"{label}.ext4"
        with open(ext4, "wb") as f:
            f.truncate(size * MIB)
        run("mkfs.ext4", "-q", "-F", "-L", label, str(ext4))
        if label == "data":
            run("debugfs", "-w", "-R", f"write {hello} hello.txt", str(ext4))
        run("dd", f"if={ext4}", f"of={out}", "bs=512", f"seek={start}", "conv=notrunc,sparse")
    run("bmaptool", "create", "-o", f"{out}.bmap", str(out))
    return out


@pytest.fixture
def attach(tmp_path):
    """attach(MiB, image=None): a loop device on a sparse file of that size, holding the image
    if given; its first MiB, after the partition table, random (what a used card holds)."""
    needs_root()
    devices = []

    def attach(size_mib: int, image: Path | None = None) -> str:
        backing = tmp_path / f"card{len(devices)}"
        if image:
            shutil.copyfile(image, backing)
        with open(backing, "r+b" if image else "wb") as f:
            f.truncate(size_mib * MIB)
            f.seek(512)
            f.write(os.urandom(MIB - 512))
        devices.append(run("losetup", "-f", "--show", str(backing)).stdout.strip())
        if image:
            run("partx", "-a", devices[-1])
        return devices[-1]

    yield attach
    for device in devices:
        name = Path(device).name
        if any(Path("/sys/block", name).glob(f"{name}p*")):
            subprocess.run(["partx", "-d", device], capture_output=True)
        subprocess.run(["losetup", "-d", device], check=True)


def first_mib(device: str) -> bytes:
    with open(device, "rb") as f:
        return f.read(MIB)


def refused(image, device, *, force=False, limit_gib=256):
    """The refusal's message; asserts that nothing was asked nor written."""
    asked = []
    card = re.sub(r"^(/dev/loop\d+)p\d+$", r"\1", device)   # a partition's disk
    before = first_mib(card) if card.startswith("/dev/loop") else None
    with pytest.raises(WriteRefused) as refusal:
        write_image(image, device, force=force, limit_gib=limit_gib,
                    ask=lambda q: asked.append(q) or True)
    assert not asked
    assert str(refusal.value).endswith(" Nothing written.")
    if before is not None:
        assert first_mib(card) == before
    return str(refusal.value)


def test_partition_names():
    assert [partition_name(disk, 1) for disk in ("sdb", "mmcblk0", "loop3", "nvme0n1")] == [
        "sdb1", "mmcblk0p1", "loop3p1", "nvme0n1p1"]
    assert partition_name("sdb", 7) == "sdb7" and partition_name("mmcblk0", 7) == "mmcblk0p7"


def test_the_bmap_is_read_as_bmaptool_wrote_it(image):
    bmap = read_bmap(Path(f"{image}.bmap"))
    assert (bmap.image_size, bmap.block_size, bmap.checksum) == (IMAGE_MIB * MIB, 4096, "sha256")
    first, last, checksum = bmap.ranges[0]
    assert first == 0
    with open(image, "rb") as f:
        assert hashlib.sha256(f.read((last + 1) * 4096)).hexdigest() == checksum
    assert 0 < bmap.mapped < bmap.image_size   # sparse: only what the file systems use


def test_an_image_without_its_bmap_is_refused(image, tmp_path):
    alone = tmp_path / "alone.img"
    alone.symlink_to(image)
    with pytest.raises(WriteRefused, match=r"^checking .*alone\.img: .*alone\.img\.bmap is "
                       r"missing: `tools/flash.py build` makes it beside the image\. Nothing "
                       r"written\.$"):
        check_target(alone, "/dev/null", force=True)


def test_a_larger_card_is_written_verified_and_its_data_partition_grown(image, attach, capsys):
    card = attach(160)
    asked = []
    write_image(image, card, ask=lambda q: asked.append(q) or True)
    out = capsys.readouterr().out
    assert asked == [f"Erase {card} and write the image there?"]
    assert f"Card:   {card}: loop device on " in out and "160.0 MiB" in out
    assert "Verified: the card holds the image." in out
    data = f"/dev/{partition_name(Path(card).name, 7)}"
    assert f"Data partition {data} grown to 135.0 MiB" in out
    before, after = table(image), table(card)
    end = 160 * MIB // 512
    assert after[4] == (before[4][0], end - before[4][0])
    assert after[7] == (DATA_START, end - DATA_START)
    assert {n: after[n] for n in (1, 2, 3, 5, 6)} == {n: before[n] for n in (1, 2, 3, 5, 6)}
    assert fs_field(data, "Filesystem volume name") == "data"
    size = int(fs_field(data, "Block count")) * int(fs_field(data, "Block size"))
    assert size > 130 * MIB   # was 39 MiB
    assert run("debugfs", "-R", "cat hello.txt", data).stdout == HELLO.decode()
    run("e2fsck", "-fn", data)


def test_a_card_the_size_of_the_image_is_written_and_a_corrupted_byte_is_caught(
        image, attach, tmp_path):
    card = attach(IMAGE_MIB)
    backing = tmp_path / "card0"   # behind the device's cache, as the card's own fault
    with open(backing, "r+b") as f:   # an old system in slot B, from the card's last life
        for start in (12288, 40960):
            f.seek(start * 512)
            f.write(b"\xaa" * MIB)
    write_image(image, card, ask=lambda q: True)
    assert table(card) == table(image)   # nothing to grow
    with open(card, "rb") as f:
        for start in (12288, 40960):
            f.seek(start * 512)
            assert f.read(MIB) == bytes(MIB)   # slot B cleared
    bmap = read_bmap(Path(f"{image}.bmap"))
    with open(card, "rb"):   # the kernel keeps the device's cache while anything holds it
        verify(card, bmap)
        superblock = DATA_START * 512 + 1024 + 100   # in the data file system's superblock
        first, last, _ = next(r for r in bmap.ranges
                              if r[0] * 4096 <= superblock < (r[1] + 1) * 4096)
        with open(backing, "r+b") as f:
            f.seek(superblock)
            byte = f.read(1)
            f.seek(superblock)
            f.write(bytes([byte[0] ^ 0x40]))
        with pytest.raises(WriteFailed) as failure:
            verify(card, bmap)
        assert failure.value.step == "verifying"
        blocks = f"{first}-{last}" if last != first else str(first)
        assert str(failure.value).startswith(f"Verifying failed on {card}: blocks {blocks} of "
                                             "4096 bytes")
    assert "The card holds a bad copy: write it again" in str(failure.value)


def test_an_image_damaged_since_it_was_built_fails_the_write(image, attach, tmp_path):
    damaged = tmp_path / "damaged.img"
    shutil.copyfile(image, damaged)
    shutil.copyfile(f"{image}.bmap", f"{damaged}.bmap")
    with open(damaged, "r+b") as f:   # the data file system's superblock, a mapped block
        f.seek(DATA_START * 512 + 1024 + 100)
        f.write(b"X")
    card = attach(160)
    with pytest.raises(WriteFailed) as failure:
        write_image(damaged, card, ask=lambda q: True)
    assert failure.value.step == "writing"
    assert str(failure.value).startswith(f"Writing failed on {card}: bmaptool exit status ")
    assert str(failure.value).endswith("The card holds a partial image: write it again.")


def test_a_data_partition_that_is_not_the_appliances_is_not_grown(image, attach, monkeypatch):
    monkeypatch.setattr("tools.flashing.write.DATA_LABEL", "queue-data")   # another layout
    card = attach(160)
    with pytest.raises(WriteFailed) as failure:
        write_image(image, card, ask=lambda q: True)
    assert failure.value.step == "growing the data partition"
    data = f"/dev/{partition_name(Path(card).name, 7)}"
    assert str(failure.value) == (
        f"Growing the data partition failed on {card}: {data} is not the data file system "
        "(labelled 'data'). The card holds the image, verified, with its partition table grown "
        "but not its data file system: write the card again.")
    assert fs_field(data, "Block count") == str(39 * 1024)   # untouched: 39 MiB of 1 KiB


def test_a_card_with_a_mounted_partition_is_refused_even_forced(image, attach, tmp_path):
    card = attach(160, image)
    data = f"/dev/{partition_name(Path(card).name, 7)}"
    mount = tmp_path / "mounted data"
    mount.mkdir()
    run("mount", data, str(mount))
    try:
        message = refused(image, card, force=True)
        assert message == (f"checking {card}: {Path(data).name} is mounted at {mount}: unmount "
                           "it first. Nothing written.")
        (tmp_path / "by-id").symlink_to(card)   # as /dev/disk/by-id/usb-... names it
        assert "is mounted at" in refused(image, str(tmp_path / "by-id"), force=True)
    finally:
        run("umount", str(mount))


def test_a_card_used_as_swap_is_refused(image, attach):
    card = attach(160, image)
    swap = f"/dev/{partition_name(Path(card).name, 6)}"
    run("mkswap", swap)
    if subprocess.run(["swapon", swap], capture_output=True).returncode:
        pytest.skip("swapon is not allowed here")
    try:
        assert f"{Path(swap).name} is used as swap" in refused(image, card, force=True)
    finally:
        run("swapoff", swap)


def test_a_card_over_the_limit_is_refused_unless_forced(image, attach):
    card = attach(160)
    assert refused(image, card, limit_gib=0.1) == (
        f"checking {card}: it has 160.0 MiB, more than 0.1 GiB: is it really the card? --force "
        "writes it anyway. Nothing written.")
    asked, before = [], first_mib(card)
    with pytest.raises(WriteRefused, match=r"^Nothing written\.$"):   # forced: it asks
        write_image(image, card, force=True, limit_gib=0.1, ask=lambda q: asked.append(q))
    assert len(asked) == 1 and first_mib(card) == before


def test_a_disk_that_is_not_removable_is_refused_unless_forced(image, attach, monkeypatch):
    card = attach(160)
    monkeypatch.setattr("tools.flashing.write.removable", lambda name: False)
    assert "is not a removable disk nor an SD card; --force writes it anyway" in refused(
        image, card)
    assert check_target(image, card, force=True).path == card


def test_no_for_an_answer_writes_nothing(image, attach, capsys):
    card = attach(160, image)
    before = first_mib(card)
    with pytest.raises(WriteRefused, match=r"^Nothing written\.$"):
        write_image(image, card, ask=lambda q: False)
    assert first_mib(card) == before
    out = capsys.readouterr().out   # what the technician read before answering
    name = Path(card).name
    assert f"Lost:   everything on the card:\n          {name}p1  1.0 MiB  vfat  labelled " \
        "'AUTOBOOT'\n" in out
    assert f"\n          {name}p7  39.0 MiB  ext4  labelled 'data'\n" in out
    assert "then its data partition is grown to the end of the card (about 96.0 MiB more)" in out


def test_a_partition_a_file_and_a_smaller_card_are_refused(image, attach, tmp_path):
    card = attach(160, image)
    name = Path(card).name
    assert refused(image, f"{card}p1", force=True) == (
        f"checking {card}p1: {name}p1 is a partition of {name}: give the whole disk, {card}. "
        "Nothing written.")
    assert "not a block device" in refused(image, str(image), force=True)
    assert "no such device" in refused(image, str(tmp_path / "no such card"), force=True)
    small = attach(IMAGE_MIB - 1)
    assert refused(image, small, force=True) == (
        f"checking {small}: it has 63.0 MiB, less than the image's 64.0 MiB. Nothing written.")


def test_the_disk_holding_the_running_system_is_refused(image):
    dev = os.stat("/").st_dev
    sysfs = Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
    if os.major(dev) == 0 or not sysfs.exists():
        pytest.skip("/ is not on a block device here")
    disk = sysfs.resolve()
    disk = disk.parent if (disk / "partition").exists() else disk
    if (disk / "slaves").exists() and any((disk / "slaves").iterdir()):
        pytest.skip("/ is on the device mapper here")
    if not Path("/dev", disk.name).exists():
        pytest.skip(f"/dev/{disk.name} is absent")
    with pytest.raises(WriteRefused, match="it holds this system's root file system"):
        check_target(image, f"/dev/{disk.name}", force=True)   # checks only, never writes
