"""tools/flash.py build on a real arm64 Debian root (made by mmdebstrap, as Raspberry Pi OS is
Debian for arm64), its programs run under qemu-user: the Debian packages the appliance needs
are installed in the image, the appliance starts from the image's own venv on the board's
Python as its unit starts it, and the root stays read-only under its overlay init."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from drivers.tryboot import read_autoboot
from images import attached, make_base, needs_root
from tools.flashing import disk
from drivers.fat import Fat

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(1500)   # (Debian is downloaded and installed first: minutes)
DEBIAN = ["--architectures=arm64", "--variant=minbase",
          "--include=python3,systemd-sysv,dbus,kmod,udev,util-linux", "bookworm"]


def needs_arm64() -> None:
    needs_root()
    binfmt = Path("/proc/sys/fs/binfmt_misc")
    if not (binfmt / "status").exists():
        subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(binfmt)],
                       capture_output=True)
    if not (binfmt / "qemu-aarch64").exists():
        subprocess.run(["update-binfmts", "--enable", "qemu-aarch64"], capture_output=True)
    if not (binfmt / "qemu-aarch64").exists():
        pytest.skip("arm64 programs cannot run here: qemu-user-static's binfmt handler is not "
                    "registered (scripts/venv.sh installs qemu-user-static binfmt-support)")


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    needs_arm64()
    folder = tmp_path_factory.mktemp("arm64")
    root = folder / "debian"
    root.mkdir()
    made = subprocess.run(["mmdebstrap", "--quiet", *DEBIAN, str(folder / "debian.tar")],
                          capture_output=True, text=True, timeout=900)
    assert made.returncode == 0, made.stderr[-2000:]
    subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-xf",
                    str(folder / "debian.tar")], check=True)
    assert "Package: rauc\n" not in (root / "var/lib/dpkg/status").read_text()   # (build adds it)
    make_base(folder / "base.img", root, root_mib=1024)
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "flash.py"), "build", "--yes",
                           str(folder / "base.img"), str(folder / "out.img"), "--keys",
                           str(folder / "keys"), "--boot-size=64", "--root-size=1536",
                           "--data-size=448"], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Debian packages: rauc rauc-service mtools openssl fonts-unifont" in done.stdout
    return folder / "out.img"


@contextmanager
def board_root(image: Path, work: Path) -> Iterator[Path]:
    """The image's root A (a copy), mounted with its data partition at /data, as the board
    would see them; /proc, /sys and /dev are this machine's."""
    table = {int(p["node"][len(str(image)):]): p for p in disk.read_table(image)["partitions"]}
    for number, name in ((5, "root.ext4"), (7, "data.ext4")):
        disk.extract(image, table[number]["start"] * disk.SECTOR,
                     table[number]["size"] * disk.SECTOR, work / name)
    root = work / "mnt"
    root.mkdir()
    mounts = [(work / "root.ext4", root, ["-o", "loop"]),
              (work / "data.ext4", root / "data", ["-o", "loop"])]
    mounts += [(Path(f"/{name}"), root / name, ["--bind"]) for name in ("proc", "sys", "dev")]
    done = []
    try:
        for source, target, options in mounts:
            subprocess.run(["mount", *options, str(source), str(target)], check=True)
            done.append(target)
        yield root
    finally:
        for target in reversed(done):
            subprocess.run(["umount", str(target)], capture_output=True)


def test_the_packages_the_appliance_needs_are_in_the_image(image, tmp_path):
    with board_root(image, tmp_path) as root:
        status = (root / "var/lib/dpkg/status").read_text()
        for package in ("rauc", "rauc-service", "mtools", "openssl", "fonts-unifont"):
            assert f"Package: {package}\nStatus: install ok installed" in status
        assert (root / "usr/share/fonts/opentype/unifont/unifont.otf").exists()
        assert not (root / "usr/sbin/policy-rc.d").exists()   # (only while apt ran)


def test_the_appliance_starts_from_the_image_on_the_boards_python(image, tmp_path):
    """As config/queue-appliance.service starts it: its user, its data partition (chowned by
    the unit's ExecStartPre), no console; it reaches READY, its back office (with the box's
    own certificate, made by openssl) comes up, and SIGTERM stops it cleanly."""
    with board_root(image, tmp_path) as root:
        subprocess.run(["chroot", str(root), "chown", "-R", "queue-appliance:queue-appliance",
                        "/data/queue"], check=True)
        log = run_appliance(root, until="back office at")
        assert "ready in" in log and "loop stopped" in log and "Traceback" not in log
        assert (root / "data/queue/queue.db").exists()
        assert os.stat(root / "data/queue/queue.db").st_uid != 0


