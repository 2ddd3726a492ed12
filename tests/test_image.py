"""tools/flash.py build and update, on image files: the image a technician writes to a card,
and updates that the board keeps only once the appliance on them has said it works.

The base is a small stand-in for Raspberry Pi OS Lite (tests/images.py). Updates run through
RAUC itself on a private D-Bus, with the built image's partitions on loop devices; a reboot
is the Raspberry Pi firmware's choice, made from autoboot.txt as its documentation says, then
handed to RAUC as the booted slot."""

from __future__ import annotations

import ast
import importlib.machinery
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from drivers.tryboot import read_autoboot
from images import SMALL, Board, attached, dump, make_base, needs_root
from tools.flashing import disk, rauc
from tools.flashing.ext4 import Ext4
from drivers.fat import Fat

ROOT = Path(__file__).resolve().parent.parent
SITE = "/opt/queue-appliance/.venv/lib/python3.11/site-packages"
PLAIN_PIN_CONFIG = re.sub(r'pin = "scrypt:[^"]*"', 'pin = "1234"',
                          (ROOT / "config" / "default.toml").read_text(), count=1)


def flash_py(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools" / "flash.py"), *args],
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("image")
    make_base(folder / "base.img")
    hall = folder / "hall.toml"
    hall.write_text(PLAIN_PIN_CONFIG)
    sizes = [f"--{name}-size={getattr(SMALL, name)}" for name in ("boot", "root", "data")]
    done = flash_py("build", str(folder / "base.img"), str(folder / "out.img"), "--yes",
                    "--keys", str(folder / "keys"), "--hostname", "hall-7",
                    "--config", str(hall), *sizes)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


def part(image: Path, number: int) -> tuple[int, int]:
    found = {int(p["node"][len(str(image)):]): p for p in disk.read_table(image)["partitions"]}
    return found[number]["start"] * disk.SECTOR, found[number]["size"] * disk.SECTOR


def slot_fs(image: Path, number: int, out: Path) -> Ext4:
    disk.extract(image, *part(image, number), out)
    return Ext4(out)


def test_the_image_has_the_layout_and_a_block_map_that_checks(built, tmp_path):
    image = built / "out.img"
    table = disk.read_table(image)
    assert table["label"] == "dos"
    kinds = [(int(p["node"][len(str(image)):]), p["type"]) for p in table["partitions"]]
    assert kinds == [(1, "c"), (2, "c"), (3, "c"), (4, "5"), (5, "83"), (6, "83"), (7, "83")]
    sizes = {n: part(image, n)[1] // disk.MIB for n in (1, 2, 3, 5, 6, 7)}
    assert sizes == {1: 8, 2: 64, 3: 64, 5: 192, 6: 192, 7: 32}
    starts = [part(image, n)[0] for n in (1, 2, 3, 5, 6, 7)]
    assert starts == sorted(starts) and starts[0] == 4 * disk.MIB
    # bmaptool checks every mapped range's checksum as it copies
    copy = subprocess.run(["bmaptool", "copy", "--bmap", str(image) + ".bmap", str(image),
                           str(tmp_path / "copy.img")], capture_output=True, text=True)
    assert copy.returncode == 0, copy.stderr
    assert not list(built.glob("*.partial")) and not list(built.glob("build-*"))


def test_the_boot_partition_sets_up_the_board_and_boots_slot_a(built):
    image = built / "out.img"
    boot = Fat(image, part(image, 2)[0])
    config = boot.read("config.txt").decode()
    assert config.startswith("dtparam=audio=on\ncamera_auto_detect=1\n")   # the stock lines
    for line in ("dtparam=spi=on", "enable_uart=1", "dtoverlay=disable-bt",
                 "dtparam=watchdog=on"):
        assert line in config.split("[all]")[-1].splitlines()
    cmdline = boot.read("cmdline.txt").decode().split()
    assert not [w for w in cmdline if w.startswith("console=serial0")]
    assert "init=/usr/lib/raspberrypi-sys-mods/firstboot" not in cmdline   # (it resizes root)
    assert {"root=/dev/mmcblk0p5", "ro", "rauc.slot=A",
            "init=/usr/lib/queue-appliance/overlay-init", "console=tty1"} <= set(cmdline)
    assert "firstrun.sh" not in boot.names() and "start4.elf" in boot.names()
    autoboot = Fat(image, part(image, 1)[0]).read("autoboot.txt")
    assert read_autoboot(autoboot) == (2, 3) and b"tryboot_a_b=1" in autoboot


def test_the_root_file_system_starts_the_appliance_read_only_with_data_on_its_own(
        built, tmp_path):
    image = built / "out.img"
    fs = slot_fs(image, 5, tmp_path / "root.ext4")
    fstab = fs.read("/etc/fstab").decode()
    assert "/dev/mmcblk0p7  /data  ext4" in fstab
    assert "/boot/firmware" not in fstab and " / " not in fstab.replace("/proc", "")
    assert b"Storage=volatile" in fs.read("/etc/systemd/journald.conf.d/queue-appliance.conf")
    assert b"RuntimeWatchdogSec=" in fs.read("/etc/systemd/system.conf.d/queue-appliance.conf")
    for unit in ("queue-appliance.service", "queue-appliance-usb.service"):
        assert fs.link_target(f"/etc/systemd/system/multi-user.target.wants/{unit}") == \
            f"/etc/systemd/system/{unit}"
        assert fs.read(f"/etc/systemd/system/{unit}") == (ROOT / "config" / unit).read_bytes()
    assert not fs.exists("/etc/systemd/system/multi-user.target.wants/"
                         "queue-hall-screen.service")   # (no --screen)
    assert fs.link_target("/etc/systemd/system/userconfig.service") == "/dev/null"
    passwd = fs.read("/etc/passwd").decode()
    assert "queue-appliance:x:" in passwd and "/data/queue" in passwd
    conf = fs.read("/etc/rauc/system.conf").decode()
    assert "bootloader=custom" in conf and "device=/dev/mmcblk0p6" in conf
    # Nothing of this box's own: one update's root file system serves every box.
    disk_id = disk.read_table(image)["id"][2:]
    for name in ("/etc/fstab", "/etc/rauc/system.conf", "/etc/hostname", "/etc/hosts"):
        text = (fs.read(name) or b"").decode()
        assert disk_id not in text and "hall-7" not in text, name
    for unit in ("queue-appliance-hostname.service", "queue-appliance-update.path"):
        assert fs.link_target(f"/etc/systemd/system/multi-user.target.wants/{unit}")
    assert fs.exists("/etc/systemd/system/queue-appliance-update.service")
    assert fs.read("/etc/rauc/ca.cert.pem") == (built / "keys" / "ca.cert.pem").read_bytes()
    assert b"queue-appliance" in fs.read("/etc/dbus-1/system.d/queue-appliance-rauc.conf")
    init = subprocess.run(["debugfs", "-R", "stat /usr/lib/queue-appliance/overlay-init",
                           str(fs.path)], capture_output=True, text=True).stdout
    assert "Mode:  0755" in init
    fs.close()


def test_the_installed_appliance_is_complete_for_the_board(built, tmp_path):
    """Every module the appliance imports is in the image or Python's own library (or the
    board's Debian packages that gpiozero and luma load lazily); compiled ones are aarch64."""
    image = built / "out.img"
    fs = slot_fs(image, 5, tmp_path / "root.ext4")
    assert fs.link_target("/opt/queue-appliance/.venv/bin/python") == "/usr/bin/python3.11"
    assert b"include-system-site-packages = true" in \
        fs.read("/opt/queue-appliance/.venv/pyvenv.cfg")
    site = dump(fs.path, SITE, tmp_path / "site")
    fs.close()
    unresolved = set()
    for package in ("firmware", "drivers", "queue_core", "media", "config"):
        for source in (site / package).rglob("*.py"):
            if "keypad" in source.parts:   # (MicroPython, for the keypads)
                continue
            for node in ast.walk(ast.parse(source.read_bytes())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module and \
                    not node.level else []
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and \
                            importlib.machinery.PathFinder.find_spec(top, [str(site)]) is None:
                        unresolved.add(f"{top} ({source.relative_to(site)})")
    assert not unresolved
    compiled = list(site.rglob("*.so"))
    assert compiled and all(b"\xb7\x00" == so.read_bytes()[18:20] for so in compiled)  # EM_AARCH64
    pure = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path[:0] = "
                           f"[{str(site)!r}]; import queue_core.hall, queue_core.statistics"],
                          capture_output=True, text=True)
    assert pure.returncode == 0, pure.stderr


def test_the_data_partition_holds_this_boxs_key_and_the_halls_configuration(built, tmp_path):
    image = built / "out.img"
    fs = slot_fs(image, 7, tmp_path / "data.ext4")
    key = built / "out.img.stick.key"
    assert fs.read("/queue/stick.key") == key.read_bytes()
    assert len(bytes.fromhex(key.read_text().strip())) == 32
    assert key.stat().st_mode & 0o777 == 0o600
    config = fs.read("/queue/config.toml").decode()
    assert 'pin = "7391"' not in config and config.count('\npin = "scrypt:') == \
        PLAIN_PIN_CONFIG.count("\npin = ")   # the plain PIN was hashed
    assert fs.exists("/rauc")
    assert fs.read("/hostname") == b"hall-7\n"   # the box's name stays the box's
    assert fs.exists("/queue/clips/chime.wav") and fs.exists("/queue/clips/zh/qing.wav")
    fs.close()


def test_a_base_that_is_no_image_fails_at_its_step_and_leaves_nothing(tmp_path):
    (tmp_path / "base.img").write_bytes(os.urandom(1 << 20))
    done = flash_py("build", str(tmp_path / "base.img"), str(tmp_path / "out.img"),
                    "--keys", str(tmp_path / "keys"))
    assert done.returncode == 2
    assert "step 1 (reading the base image) failed" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.img"]


def test_a_technicians_slips_are_refused_before_anything_is_made(built, tmp_path):
    base, image = built / "base.img", built / "out.img"
    for hostname in ("hall 7", "hall\n7", "-hall", "x" * 64, "", "Hall7"):
        done = flash_py("build", str(base), str(tmp_path / "o.img"), "--hostname", hostname)
        assert done.returncode != 0 and "--hostname" in done.stderr, hostname
    done = flash_py("setup", "pi@board", "--hostname", "hall7;reboot")   # (a shell on the box)
    assert done.returncode != 0 and "--hostname" in done.stderr and "ssh" not in done.stdout
    done = flash_py("build", str(base), str(base), "--yes")
    assert done.returncode != 0 and "not the base" in done.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[hall]\nname = 3\n")
    done = flash_py("build", str(base), str(tmp_path / "o.img"), "--config", str(bad))
    assert done.returncode != 0 and "--config" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]
    # an update signed with keys the image does not trust would re-key every box
    other = tmp_path / "other-keys"
    rauc.make_keys(other)
    done = flash_py("update", str(image), str(tmp_path / "u.raucb"), "--keys", str(other))
    assert done.returncode == 2 and "trusts another update CA" in done.stderr
    done = flash_py("update", str(image), str(image), "--keys", str(built / "keys"), "--yes")
    assert done.returncode != 0 and image.stat().st_size > 0
    assert not (tmp_path / "u.raucb").exists()


