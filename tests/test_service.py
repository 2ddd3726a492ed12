"""The appliance as its systemd unit runs it: the unit's own command line, stdin on /dev/null,
an unprivileged user, a console on the socket, one process per data directory."""

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from firmware import boot

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "config" / "queue-appliance.service"
NOBODY = 65534


def exec_start(data_dir: Path) -> list[str]:
    """The unit's ExecStart, with this checkout's venv and `data_dir` in place of the board's."""
    line = re.search(r"^ExecStart=(.*)$", UNIT.read_text(), re.M)[1]
    argv = shlex.split(line)
    assert argv[0] == "/opt/queue-appliance/.venv/bin/queue-appliance"
    assert argv[argv.index("--data-dir") + 1] == "/data/queue"
    argv[0] = str(Path(sys.executable).parent / "queue-appliance")
    argv[argv.index("--data-dir") + 1] = str(data_dir)
    return argv


def as_nobody() -> list[str]:
    """setpriv to an unprivileged user when this runs as root and that user can run Python
    from this checkout; else nothing (the test then runs as the current user)."""
    if os.geteuid() != 0:
        return []
    prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    probe = subprocess.run(prefix + [sys.executable, "-c", f"import sys; sys.path.insert(0, "
                                     f"{str(ROOT)!r}); import firmware.boot"],
                           capture_output=True, cwd="/")
    return prefix if probe.returncode == 0 else []


class Service:
    """One appliance process started as systemd starts the unit's, with a notify socket."""

    def __init__(self, folder: Path, user: list[str], argv: list[str] | None = None):
        self.folder = folder
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(folder / "notify"))
        os.chmod(folder / "notify", 0o777)
        self.notify.settimeout(20)
        env = {**os.environ, "NOTIFY_SOCKET": str(folder / "notify"),
               "RUNTIME_DIRECTORY": str(folder / "run"), "INVOCATION_ID": "0123abcd",
               "PYTHONPATH": str(ROOT)}
        self.process = subprocess.Popen(user + (argv or exec_start(folder / "data")),
                                        cwd="/", env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)

    def ready(self) -> None:
        while self.notify.recv(100) != b"READY=1":
            pass

    def console(self) -> socket.socket:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(str(self.folder / "run" / "console.sock"))
        client.settimeout(20)
        return client

    def stop(self) -> tuple[int, str, str]:
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=20)
        self.notify.close()
        return self.process.returncode, out, err


@pytest.fixture
def folder():
    """A short folder (socket paths are limited to 108 bytes) the appliance's user owns."""
    path = Path(tempfile.mkdtemp(prefix="qa-", dir="/tmp"))
    for name in ("data", "run"):
        (path / name).mkdir(mode=0o700)
    if os.geteuid() == 0:
        for p in (path, path / "data", path / "run"):
            os.chown(p, NOBODY, NOBODY)
    yield path
    subprocess.run(["rm", "-rf", str(path)])


def read_until(client: socket.socket, text: str) -> str:
    seen = b""
    while text.encode() not in seen:
        chunk = client.recv(4096)
        if not chunk:
            raise AssertionError(f"{text!r} never came; got {seen.decode()!r}")
        seen += chunk
    return seen.decode()


def test_the_units_own_command_line_serves_the_hall_until_sigterm(folder):
    user = as_nobody()
    service = Service(folder, user)
    service.ready()
    client = service.console()
    assert (folder / "run" / "console.sock").stat().st_mode & 0o077 == 0   # its user's alone
    client.sendall(b"A\nA\nB\n3 login T03 3333\n3 call\n")
    read_until(client, "[counter 3] B001 CALLED")   # counter 3 serves B before A
    time.sleep(1.5)                      # stdin is /dev/null: nothing there may stop it
    assert service.process.poll() is None
    client.sendall(b"quit\n")            # closes this console only
    while client.recv(4096):
        pass
    client.close()
    assert service.process.poll() is None
    watching = service.console()         # connected while the service stops
    code, out, err = service.stop()
    assert watching.recv(4096) is not None
    watching.close()
    assert not (folder / "run" / "console.sock").exists()
    assert code == 0, err
    assert "loop stopped" in err and "Traceback" not in err
    assert sorted(p.name for p in (folder / "data" / "tickets").glob("*/*.png")
                  if p.name != "office-setup.png") == ["A001.png", "A002.png", "B001.png"]
    if user:
        assert {p.stat().st_uid for p in (folder / "data").rglob("*")} == {NOBODY}


