"""USB sticks: the helper mounts only vfat and exfat, for the appliance's user, and unmounts
them when pulled out; the appliance notices the mount come and go."""

import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import at
from drivers.events import UsbInserted, UsbRemoved
from drivers.usb import SimUsbSticks, UsbSticks, mounted
from drivers.usb_mount import StickMounter, serve

VFAT = "rw,nosuid,nodev,noexec,noatime,uid=1001,gid=1002,fmask=0177,dmask=0077"


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
    """A fake /sys/block and mount table, and a record of the commands run: blkid reports each
    disk's file system, mount and umount change the table."""

    def __init__(self, root):
        self.root, self.commands, self.kinds, self.refuse = root, [], {}, set()
        self.then = lambda: None   # what happens right after a mount
        self.mnt = root / "run" / "stick"
        self.mountinfo = root / "mountinfo"
        self.mountinfo.write_text("22 1 0:21 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw\n")
        (root / "sys" / "block").mkdir(parents=True)
        self.disk("sda", removable=False, usb=False)

    def disk(self, name, removable=True, usb=True, partitions=(1,), kind="vfat"):
        real = self.root / "devices" / ("usb1/1-1/host0" if usb else "pci0/ata1") / name
        real.mkdir(parents=True, exist_ok=True)
        (real / "removable").write_text("1\n" if removable else "0\n")
        for n in partitions:
            (real / f"{name}{n}").mkdir(exist_ok=True)
            self.kinds[f"/dev/{name}{n}"] = kind
        self.kinds[f"/dev/{name}"] = kind
        (self.root / "sys" / "block" / name).symlink_to(real)

    def unplug(self, name):
        (self.root / "sys" / "block" / name).unlink()

    def run(self, argv, **kwargs):
        self.commands.append(" ".join(argv))
        if argv[0] in self.refuse:
            return subprocess.CompletedProcess(argv, 1, "", "refused")
        if argv[0] == "blkid":
            kind = self.kinds[argv[-1]]
            return subprocess.CompletedProcess(argv, 0 if kind else 2, f"{kind}\n", "")
        point = argv[-1].replace(" ", "\\040")
        if argv[0] == "mount":
            with self.mountinfo.open("a") as table:
                table.write(f"99 22 8:17 / {point} rw - {argv[2]} {argv[-2]} rw\n")
            self.then()
        if argv[0] == "umount":
            lines = self.mountinfo.read_text().splitlines(keepends=True)
            self.mountinfo.write_text("".join(line for line in lines if f" {point} " not in line))
        return subprocess.CompletedProcess(argv, 0, "", "")


@pytest.fixture
def machine(tmp_path):
    return Machine(tmp_path)


def helper(machine):
    return StickMounter(1001, 1002, machine.mnt, machine.root / "sys" / "block", machine.mountinfo,
                        run=machine.run)


def test_a_vfat_stick_is_mounted_for_the_appliance_and_unmounted_when_pulled(machine):
    mounter = helper(machine)
    mounter.poll()
    assert machine.commands == []   # the internal disk is not a stick
    machine.disk("sdb", partitions=(1, 2))
    mounter.poll()
    mounter.poll()
    assert machine.commands == [
        "blkid -p -o value -s TYPE /dev/sdb1",
        f"mount -t vfat -o {VFAT},flush /dev/sdb1 {machine.mnt}"]
    assert mounted(machine.mnt, machine.mountinfo)
    machine.unplug("sdb")
    mounter.poll()
    assert machine.commands[2:] == [f"umount -l {machine.mnt}"]
    assert not mounted(machine.mnt, machine.mountinfo)


def test_an_exfat_stick_is_mounted_without_flush_and_a_bare_disk_whole(machine):
    machine.disk("sdc", partitions=(), kind="exfat")
    helper(machine).poll()
    assert machine.commands[-1] == f"mount -t exfat -o {VFAT} /dev/sdc {machine.mnt}"


@pytest.mark.parametrize("kind", ["ext4", "ntfs", "iso9660", ""])
def test_any_other_file_system_or_a_failed_probe_is_logged_never_mounted(machine, caplog, kind):
    machine.disk("sdb", kind=kind)
    mounter = helper(machine)
    mounter.poll()
    mounter.poll()   # not probed again while it stays in
    assert machine.commands == ["blkid -p -o value -s TYPE /dev/sdb1"]
    assert f"/dev/sdb1 not mounted: its file system is {kind or 'unknown'}" in caplog.text
    machine.disk("sdd")   # a good stick beside it
    mounter.poll()
    assert machine.commands[-1] == f"mount -t vfat -o {VFAT},flush /dev/sdd1 {machine.mnt}"


def test_a_stick_that_will_not_mount_is_reported_and_left_alone(machine, caplog):
    machine.disk("sdb")
    machine.refuse.add("mount")
    mounter = helper(machine)
    mounter.poll()
    mounter.poll()
    assert [c.split()[0] for c in machine.commands] == ["blkid", "mount"]
    assert "mount -t vfat" in caplog.text and "refused" in caplog.text
    machine.unplug("sdb")
    mounter.poll()
    machine.refuse.clear()
    machine.disk("sdb")   # plugged in again: tried again
    mounter.poll()
    assert mounted(machine.mnt, machine.mountinfo)


@pytest.fixture
def signals():
    """serve() installs its own SIGTERM and SIGINT handlers: pytest's are put back after."""
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    yield
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def test_the_helper_unmounts_a_stale_stick_at_start_and_its_own_on_sigterm(machine, signals):
    machine.run(["mount", "-t", "vfat", "/dev/sdz1", str(machine.mnt)])   # a killed helper's
    machine.disk("sdb")
    machine.then = lambda: os.kill(os.getpid(), signal.SIGTERM)   # stopped once it has mounted
    assert serve(helper(machine), interval=0.01) == 0
    assert [c.split()[0] for c in machine.commands] == \
        ["mount", "umount", "blkid", "mount", "umount"]
    assert not mounted(machine.mnt, machine.mountinfo)


def appliance(machine, posted):
    return UsbSticks(machine.mnt, posted.append, lambda: at(9), mountinfo=machine.mountinfo)


def test_the_appliance_announces_the_mount_coming_and_going(machine):
    posted = []
    usb = appliance(machine, posted)
    usb._poll()
    machine.run(["mount", "-t", "vfat", "/dev/sdb1", str(machine.mnt)])
    usb._poll()
    usb._poll()
    with usb.writable(machine.mnt) as path:
        assert path == machine.mnt
    machine.run(["umount", "-l", str(machine.mnt)])
    usb._poll()
    stick = str(machine.mnt)
    assert posted == [UsbInserted(stick, at(9)), UsbRemoved(stick, at(9))]
    with pytest.raises(OSError, match="no USB stick"):
        with usb.writable(machine.mnt):
            pass


def test_a_mount_point_with_a_space_is_read_from_its_escaped_form(tmp_path):
    table = tmp_path / "mountinfo"
    table.write_text("37 22 8:18 / /run/usb rw - vfat /dev/sdc1 rw\n")
    posted = []
    usb = UsbSticks(Path("/run/usb stick"), posted.append, lambda: at(9), mountinfo=table)
    usb._poll()
    with table.open("a") as f:
        f.write("36 22 8:17 / /run/usb\\040stick rw,nosuid - vfat /dev/sdb1 rw\n")
    usb._poll()
    assert posted == [UsbInserted("/run/usb stick", at(9))]
    assert not mounted(Path("/run/usb\\040stick"), table)