def run_appliance(root: Path, until: str) -> str:
    """The appliance of the root file system `root` started as its unit starts it (its user,
    /data/queue, no console) until it logs `until`, then stopped with SIGTERM: its log."""
    box = subprocess.Popen(
        ["chroot", "--userspec=queue-appliance:queue-appliance", str(root),
         "/opt/queue-appliance/.venv/bin/queue-appliance", "--data-dir", "/data/queue",
         "--hardware", "sim"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "INVOCATION_ID": "test",
             "HOME": "/data/queue"})
    said = []
    try:
        deadline = time.monotonic() + 120
        while not any(until in line for line in said):
            assert time.monotonic() < deadline, "".join(said)
            if select.select([box.stderr], [], [], 1)[0]:
                line = box.stderr.readline()
                assert line, "".join(said)
                said.append(line)
        box.send_signal(signal.SIGTERM)
        said += box.stderr.readlines()
        assert box.wait(30) == 0, "".join(said)
    finally:
        if box.poll() is None:
            box.kill()
    return "".join(said)


def test_the_root_stays_read_only_under_the_overlay_init(image, tmp_path):
    """The kernel's init=, run in a mount namespace on the read-only root: what the system
    then writes goes to memory, and the root file system is left as it was."""
    with board_root(image, tmp_path) as root:
        init = root / "sbin/init"
        init.unlink()   # (systemd, in this copy, replaced by a probe)
        init.write_text("#!/bin/sh\nmount -t proc proc /proc\necho \"args: $*\"\n"
                        "touch /written && echo written\ncat /proc/self/mountinfo\n")
        init.chmod(0o755)
        subprocess.run(["umount", str(root / "data")], check=True)
        for name in ("proc", "sys", "dev"):
            subprocess.run(["umount", str(root / name)], check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(root)], check=True)
        ran = subprocess.run(["unshare", "--mount", "--propagation", "private", "--fork",
                              "chroot", str(root), "/usr/lib/queue-appliance/overlay-init",
                              "quiet"], capture_output=True, text=True, timeout=60)
        assert "args: quiet" in ran.stdout and "written" in ran.stdout, ran.stdout + ran.stderr
        mounts = {line.split()[4]: line.split(" - ")[1] for line in ran.stdout.splitlines()
                  if " - " in line}
        assert mounts["/"].startswith("overlay overlay rw")
        assert mounts["/run/overlay"].startswith("ext4") and " ro" in mounts["/run/overlay"]
        assert not (root / "written").exists()


@contextmanager
def as_sd_card(device: str) -> Iterator[None]:
    """The card's partitions where the image's RAUC configuration and fstab look for them, the
    board's SD card (/dev/mmcblk0p1 …), as links to the loop device's (this machine has none)."""
    if Path("/dev/mmcblk0").exists():
        pytest.skip("this machine has an SD card of its own, /dev/mmcblk0")
    links = [Path(f"/dev/mmcblk0p{n}") for n in (1, 2, 3, 5, 6, 7)]
    try:
        for link in links:
            link.symlink_to(f"{device}p{link.name.rsplit('p', 1)[1]}")
        yield
    finally:
        for link in links:
            link.unlink(missing_ok=True)


