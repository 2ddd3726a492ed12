"""The update helper (drivers/update_install.py), run as its unit runs it, once a request: what it
refuses (answered, RAUC never called), what it installs (a copy only root can write, removed
after), and why: the appliance's file rewritten once copied changes nothing RAUC reads. Then
RAUC's D-Bus policy (config/image/rauc-dbus.conf), on a bus of its own with the real RAUC: the
appliance's user may mark its system good, and not install."""

import hashlib
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from drivers import update_install
from firmware import update
from test_update_appliance import BUNDLE, FakeRauc

ROOT = Path(__file__).parent.parent
IDENT = "0123456789abcdef" * 2
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (another user's files)")


class Box:
    """The appliance's data directory with its update folder, a fake rauc on PATH, and the
    helper's store; `run` runs the helper once, as systemd would."""

    def __init__(self, tmp_path: Path):
        self.data = tmp_path / "queue"
        self.folder = self.data / update.FOLDER
        self.folder.mkdir(parents=True, mode=0o700)
        self.store = tmp_path / "root" / "incoming"
        self.rauc = FakeRauc(tmp_path / "bin")

    def ask(self, bundle: str = "upload.raucb", data: bytes | None = BUNDLE) -> None:
        """The appliance's request for `bundle`, written with `data` unless None."""
        if data is not None:
            (self.folder / bundle).write_bytes(data)
        (self.folder / update.REQUEST).write_text(json.dumps({"bundle": bundle, "id": IDENT}))

    def run(self, user: str | None = None) -> int:
        return update_install.main(["--data", str(self.data), "--store", str(self.store),
                                    "--user", user or pwd.getpwuid(os.getuid()).pw_name])

    def result(self) -> dict:
        return json.loads((self.folder / update.RESULT).read_text())

    def left(self) -> list[str]:
        """What the update folder and the store hold besides the appliance's bundles."""
        return sorted([p.name for p in self.folder.iterdir() if not p.name.endswith(".raucb")] +
                      [p.name for p in self.store.glob("*")])


def until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


@pytest.fixture
def box(tmp_path, monkeypatch):
    found = Box(tmp_path)
    monkeypatch.setenv("PATH", f"{found.rauc.folder}{os.pathsep}{os.environ['PATH']}")
    return found


def test_a_request_is_installed_from_a_copy_only_root_can_write(box):
    box.ask()
    assert box.run() == 0
    [call] = box.rauc.calls("install")
    assert call["args"] == ["install", str(box.store / update_install.COPY)]   # not the box's
    assert call["sha256"] == hashlib.sha256(BUNDLE).hexdigest()
    assert call["owner"] == [os.geteuid(), os.getegid()] and call["mode"] == 0o600
    assert call["folder_mode"] == 0o700
    assert box.result() == {"id": IDENT, "installed": True, "reason": None}
    assert box.left() == [update.RESULT]   # request taken, copy removed
    answer = (box.folder / update.RESULT).stat()
    assert stat.S_IMODE(answer.st_mode) == 0o600 and answer.st_uid == os.getuid()


def test_rauc_s_refusal_is_the_answer_and_the_copy_is_removed(box):
    box.rauc.plan(install={"status": 1, "stderr": "Installing `x` failed: Compatible mismatch\n"})
    box.ask()
    assert box.run() == 0
    assert box.result() == {"id": IDENT, "installed": False,
                            "reason": "Installing `x` failed: Compatible mismatch"}
    assert box.left() == [update.RESULT]


@as_root
def test_the_answer_is_the_appliance_user_s_and_the_copy_root_s(box):
    nobody = pwd.getpwnam("nobody")
    box.ask()
    assert box.run("nobody") == 0
    [call] = box.rauc.calls("install")
    assert call["owner"] == [0, 0] and call["mode"] == 0o600
    answer = (box.folder / update.RESULT).stat()
    assert (answer.st_uid, answer.st_gid) == (nobody.pw_uid, nobody.pw_gid)
    assert stat.S_IMODE(answer.st_mode) == 0o600


def test_the_bundle_rewritten_once_copied_changes_nothing_rauc_reads(box, tmp_path):
    """The tester's swap: the appliance's user holds its bundle open and rewrites it (and
    renames another file over it) after the check, while RAUC installs."""
    go = tmp_path / "go"
    box.rauc.plan(install={"pause": str(go)})
    box.ask()
    evil = b"a system signed by anyone" * 1000
    with open(box.folder / "upload.raucb", "r+b") as held:   # opened before the helper runs
        helper = threading.Thread(target=box.run)
        helper.start()
        until(lambda: (box.rauc.folder / "paused").exists())
        held.write(evil)
        held.truncate()
    (tmp_path / "other").write_bytes(evil)
    os.replace(tmp_path / "other", box.folder / "upload.raucb")
    go.touch()
    helper.join(10)
    assert (box.folder / "upload.raucb").read_bytes() == evil   # the swap was made...
    [call] = box.rauc.calls("install")
    assert call["sha256"] == hashlib.sha256(BUNDLE).hexdigest()   # ...and RAUC never saw it
    assert box.result()["installed"] is True and box.left() == [update.RESULT]


def link(box: Box, tmp_path: Path) -> None:
    (tmp_path / "elsewhere.raucb").write_bytes(BUNDLE)
    os.symlink(tmp_path / "elsewhere.raucb", box.folder / "upload.raucb")
    box.ask(data=None)


def request_link(box: Box, tmp_path: Path) -> None:
    box.ask()
    os.rename(box.folder / update.REQUEST, tmp_path / "request")
    os.symlink(tmp_path / "request", box.folder / update.REQUEST)


def request_folder(box: Box, tmp_path: Path) -> None:
    box.ask()
    os.rename(box.folder / update.REQUEST, tmp_path / "request")
    (box.folder / update.REQUEST / "inside").mkdir(parents=True)
    os.rename(tmp_path / "request", box.folder / update.REQUEST / "inside" / "request")


@pytest.mark.parametrize("how, reason, answered", [
    ("a link", "upload.raucb is not a file but a link or something else: refused", True),
    ("a FIFO", "upload.raucb is not a regular file: refused", True),
    ("a folder", "upload.raucb is not a regular file: refused", True),
    ("missing", "upload.raucb is not in the update folder", True),
    ("a name with /", "the request names no bundle of the update folder ('../queue/x')", True),
    ("a hidden name", "the request names no bundle of the update folder ('.x')", True),
    ("a hard link", "upload.raucb has other names (hard links): refused", True),
    ("too large", "upload.raucb has 262144 bytes, more than the 1000 allowed: refused", True),
    ("no room", "the data partition has no room for the copy of upload.raucb", True),
    ("a request that is a link", "request is not a file but a link or something else", False),
    ("a request that is a folder", "request is not a regular file: refused", False),
    ("a request too large", "request has 5000 bytes, more than the 4096 allowed", False),
    ("a request that is no JSON", "the request is not JSON naming a bundle and an id", False)])
def test_a_request_the_helper_refuses_is_answered_and_rauc_never_called(
        box, tmp_path, monkeypatch, how, reason, answered):
    if how == "a link":
        link(box, tmp_path)
    elif how == "a FIFO":
        os.mkfifo(box.folder / "upload.raucb")
        box.ask(data=None)
    elif how == "a folder":
        (box.folder / "upload.raucb").mkdir()
        box.ask(data=None)
    elif how == "missing":
        box.ask(data=None)
    elif how == "a name with /":
        box.ask("../queue/x", data=None)
    elif how == "a hidden name":
        box.ask(".x", data=None)
    elif how == "a hard link":
        box.ask()
        os.link(box.folder / "upload.raucb", tmp_path / "elsewhere")
    elif how == "too large":
        monkeypatch.setattr(update, "MAX_BUNDLE", 1000)
        box.ask()
    elif how == "no room":
        monkeypatch.setattr(update, "RESERVE", 1 << 60)
        box.ask()
    elif how == "a request that is a link":
        request_link(box, tmp_path)
    elif how == "a request that is a folder":
        request_folder(box, tmp_path)
    else:
        box.ask()
        (box.folder / update.REQUEST).write_bytes(b"x" * 5000 if "large" in how else b"{nonsense")
    assert box.run() == 0
    assert box.rauc.calls() == []
    answer = box.result()
    assert answer["id"] == (IDENT if answered else None) and answer["installed"] is False
    assert answer["reason"].startswith(reason), answer["reason"]
    assert box.left() == [update.RESULT]   # the request removed, whatever it was; no copy
    if how == "a request that is a link":
        assert json.loads((tmp_path / "request").read_text())["id"] == IDENT   # not followed


def test_no_update_while_the_system_running_is_on_trial(box, tmp_path, monkeypatch):
    """Started on B for its trial (the kernel's rauc.slot=B), autoboot.txt still committing A:
    an update would write A, the system the box falls back to."""
    (tmp_path / "system.conf").write_text("[system]\n")
    monkeypatch.setattr(update, "SYSTEM_CONF", tmp_path / "system.conf")
    monkeypatch.setattr(update_install.tryboot, "booted", lambda: "B")
    monkeypatch.setattr(update_install.tryboot.Tryboot, "__init__", lambda self, conf: None)
    monkeypatch.setattr(update_install.tryboot.Tryboot, "get_primary", lambda self: "A")
    box.ask()
    assert box.run() == 0
    assert box.rauc.calls() == []
    answer = box.result()
    assert answer["installed"] is False and "on trial" in answer["reason"]
    monkeypatch.setattr(update_install.tryboot, "booted", lambda: "A")   # once committed
    box.ask()
    assert box.run() == 0 and box.result()["installed"] is True


def test_no_request_no_answer(box):
    assert box.run() == 0
    shutil.rmtree(box.folder)
    assert box.run() == 0
    assert box.rauc.calls() == [] and not box.folder.exists()


def test_an_update_folder_that_is_a_link_is_not_entered(box, tmp_path):
    box.ask()
    os.rename(box.folder, tmp_path / "elsewhere")
    os.symlink(tmp_path / "elsewhere", box.folder)
    assert box.run() == 1
    assert box.rauc.calls() == []
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == \
        [update.REQUEST, "upload.raucb"]   # nothing taken, nothing answered there


def test_an_answer_replaces_a_link_in_its_place_and_never_follows_it(box, tmp_path):
    (tmp_path / "target").write_text("kept")
    os.symlink(tmp_path / "target", box.folder / update.RESULT)
    box.ask()
    assert box.run() == 0
    assert (tmp_path / "target").read_text() == "kept"
    assert box.result()["installed"] is True and not (box.folder / update.RESULT).is_symlink()


def test_rauc_is_stopped_at_the_helper_s_deadline(box, tmp_path, monkeypatch):
    monkeypatch.setattr(update, "INSTALL_SECONDS", 1.0)
    box.rauc.plan(install={"hold": str(tmp_path / "never")})
    box.ask()
    assert box.run() == 0
    assert box.result()["reason"] == "the installation did not finish within 1 s and rauc was" \
        " stopped (RAUC's service may still be at work)"
    with pytest.raises(ProcessLookupError):
        os.kill(box.rauc.calls()[0]["pid"], 0)
    assert box.left() == [update.RESULT]


def test_the_helper_stopped_while_rauc_installs_removes_its_copy(box, tmp_path):
    """As at the reboot RAUC's post-install handler starts: systemd stops the helper."""
    box.rauc.plan(install={"hold": str(tmp_path / "never")})
    box.ask()
    helper = subprocess.Popen(
        [sys.executable, "-m", "drivers.update_install", "--data", str(box.data), "--store",
         str(box.store), "--user", pwd.getpwuid(os.getuid()).pw_name], cwd=ROOT,
        stderr=subprocess.PIPE, text=True)
    until(lambda: box.rauc.calls("install"))
    assert (box.store / update_install.COPY).exists()
    helper.terminate()
    assert helper.wait(10) == 1 and "stopped by signal 15" in helper.stderr.read()
    assert box.left() == []   # the copy removed; no answer (the appliance stops as well)
    with pytest.raises(ProcessLookupError):   # rauc's client too (not RAUC's service)
        os.kill(box.rauc.calls()[0]["pid"], 0)


# -- RAUC's D-Bus policy ----------------------------------------------------------------------

RAUC_POLICY = Path("/usr/share/dbus-1/system.d/de.pengutronix.rauc.conf")   # RAUC's own
BUS = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <auth>EXTERNAL</auth>
  <listen>unix:path={folder}/bus</listen>
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
  </policy>
  <include>{rauc}</include>
  <include>{ours}</include>
</busconfig>
"""
SYSTEM_CONF = """[system]
compatible=queue-appliance-test
bootloader=noop
mountprefix={folder}/mnt
statusfile={folder}/status.raucs

[slot.rootfs.0]
device={folder}/a.img
type=raw
bootname=A

[slot.rootfs.1]
device={folder}/b.img
type=raw
bootname=B
"""


@pytest.fixture
def system_bus():
    """A system bus of its own (the system's rules, RAUC's policy and ours, for `nobody` in
    place of the appliance's user, as the image installs them: ours after RAUC's) with the real
    RAUC service on it (noop bootloader, booted from A). Yields the environment that reaches
    it, and a folder everyone may read."""
    tools = ("rauc", "dbus-daemon", "dbus-send", "setpriv")
    if os.geteuid() != 0 or not all(map(shutil.which, tools)) or not RAUC_POLICY.exists():
        pytest.skip("needs root, rauc, dbus-daemon, dbus-send, setpriv and RAUC's D-Bus policy")
    with tempfile.TemporaryDirectory() as made:   # (pytest's tmp_path: `nobody` cannot enter)
        os.chmod(made, 0o755)
        yield from _system_bus(Path(made))


def _system_bus(folder: Path):
    (folder / "mnt").mkdir(parents=True)
    for slot in ("a.img", "b.img"):
        (folder / slot).write_bytes(bytes(1 << 16))
    policy = (ROOT / "config/image/rauc-dbus.conf").read_text()
    (folder / "ours.conf").write_text(policy.replace('user="queue-appliance"', 'user="nobody"'))
    (folder / "bus.conf").write_text(BUS.format(folder=folder, rauc=RAUC_POLICY,
                                                ours=folder / "ours.conf"))
    (folder / "system.conf").write_text(SYSTEM_CONF.format(folder=folder))
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={folder}/bus"}
    env.pop("DBUS_STARTER_BUS_TYPE", None)
    started = []
    try:
        started.append(subprocess.Popen(   # (it says it may not raise its fd limit: no matter)
            ["dbus-daemon", "--nofork", f"--config-file={folder}/bus.conf"],
            stderr=subprocess.DEVNULL))
        until(lambda: (folder / "bus").exists())
        started.append(subprocess.Popen(
            ["rauc", f"--conf={folder}/system.conf", "service", "--override-boot-slot=A"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 10
        while rauc(env, "status").returncode != 0:
            assert time.monotonic() < deadline, "RAUC's service did not start"
            time.sleep(0.1)
        yield env, folder
    finally:
        for process in reversed(started):
            process.terminate()
            process.wait(10)


def rauc(env: dict, *args: str, user: str | None = None) -> subprocess.CompletedProcess:
    """The real rauc's command line, as `user` (default: root)."""
    who = [] if user is None else ["setpriv", f"--reuid={pwd.getpwnam(user).pw_uid}",
                                   f"--regid={pwd.getpwnam(user).pw_gid}", "--clear-groups"]
    return subprocess.run([*who, shutil.which("rauc"), *args], env=env, capture_output=True,
                          text=True, timeout=30)


def test_the_appliance_s_user_may_mark_its_system_good_and_not_install(system_bus):
    system_bus, folder = system_bus
    marked = rauc(system_bus, "status", "mark-good", user="nobody")
    assert marked.returncode == 0, marked.stderr
    assert "marked slot rootfs.0 as good" in marked.stdout
    bundle = folder / "bundle.raucb"
    bundle.write_bytes(BUNDLE)
    bundle.chmod(0o644)
    refused = rauc(system_bus, "install", str(bundle), user="nobody")
    assert refused.returncode != 0 and "AccessDenied" in refused.stderr, refused.stderr
    for method, argument in (("Install", f"string:{bundle}"), ("Info", f"string:{bundle}")):
        sent = subprocess.run(
            ["setpriv", f"--reuid={pwd.getpwnam('nobody').pw_uid}", "--clear-groups",
             f"--regid={pwd.getpwnam('nobody').pw_gid}", "dbus-send", "--system",
             "--print-reply", "--dest=de.pengutronix.rauc", "/",
             f"de.pengutronix.rauc.Installer.{method}", argument],
            env=system_bus, capture_output=True, text=True, timeout=30)
        assert sent.returncode != 0 and "AccessDenied" in sent.stderr, (method, sent.stderr)
    tried = rauc(system_bus, "install", str(bundle))   # root: RAUC itself refuses the bundle
    assert tried.returncode != 0 and "AccessDenied" not in tried.stdout + tried.stderr
    assert "LastError" in tried.stdout, tried.stdout
