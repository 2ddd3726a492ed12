"""The appliance as a process: boot, a session typed at the console, clean shutdown."""

import importlib
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
    assert printed == ["A001.png", "B001.png"]


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
    assert "ticket A003" in out


def test_an_invalid_configuration_is_refused_at_first_boot(tmp_path):
    bad = tmp_path / "hall.toml"
    bad.write_text("[hall]\nname = 'x'\ncolour = 1\n")
    process = boot(tmp_path / "data", "--config", str(bad), stdin=subprocess.DEVNULL)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert f"{bad}: [hall], option 'colour' is not a valid option" in err


def test_an_invalid_configuration_keeps_the_last_valid_one(tmp_path):
    config = tmp_path / "hall.toml"
    config.write_text((ROOT / "config" / "default.toml").read_text())
    boot(tmp_path, "--config", str(config), stdin=subprocess.DEVNULL).communicate(timeout=30)
    config.write_text("[hall]\nname = 'x'\n")
    process = boot(tmp_path, "--config", str(config))
    out, err = process.communicate("A\n", timeout=30)
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