# -- updates --------------------------------------------------------------------------------

@pytest.fixture
def board(built, tmp_path):
    needs_root()
    if not shutil.which("rauc") or not shutil.which("dbus-daemon"):
        pytest.skip("needs Debian's rauc and dbus-daemon (scripts/venv.sh installs them)")
    card = tmp_path / "card.img"
    subprocess.run(["cp", "--sparse=always", str(built / "out.img"), str(card)], check=True)
    with attached(card) as device:
        board = Board(device, tmp_path, built / "keys")
        try:
            yield board
        finally:
            board.stop()
            board.bus.terminate()
            board.bus.wait(10)


@pytest.fixture(scope="module")
def bundles(built) -> dict[str, Path]:
    made = {}
    for version in ("2.0", "3.0"):
        made[version] = built / f"update-{version}.raucb"
        done = flash_py("update", str(built / "out.img"), str(made[version]), "--keys",
                        str(built / "keys"), "--version", version)
        assert done.returncode == 0, done.stderr
    return made


def test_an_update_is_tried_once_and_kept_only_when_marked_good(board, bundles):
    assert board.power_on() == "A"
    done = board.rauc("install", str(bundles["2.0"]))
    assert done.returncode == 0, done.stderr
    assert "rauc.slot=B" in board.cmdline("B") and f"root={board.device}p6" in board.cmdline("B")
    board.reboot_on_trial()
    assert board.power_on() == "B"                  # the trial boot
    assert board.rauc("status", "mark-good").returncode == 0   # the appliance on B works
    assert board.power_on() == "B"                  # and B is the system from now on
    assert board.power_on() == "B"

    # A bad update: installed to A, tried once, never marked good: the next boot is B again.
    assert board.rauc("install", str(bundles["3.0"])).returncode == 0
    board.reboot_on_trial()
    assert board.power_on() == "A"                  # (it crashes, hangs or loses power)
    assert board.power_on() == "B"
    status = board.rauc("status", "--output-format=shell").stdout
    assert "RAUC_BOOT_PRIMARY='rootfs.1'" in status

    # A rollback by hand (README) is a trial too: the other system is activated, tried once,
    # and kept only when the appliance there marks it good. Nothing commits an untried slot.
    assert board.rauc("status", "mark-bad", "booted").returncode == 0
    assert board.power_on() == "B"
    assert board.rauc("status", "mark-good", "other").returncode != 0
    assert board.rauc("status", "mark-active", "other").returncode == 0
    board.reboot_on_trial()
    assert board.power_on() == "A"
    assert board.rauc("status", "mark-good").returncode == 0
    assert board.power_on() == "A"


def test_unsigned_and_foreign_bundles_are_refused_and_change_nothing(board, built, tmp_path):
    assert board.power_on() == "A"
    before = board.slot_b_and_autoboot()
    foreign = tmp_path / "foreign"
    rauc.make_keys(foreign)
    forged = tmp_path / "forged.raucb"
    rauc.make_bundle(built / "out.img", forged, foreign, "9.9")
    unsigned = tmp_path / "unsigned.raucb"
    content = tmp_path / "content"
    content.mkdir()
    (content / "manifest.raucm").write_text(
        f"[update]\ncompatible={rauc.COMPATIBLE}\nversion=9.9\n")
    subprocess.run(["mksquashfs", str(content), str(unsigned), "-quiet"], check=True)
    for bundle in (forged, unsigned):
        done = board.rauc("install", str(bundle))
        assert done.returncode != 0
        said = (done.stdout + done.stderr).lower()
        assert "signature" in said or "verif" in said, said
    assert board.slot_b_and_autoboot() == before
    assert board.power_on() == "A"
