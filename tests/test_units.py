"""The systemd units and the system user: systemd accepts the shipped files as they are, and
the settings the box depends on are there."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from drivers.update_install import STORE
from drivers.usb import MOUNT_DIR
from firmware import update

CONFIG = Path(__file__).parent.parent / "config"
APPLIANCE, HELPER = "queue-appliance.service", "queue-appliance-usb.service"
UPDATES, UPDATER = "queue-appliance-update.path", "queue-appliance-update.service"
# systemd's own units (sysinit.target...), which verify loads with ours
SYSTEM_UNITS = next((d for d in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system"))
                     if (d / "sysinit.target").exists()), None)
# Settings that give a unit a mount namespace of its own (systemd.exec(5), PrivateMounts=):
# a mount the helper made inside one would never reach the appliance.
NAMESPACED = {"PrivateMounts", "PrivateTmp", "PrivateDevices", "ProtectSystem", "ProtectHome",
              "ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths", "ExecPaths",
              "NoExecPaths", "BindPaths", "BindReadOnlyPaths", "TemporaryFileSystem",
              "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
              "ProtectControlGroups", "ProtectProc", "ProcSubset", "RootDirectory", "RootImage",
              "MountAPIVFS", "PrivateIPC"}
analyze = pytest.mark.skipif(
    not shutil.which("systemd-analyze") or SYSTEM_UNITS is None,
    reason="systemd-analyze or systemd's own units are not installed: nothing checks the units")


def settings(unit: str) -> dict[str, list[str]]:
    """Each setting of a unit file (sections merged: no key is in two) -> its values."""
    found: dict[str, list[str]] = {}
    for line in (CONFIG / unit).read_text().splitlines():
        if line.strip() and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def one(unit: str, key: str, default: str | None = None) -> str | None:
    values = settings(unit).get(key, [default])
    assert len(values) == 1, f"{unit}: {key} set {len(values)} times"
    return values[0]


def seconds(span: str) -> float:
    """A systemd time span as these units write one: 3, 3s, 500ms or 1min."""
    number, unit = re.fullmatch(r"([0-9.]+)\s*(ms|s|min|)", span).groups()
    return float(number) * {"ms": 0.001, "s": 1, "": 1, "min": 60}[unit]


def verify(units: dict[str, str], root: Path) -> list[str]:
    """What `systemd-analyze verify` says about units (name -> text), run in a root tree that
    holds systemd's own units, these, and a stub at each command's path (verify refuses a
    command that is not there)."""
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for name, text in units.items():
        (root / "etc/systemd/system" / name).write_text(text)
        for command in re.findall(r"^Exec\w+=[-+@!:]*(/\S+)", text, re.M):
            stub = root / command.lstrip("/")
            stub.parent.mkdir(parents=True, exist_ok=True)
            stub.write_text("#!/bin/sh\n")
            stub.chmod(0o755)
    result = subprocess.run(["systemd-analyze", "verify", f"--root={root}",
                             *(f"/etc/systemd/system/{name}" for name in units)],
                            capture_output=True, text=True)
    # verify exits 0 on an unknown setting or a bad value: what it says about ours counts too
    said = [line for line in (result.stdout + result.stderr).splitlines()
            if any(name in line for name in units)]
    return said + ([f"exit status {result.returncode}"] if result.returncode else [])


def shipped() -> dict[str, str]:
    return {unit: (CONFIG / unit).read_text() for unit in (APPLIANCE, HELPER, UPDATES, UPDATER)}


@analyze
def test_systemd_accepts_the_units_as_shipped(tmp_path):
    assert verify(shipped(), tmp_path) == []


@analyze
def test_the_check_sees_a_misspelt_setting(tmp_path):
    units = shipped()
    units[HELPER] = units[HELPER].replace("Restart=always", "Restart=alway")
    assert any("restart specifier" in line for line in verify(units, tmp_path))


def test_the_appliance_runs_unprivileged_and_confined():
    data_dir = re.search(r"--data-dir (\S+)", one(APPLIANCE, "ExecStart"))[1]
    assert one(APPLIANCE, "User") not in (None, "root", "0")
    assert one(APPLIANCE, "Group") == one(APPLIANCE, "User")
    assert one(APPLIANCE, "UMask") == "0077"
    assert one(APPLIANCE, "NoNewPrivileges") == "yes"
    assert one(APPLIANCE, "ProtectSystem") == "strict"
    assert one(APPLIANCE, "PrivateTmp") == "yes"
    writable = [Path(p.lstrip("-")) for p in one(APPLIANCE, "ReadWritePaths").split()]
    assert any(Path(data_dir).is_relative_to(p) for p in writable)
    assert MOUNT_DIR.parent in writable   # a stick mounted before the appliance starts
    assert "time-sync.target" in one(APPLIANCE, "After").split()
    assert HELPER in one(APPLIANCE, "After").split() and HELPER in one(APPLIANCE, "Wants")
    assert "PrivateDevices" not in settings(APPLIANCE)   # GPIO, SPI, serial, printer, sound


@pytest.mark.parametrize("unit", [APPLIANCE, HELPER])
def test_no_start_limit_can_stop_the_restarts(unit):
    assert one(unit, "Restart") == "always"
    interval = seconds(one(unit, "StartLimitIntervalSec", "10s"))
    burst = int(one(unit, "StartLimitBurst", "5"))
    restart = seconds(one(unit, "RestartSec", "100ms"))
    # starts are RestartSec apart at least: the limit is hit only if burst + 1 fit in interval
    assert interval == 0 or burst * restart > interval


def test_the_helper_mounts_where_the_appliance_sees_it():
    helper = settings(HELPER)
    assert one(HELPER, "ExecStart").startswith(
        "/opt/queue-appliance/.venv/bin/python -m drivers.usb_mount")
    assert one(HELPER, "User", "root") == "root"
    assert Path("/run") / one(HELPER, "RuntimeDirectory") == MOUNT_DIR.parent
    assert one(HELPER, "RuntimeDirectoryMode") == "0755"
    # PrivateNetwork= implies PrivateMounts= from systemd 254 on, unless it is said no
    assert one(HELPER, "PrivateMounts") == "no" and one(HELPER, "PrivateNetwork") == "yes"
    assert sorted(NAMESPACED & helper.keys()) == ["PrivateMounts"]
    assert one(HELPER, "MountFlags", "shared") == "shared"
    assert one(HELPER, "NoNewPrivileges") == "yes"
    assert one(HELPER, "CapabilityBoundingSet").split() == ["CAP_SYS_ADMIN"]


def test_the_update_helper_runs_as_root_when_the_appliance_asks():
    data_dir = re.search(r"--data-dir (\S+)", one(APPLIANCE, "ExecStart"))[1]
    assert one(UPDATES, "PathExists") == f"{data_dir}/{update.FOLDER}/{update.REQUEST}"
    assert one(UPDATES, "Unit") == UPDATER and one(UPDATES, "WantedBy") == "multi-user.target"
    command = one(UPDATER, "ExecStart")
    assert command.startswith("/opt/queue-appliance/.venv/bin/python -m drivers.update_install")
    assert re.search(r"--data (\S+)", command)[1] == data_dir
    assert re.search(r"--user (\S+)", command)[1] == one(APPLIANCE, "User")
    assert "--store" not in command   # (STORE, below)
    assert one(UPDATER, "Type") == "oneshot" and one(UPDATER, "User", "root") == "root"
    assert "WantedBy" not in settings(UPDATER)   # started by the path unit only
    writable = [Path(p.lstrip("-")) for p in one(UPDATER, "ReadWritePaths").split()]
    assert one(UPDATER, "ProtectSystem") == "strict"
    assert any(STORE.is_relative_to(p) for p in writable)   # and not in the private /tmp
    assert any(Path(data_dir, update.FOLDER).is_relative_to(p) for p in writable)
    assert one(UPDATER, "NoNewPrivileges") == "yes"
    assert sorted(one(UPDATER, "CapabilityBoundingSet").split()) == \
        ["CAP_CHOWN", "CAP_DAC_OVERRIDE"]
    assert "AF_UNIX" in one(UPDATER, "RestrictAddressFamilies").split()   # the system bus


@pytest.mark.skipif(not shutil.which("systemd-sysusers"),
                    reason="systemd-sysusers is not installed: nothing checks the system user")
def test_the_system_user_owns_the_data_and_the_devices(tmp_path):
    (tmp_path / "etc").mkdir()
    result = subprocess.run(["systemd-sysusers", f"--root={tmp_path}",
                             str(CONFIG / "queue-appliance.sysusers")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    user = one(APPLIANCE, "User")
    passwd = {line.split(":")[0]: line.split(":")
              for line in (tmp_path / "etc/passwd").read_text().splitlines()}
    members = {line.split(":")[0]: line.split(":")[3].split(",")
               for line in (tmp_path / "etc/group").read_text().splitlines()}
    data_dir = re.search(r"--data-dir (\S+)", one(APPLIANCE, "ExecStart"))[1]
    assert passwd[user][5:] == [data_dir, "/usr/sbin/nologin"]
    assert one(APPLIANCE, "Group") in members
    for group in one(APPLIANCE, "SupplementaryGroups").split():
        assert user in members[group], group
