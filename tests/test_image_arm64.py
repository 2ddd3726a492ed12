"""tools/flash.py build on a real arm64 Debian root (made by mmdebstrap, as Raspberry Pi OS is
Debian for arm64), its programs run under qemu-user: the Debian packages the appliance needs
are installed in the image, the appliance starts from the image's own venv on the board's
Python as its unit starts it, and the root stays read-only under its overlay init."""

from __future__ import annotations

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

from images import make_base, needs_root
from tools.flashing import disk

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
                           "--data-size=64"], capture_output=True, text=True, timeout=1200)
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
            while not any("back office at" in line for line in said):
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
        log = "".join(said)
        assert "ready in" in log and "loop stopped" in log and "Traceback" not in log
        assert (root / "data/queue/queue.db").exists()
        assert os.stat(root / "data/queue/queue.db").st_uid != 0


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