@contextmanager
def system(card: Path, number: int, bootname: str, work: Path) -> Iterator[Path]:
    """The card's system whose root is partition `number`, started as the firmware started
    `bootname`: its root and the data partition mounted (on loop devices of their own: RAUC
    cannot tell its slots while a partition of the card's own loop device is mounted), its
    system D-Bus and RAUC's service running as root, and systemctl a recorder (this is no
    booted system)."""
    table = {int(p["node"][len(str(card)):]): p for p in disk.read_table(card)["partitions"]}
    root = work / f"system-{bootname}"
    root.mkdir()
    loops, mounts, daemons = [], [], []

    def attach(number: int) -> str:
        part = table[number]
        loops.append(subprocess.run(
            ["losetup", "-f", "--show", "-o", str(part["start"] * disk.SECTOR), "--sizelimit",
             str(part["size"] * disk.SECTOR), str(card)], check=True, capture_output=True,
            text=True).stdout.strip())
        return loops[-1]

    def mount(*args: str) -> None:
        subprocess.run(["mount", *args], check=True)
        mounts.append(args[-1])
    try:
        mount(attach(number), str(root))
        mount(attach(7), str(root / "data"))
        for name in ("proc", "sys", "dev"):
            mount("--bind", f"/{name}", str(root / name))
        recorder = root / "usr/bin/systemctl"
        recorder.unlink()
        recorder.write_text("#!/bin/sh\necho \"$@\" >> /run/systemctl.calls\n")
        recorder.chmod(0o755)
        for stale in ("run/dbus/pid", "run/dbus/system_bus_socket"):
            (root / stale).unlink(missing_ok=True)
        (root / "run/dbus").mkdir(parents=True, exist_ok=True)
        (root / "mnt/rauc").mkdir(parents=True, exist_ok=True)
        daemons.append(subprocess.Popen(["chroot", str(root), "dbus-daemon", "--system",
                                         "--nofork"], stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 30
        while not (root / "run/dbus/system_bus_socket").exists():
            assert time.monotonic() < deadline, "the system D-Bus did not start"
            time.sleep(0.1)
        daemons.append(subprocess.Popen(["chroot", str(root), "rauc", "service",
                                         f"--override-boot-slot={bootname}"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        while subprocess.run(["chroot", str(root), "rauc", "status"],
                             capture_output=True).returncode:
            assert time.monotonic() < deadline + 30, "RAUC's service did not start"
            time.sleep(0.5)
        yield root
    finally:
        for daemon in reversed(daemons):
            daemon.terminate()
            daemon.wait(30)
        for target in reversed(mounts):
            subprocess.run(["umount", target], capture_output=True)
        for loop in loops:
            subprocess.run(["losetup", "-d", loop], capture_output=True)


def test_an_update_installed_by_the_appliance_is_kept_once_the_appliance_on_it_works(
        image, tmp_path):
    """The whole way on the image's own programs: the appliance's request for a bundle made by
    `update` (its user may not ask RAUC to install: the image's D-Bus policy) is installed by
    the root helper from its own copy; the post-install handler reboots on trial; the firmware
    boots B once; the appliance on B reaches READY, checks itself and, allowed that much, marks
    B good; autoboot.txt now boots B."""
    bundle = tmp_path / "update.raucb"
    made = subprocess.run([sys.executable, str(ROOT / "tools" / "flash.py"), "update",
                           str(image), str(bundle), "--keys", str(image.parent / "keys"),
                           "--version", "2.0"], capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr
    card = tmp_path / "card.img"
    subprocess.run(["cp", "--sparse=always", str(image), str(card)], check=True)
    with attached(card) as device, as_sd_card(device):
        with system(card, 5, "A", tmp_path) as root:
            folder = root / "data/queue/update"   # what the appliance writes for an upload
            folder.mkdir(mode=0o700)
            subprocess.run(["cp", str(bundle), str(folder / "upload.raucb")], check=True)
            (folder / "request").write_text('{"bundle": "upload.raucb", "id": "1"}')
            subprocess.run(["chroot", str(root), "chown", "-R",
                            "queue-appliance:queue-appliance", "/data/queue"], check=True)
            # Its user may mark its system good, and nothing more of RAUC; nor may anyone else.
            for user, command in (("queue-appliance", ["install", "/data/queue/update/upload."
                                                       "raucb"]), ("nobody", ["status"])):
                refused = subprocess.run(["chroot", f"--userspec={user}", str(root), "rauc",
                                          *command], capture_output=True, text=True)
                assert refused.returncode != 0 and "Rejected send message" in refused.stderr
            # What queue-appliance-update.path starts on the request: the root helper.
            helper = subprocess.run(
                ["chroot", str(root), "/opt/queue-appliance/.venv/bin/python", "-m",
                 "drivers.update_install", "--data", "/data/queue", "--user", "queue-appliance"],
                capture_output=True, text=True, timeout=600)
            result = json.loads((folder / "result").read_text())
            assert result["id"] == "1" and result["installed"], (result, helper.stderr)
            assert os.stat(folder / "result").st_uid != 0   # (the appliance's to read)
            assert (root / "run/systemctl.calls").read_text() == "reboot 0 tryboot\n"
        assert read_autoboot(Fat(f"{device}p1").read("autoboot.txt")) == (2, 3)
        cmdline = Fat(f"{device}p3").read("cmdline.txt").decode().split()
        assert "root=/dev/mmcblk0p6" in cmdline and "rauc.slot=B" in cmdline
        with system(card, 6, "B", tmp_path) as root:   # the firmware's [tryboot] partition
            log = run_appliance(root, until="this system is")
        assert "this system is marked good" in log, log
        assert read_autoboot(Fat(f"{device}p1").read("autoboot.txt")) == (3, 2)
