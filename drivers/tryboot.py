"""RAUC's bootloader backend on the board: the Raspberry Pi firmware's one-shot `tryboot`.

    python -m drivers.tryboot [--conf /etc/rauc/system.conf] get-primary
                               | set-primary SLOT | get-state SLOT | set-state SLOT good|bad

RAUC runs it as root (`bootloader=custom`, README "Updates"). `autoboot.txt`, alone on the
first FAT partition, names two boot partitions: `[all]` the committed slot's, `[tryboot]` the
other's. `reboot "0 tryboot"` boots the other slot once; any later boot, after a crash, a hang
(the watchdog) or a power cut, is the committed slot's again. A slot is committed when the
appliance on it, running, has passed its own check and marks it good (firmware/update.py):
the two partitions of autoboot.txt swap. Nothing else commits a slot.

Slots come from RAUC's system.conf: `[slot.rootfs.N]` with `bootname` and `device`, its boot
partition `[slot.boot.N]` (`parent=rootfs.N`), and the read-only `[slot.autoboot.0]`.
FAT is read and written with mtools, on the partitions themselves.
"""

from __future__ import annotations

import argparse
import configparser
import os
import re
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from drivers.fat import Fat

SYSTEM_CONF = Path("/etc/rauc/system.conf")
NAME = "autoboot.txt"
SIZE = 128   # the file is always this long: rewritten in place, in one sector


@dataclass(frozen=True)
class Slot:
    bootname: str
    root: str            # the root partition's device
    boot: str            # its boot partition's device

    @property
    def boot_number(self) -> int:
        return partition_number(self.boot)


def autoboot_text(committed: int, trial: int) -> bytes:
    """autoboot.txt booting partition `committed`, or `trial` once after reboot "0 tryboot"."""
    text = (f"[all]\ntryboot_a_b=1\nboot_partition={committed}\n"
            f"[tryboot]\nboot_partition={trial}\n")
    return (text + "#" * (SIZE - len(text) - 1) + "\n").encode("ascii")


def read_autoboot(text: bytes) -> tuple[int, int]:
    """(committed, trial) boot partitions of an autoboot.txt."""
    section, found = "all", {}
    for line in text.decode("ascii", "replace").splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line.strip("[]")
        elif line.startswith("boot_partition="):
            found[section] = int(line.split("=", 1)[1])
    if "all" not in found:
        raise ValueError(f"{NAME} names no boot partition")
    return found["all"], found.get("tryboot", found["all"])


def partition_number(device: str) -> int:
    """The partition number of a device path: /dev/mmcblk0p2, /dev/sda2, /dev/loop3p2."""
    found = re.search(r"(\d+)$", os.path.realpath(device))
    if not found:
        raise ValueError(f"{device} is no partition")
    return int(found[1])


def slots(conf: Path) -> tuple[list[Slot], str]:
    """The A/B slots of RAUC's system.conf, and autoboot.txt's partition."""
    parser = configparser.ConfigParser(interpolation=None)
    if not parser.read(conf):
        raise OSError(f"cannot read {conf}")
    roots = {name.removeprefix("slot."): parser[name] for name in parser.sections()
             if name.startswith("slot.rootfs.")}
    boots = {parser[name]["parent"]: parser[name]["device"] for name in parser.sections()
             if name.startswith("slot.boot.")}
    found = [Slot(section["bootname"], section["device"], boots[name])
             for name, section in sorted(roots.items())]
    return found, parser["slot.autoboot.0"]["device"]


