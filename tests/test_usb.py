"""USB sticks: noticed, mounted read-only, writable only for an export, removal noticed."""

import subprocess

import pytest

from conftest import at
from drivers.events import UsbInserted, UsbRemoved
from drivers.usb import SimUsbSticks, UsbSticks


def test_a_folder_plugged_in_and_pulled_out(tmp_path):
    posted = []
    sticks = SimUsbSticks(tmp_path / "usb", posted.append, lambda: at(9))
    sticks._poll()
    (tmp_path / "usb" / "stick").mkdir(parents=True)
    sticks._poll()
    sticks._poll()
    with sticks.writable(tmp_path / "usb" / "stick") as path:
        assert path == tmp_path / "usb" / "stick"
    (tmp_path / "usb" / "stick").rmdir()
    sticks._poll()
    stick = str(tmp_path / "usb" / "stick")
    assert posted == [UsbInserted(stick, at(9)), UsbRemoved(stick, at(9))]


class Machine:
    """A fake /sys/block and a record of the mount commands run."""

    def __init__(self, root):
        self.root, self.commands, self.refuse = root, [], set()
        (root / "sys" / "block").mkdir(parents=True)
        self.disk("sda", removable=False, usb=False)

    def disk(self, name, removable=True, usb=True, partitions=(1,)):
        real = self.root / "devices" / ("usb1/1-1/host0" if usb else "pci0/ata1") / name
        real.mkdir(parents=True)
        (real / "removable").write_text("1\n" if removable else "0\n")
        for n in partitions:
            (real / f"{name}{n}").mkdir()
        (self.root / "sys" / "block" / name).symlink_to(real)

    def unplug(self, name):
        (self.root / "sys" / "block" / name).unlink()

    def run(self, argv, **kwargs):
        self.commands.append(" ".join(argv))
        failed = argv[0] in self.refuse
        return subprocess.CompletedProcess(argv, int(failed), "", "refused" if failed else "")


@pytest.fixture
def machine(tmp_path):
    return Machine(tmp_path)


def watcher(machine, posted):
    return UsbSticks(machine.root / "mnt", posted.append, lambda: at(9),
                     sys_block=machine.root / "sys" / "block", run=machine.run)


def test_a_stick_is_mounted_read_only_and_unmounted_when_pulled(machine):
    posted = []
    usb = watcher(machine, posted)
    usb._poll()
    assert machine.commands == [] and posted == []   # the internal disk is not a stick
    machine.disk("sdb", partitions=(1, 2))
    usb._poll()
    usb._poll()
    mount = str(machine.root / "mnt")
    assert machine.commands == [f"mount -o ro,nosuid,nodev,noexec /dev/sdb1 {mount}"]
    machine.unplug("sdb")
    usb._poll()
    assert machine.commands[-1] == f"umount -l {mount}"
    assert posted == [UsbInserted(mount, at(9)), UsbRemoved(mount, at(9))]


def test_a_stick_without_partitions_is_mounted_whole(machine):
    machine.disk("sdc", partitions=())
    usb = watcher(machine, [])
    usb._poll()
    assert machine.commands[0].split()[3] == "/dev/sdc"


def test_an_export_remounts_read_write_then_read_only(machine):
    machine.disk("sdb")
    usb = watcher(machine, [])
    usb._poll()
    with usb.writable(machine.root / "mnt"):
        machine.commands.append("(export)")
    mount = str(machine.root / "mnt")
    assert machine.commands[1:] == [f"mount -o remount,rw {mount}", "(export)", "sync",
                                    f"mount -o remount,ro {mount}"]


def test_a_stick_that_will_not_mount_is_reported_not_announced(machine, caplog):
    machine.disk("sdb")
    machine.refuse.add("mount")
    posted = []
    watcher(machine, posted)._poll()
    assert posted == [] and "mount -o ro,nosuid,nodev,noexec" in caplog.text