def test_a_second_appliance_on_the_same_data_directory_refuses_to_start(folder):
    first = Service(folder, [])
    first.ready()
    second = subprocess.run(exec_start(folder / "data"), stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=30,
                            env={**os.environ, "RUNTIME_DIRECTORY": str(folder / "other")})
    assert second.returncode == 1
    assert f"another appliance is running on the data directory {folder / 'data'}" in \
        second.stderr
    client = first.console()
    client.sendall(b"A\n")
    read_until(client, "ticket A001")     # the first one serves on, untouched
    client.close()
    assert first.stop()[0] == 0


def test_a_box_on_another_data_directory_never_takes_over_the_console_socket(folder):
    first = Service(folder, [])
    first.ready()
    second = subprocess.Popen(exec_start(folder / "other"), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "RUNTIME_DIRECTORY": str(folder / "run"),
                                   "INVOCATION_ID": "x"})
    for line in second.stderr:
        if "no console socket" in line:
            break
    assert "another appliance's console answers" in line
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=20) == 0
    client = first.console()              # still the first box's, and still there
    client.sendall(b"A\n")
    read_until(client, "ticket A001")
    client.close()
    assert first.stop()[0] == 0


def test_end_of_console_input_does_not_stop_a_service(folder):
    env = {**os.environ, "INVOCATION_ID": "0123abcd", "RUNTIME_DIRECTORY": str(folder / "run")}
    process = subprocess.Popen([sys.executable, "-m", "firmware.boot", "--data-dir",
                                str(folder / "data")], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdin.write("A\n")
    process.stdin.close()                # end of input
    time.sleep(2)
    assert process.poll() is None
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    out, err = process.stdout.read(), process.stderr.read()
    assert "ticket A001" in out and "end of input; the appliance keeps running" in err


def test_what_the_box_writes_is_for_its_own_user_alone(folder):
    process = subprocess.run([sys.executable, "-m", "firmware.boot", "--data-dir",
                              str(folder / "data")], cwd=ROOT, input="A\n3 login T03 3333\n",
                             capture_output=True, text=True, timeout=30,
                             env={**os.environ, "RUNTIME_DIRECTORY": str(folder / "run")})
    assert process.returncode == 0, process.stderr
    written = [folder / "data", *(folder / "data").rglob("*")]
    assert {p.relative_to(folder).as_posix(): oct(p.stat().st_mode & 0o077)
            for p in written if p.stat().st_mode & 0o077} == {}
    assert len(written) > 8   # database, tickets, key, configuration, wall picture, …


def test_a_power_cut_during_the_first_boot_leaves_no_false_alarm(tmp_path, monkeypatch):
    class PowerCut(BaseException):
        pass

    def cut(path):
        raise PowerCut()

    monkeypatch.setattr(boot, "open_or_recover", cut)
    with pytest.raises(PowerCut):
        boot.main(["--data-dir", str(tmp_path), "--hardware", "sim"])
    assert not (tmp_path / "last-valid-config.toml").exists()
    again = subprocess.run([sys.executable, "-m", "firmware.boot", "--data-dir", str(tmp_path)],
                           cwd=ROOT, input="A\n", capture_output=True, text=True, timeout=30)
    assert "ticket A001" in again.stdout
    assert "is missing" not in again.stderr and "CRITICAL" not in again.stderr


def test_with_no_loadable_configuration_the_box_serves_on_the_shipped_one_loudly(tmp_path):
    (tmp_path / "hall.toml").write_text("[hall]\nname = 'x'\ncolour = 1\n")
    (tmp_path / "last-valid-config.toml").write_text("[hall\n")
    (tmp_path / "queue.db").touch()   # not a first boot
    process = subprocess.run([sys.executable, "-m", "firmware.boot", "--data-dir",
                              str(tmp_path), "--config", str(tmp_path / "hall.toml")],
                             cwd=ROOT, input="A\n", capture_output=True, text=True, timeout=30)
    assert process.returncode == 0
    assert "CRITICAL" in process.stderr and "running on the shipped default" in process.stderr
    assert "option 'colour' is not a valid option" in process.stderr
    assert "[office]" in process.stdout and "running on the shipped default" in process.stdout
    assert "ticket A001" in process.stdout
    assert (tmp_path / "last-valid-config.toml").read_text() == "[hall\n"   # left to inspect