class Tryboot:
    def __init__(self, conf: Path):
        self.slots, self.autoboot = slots(conf)

    def slot(self, bootname: str) -> Slot:
        for slot in self.slots:
            if slot.bootname == bootname:
                return slot
        raise ValueError(f"no slot {bootname!r} in RAUC's system.conf")

    def committed(self) -> Slot:
        number = read_autoboot(Fat(self.autoboot).read(NAME))[0]
        for slot in self.slots:
            if slot.boot_number == number:
                return slot
        raise ValueError(f"{NAME} boots partition {number}, which is no slot's")

    def get_primary(self) -> str:
        return self.committed().bootname

    def get_state(self, bootname: str) -> str:
        return "good" if self.committed() == self.slot(bootname) else "bad"

    def set_primary(self, bootname: str) -> None:
        """Make `bootname` the one `reboot "0 tryboot"` tries: its kernel is told its root."""
        slot = self.slot(bootname)
        if slot == self.committed():
            return
        boot = Fat(slot.boot)
        boot.write("cmdline.txt", boot_cmdline(boot.read("cmdline.txt").decode(), slot).encode())
        self._write(self.committed(), slot)

    def set_state(self, bootname: str, state: str) -> None:
        """good: `bootname`, the slot running now, becomes the committed one (it was tried and
        works). bad changes nothing: a trial the firmware has already forgotten, and the
        committed slot is only ever replaced by another that booted and was marked good (a
        rollback by hand is a trial too: README, Updates)."""
        slot, committed = self.slot(bootname), self.committed()
        if state != "good" or slot == committed:
            return
        running = booted()
        if running is not None and running != bootname:
            raise ValueError(f"only the system running ({running}) may be marked good: "
                             f"{bootname} has not been tried")
        self._write(slot, next(s for s in self.slots if s != slot))

    def _write(self, committed: Slot, trial: Slot) -> None:
        write_in_place(self.autoboot, NAME,
                       autoboot_text(committed.boot_number, trial.boot_number))


def booted(cmdline: Path = Path("/proc/cmdline")) -> str | None:
    """The slot the kernel was started for (cmdline.txt's rauc.slot=), None if not told."""
    words = cmdline.read_text().split() if cmdline.exists() else []
    return next((w.split("=", 1)[1] for w in words if w.startswith("rauc.slot=")), None)


def boot_cmdline(cmdline: str, slot: Slot) -> str:
    """`cmdline` with `slot`'s root partition and its name for RAUC."""
    words = [w for w in cmdline.split() if not w.startswith(("root=", "rauc.slot="))]
    return " ".join([*words, f"root={slot.root}", f"rauc.slot={slot.bootname}"]) + "\n"


def write_in_place(device: str, name: str, data: bytes) -> None:
    """Replace the file `name`, of the same length as `data` and in one cluster, by writing
    its sector: a power cut leaves the old file or the new one, never none."""
    fat = Fat(device)
    if len(fat.read(name)) != len(data):
        fat.write(name, data)   # (a file a technician edited by hand)
        return
    chain = subprocess.run(["mshowfat", "-i", device, f"::{name}"], check=True,
                           capture_output=True, text=True).stdout
    cluster = int(re.search(r"<(\d+)", chain)[1])
    with open(device, "r+b") as disk:
        boot = disk.read(512)
        sector, per_cluster, reserved, fats, entries, small, _, fat16 = struct.unpack_from(
            "<HBHBHHBH", boot, 11)
        fat_size = fat16 or struct.unpack_from("<I", boot, 36)[0]
        root_sectors = (entries * 32 + sector - 1) // sector
        first_data = reserved + fats * fat_size + root_sectors
        disk.seek((first_data + (cluster - 2) * per_cluster) * sector)
        disk.write(data)
        disk.flush()
        os.fsync(disk.fileno())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drivers.tryboot", description=__doc__)
    parser.add_argument("--conf", type=Path, default=SYSTEM_CONF)
    parser.add_argument("verb", choices=("get-primary", "set-primary", "get-state",
                                         "set-state"))
    parser.add_argument("slot", nargs="?")
    parser.add_argument("state", nargs="?", choices=("good", "bad"))
    args = parser.parse_args(argv)
    try:
        tryboot = Tryboot(args.conf)
        if args.verb == "get-primary":
            print(tryboot.get_primary())
        elif args.verb == "get-state":
            print(tryboot.get_state(args.slot))
        elif args.verb == "set-primary":
            tryboot.set_primary(args.slot)
        else:
            tryboot.set_state(args.slot, args.state)
    except (OSError, ValueError, KeyError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", None)
        print(f"tryboot {args.verb}: {exc}{': ' + detail.decode().strip() if detail else ''}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
