"""The appliance as a process: boot, a session typed at the console, clean shutdown."""

import importlib
import platform
import os
import socket
import pkgutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def boot(data_dir, *args, stdin=subprocess.PIPE):
    return subprocess.Popen([sys.executable, "-m", "firmware.boot", "--data-dir", str(data_dir),
                             *args], cwd=ROOT, stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_session_at_the_console(tmp_path):
    process = boot(tmp_path)
    out, err = process.communicate("A\nB\n3 login T03 3333\n3 call\nstatus\nquit\n", timeout=30)
    assert process.returncode == 0, err
    assert "Main Street Branch: ready" in out
    assert "[audio] 请 B001 号到 3 号窗口 / Ticket B001, please go to counter 3" in out
    assert "[wall] B001 → 3" in out
    assert "ready in" in err and "simulated" in err
    printed = sorted(p.name for p in (tmp_path / "tickets").glob("*/*.png"))
    assert [name for name in printed if name != "office-setup.png"] == ["A001.png", "B001.png"]


def test_sigterm_shuts_down_cleanly_and_the_next_boot_resumes(tmp_path):
    process = boot(tmp_path)
    process.stdin.write("A\nA\n")
    process.stdin.flush()
    for line in process.stdout:
        if "A002" in line:
            break
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    assert "loop stopped" in process.stderr.read()

    again = boot(tmp_path)
    out, _ = again.communicate("A\n", timeout=30)
    assert again.returncode == 0
    assert "ticket A003" in out


def test_an_invalid_configuration_keeps_the_last_valid_one(tmp_path):
    config = tmp_path / "hall.toml"
    config.write_text((ROOT / "config" / "default.toml").read_text())
    first = boot(tmp_path, "--config", str(config))
    first.communicate("", timeout=30)
    assert first.returncode == 0
    config.write_text("[hall]\nname = 'x'\n")
    process = boot(tmp_path, "--config", str(config))
    out, err = process.communicate("A\n", timeout=30)
    assert process.returncode == 0
    assert "running on the last valid configuration" in err
    assert "ticket A001" in out


@pytest.mark.parametrize("package", ["config", "drivers", "firmware", "media", "queue_core"])
def test_every_module_imports_on_a_pc(package):
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, f"{package}."):
        importlib.import_module(info.name)


def test_input_after_quit_is_not_applied(tmp_path):
    process = boot(tmp_path)
    out, _ = process.communicate("A\nquit\nA\nB\n", timeout=30)
    assert process.returncode == 0
    assert "ticket A001" in out and "A002" not in out and "B001" not in out


def test_systemd_hears_ready_watchdog_pings_and_stopping(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(10)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "200000"}
    process = subprocess.Popen([sys.executable, "-m", "firmware.boot", "--data-dir",
                                str(tmp_path / "data")], cwd=ROOT, env=env,
                               stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    heard = [sock.recv(100).decode() for _ in range(4)]
    process.send_signal(signal.SIGTERM)
    while (message := sock.recv(100).decode()) == "WATCHDOG=1":
        pass
    assert process.wait(timeout=10) == 0
    assert heard == ["READY=1", "WATCHDOG=1", "WATCHDOG=1", "WATCHDOG=1"]
    assert message == "STOPPING=1"
    sock.close()


def test_a_reload_applies_a_valid_file_and_refuses_one_that_orphans_tickets(tmp_path):
    config = tmp_path / "hall.toml"
    shipped = (ROOT / "config" / "default.toml").read_text()
    config.write_text(shipped)
    process = boot(tmp_path, "--config", str(config))
    process.stdin.write("C\n")
    process.stdin.flush()
    wait_for_line(process, "ticket C001")
    config.write_text(shipped.replace('name_en = "Wealth management"', 'name_en = "Wealth"'))
    process.send_signal(signal.SIGHUP)
    wait_for_line(process, "configuration reloaded")
    cut = shipped.index("[[service]]\nprefix = \"C\"")
    config.write_text((shipped[:cut] + shipped[shipped.index("[[counter]]"):])
                      .replace('services = ["C", "A"]', 'services = ["A"]')
                      .replace(", C = 22", "").replace(", C = 13", ""))
    process.stdin.write("reload\n")
    process.stdin.flush()
    wait_for_line(process, "[office] reload refused, nothing changed: service C is gone but 1"
                           " wait for it")
    out, _ = process.communicate("C\nquit\n", timeout=30)
    assert process.returncode == 0
    assert "ticket C002" in out   # still running on the configuration it had
    assert "Wealth management" not in (tmp_path / "last-valid-config.toml").read_text()


def wait_for_line(process, text):
    for line in process.stdout:
        if text in line:
            return
    raise AssertionError(f"{text!r} never printed")


def test_a_printer_cache_left_half_written_by_a_power_cut_is_dropped(tmp_path):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / f"{platform.python_version()}.capabilities.pickle").write_bytes(
        b"\x80\x04\x95")   # the first bytes of a pickle, cut off
    process = boot(tmp_path)
    out, err = process.communicate("A\n", timeout=30)
    assert process.returncode == 0
    assert "dropping the damaged escpos cache" in err
    assert "ticket A001" in out


def test_real_hardware_asked_for_on_a_pc_falls_back_and_serves(tmp_path):
    process = boot(tmp_path, "--hardware", "real")
    out, err = process.communicate("A\nquit\n", timeout=30)
    assert process.returncode == 0, err
    assert "ticket buttons: cannot open GPIO, simulated instead" in err
    assert "Traceback" not in err and "issued A001" in err


def test_typed_control_characters_reach_no_line_raw(tmp_path):
    process = boot(tmp_path)
    out, err = process.communicate("cancel \x1b[31mA001\nquit\n", timeout=30)
    assert process.returncode == 0
    assert "\x1b" not in out + err and "\\x1b[31MA001" in out


def test_ctrl_c_after_a_report_ends_the_appliance_and_its_worker_quietly(tmp_path):
    process = subprocess.Popen([sys.executable, "-m", "firmware.boot", "--data-dir",
                                str(tmp_path)], cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    process.stdin.write("A\nstats\n")
    process.stdin.flush()
    wait_for_line(process, "a new ticket now would wait about")   # the worker process ran
    os.killpg(process.pid, signal.SIGINT)    # Ctrl-C at a terminal: the whole process group
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
