"""`setup`: the appliance on a Raspberry Pi OS board that is already running, over SSH, for
halls that install by hand. What build puts into an image goes onto the board's own root (the
appliance in its venv, units, users, journal in memory, watchdog, config.txt and the serial
console off); what needs build's partitions does not: the root stays writable, and updates
are by `setup` again, not by RAUC bundles (README, "Installing a box")."""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Callable

from config import load_config
from config.pin_hashing import keepable
from firmware.signature import KEY_NAME, make_key
from tools.flashing import appliance
from tools.flashing.build import Steps, copy_secret

# Run as root on the board, after the files are in place.
SCRIPT = """set -eu
apt-get install -y --no-install-recommends mtools {packages} >/dev/null
systemd-sysusers /usr/lib/sysusers.d/queue-appliance.conf
hostnamectl set-hostname {hostname}
install -d -m 0700 /data/queue
systemctl daemon-reload
systemctl enable {units}
echo "set up; restart the board (sudo reboot) for config.txt and the console to take effect"
"""


def setup(host: str, hostname: str, config: Path | None, screen: bool,
          wheels: Path | None, key_out: Path, say: Callable[[str], None] = print,
          ssh: tuple[str, ...] = ("ssh",)) -> None:
    """The appliance on `host` (user@board, which sudoes without a password prompt); this
    box's installation key is kept in `key_out` too."""
    steps = Steps(say)
    with tempfile.TemporaryDirectory(prefix="setup-") as folder:
        work = Path(folder)
        with steps(f"which Python {host} runs"):
            python = _remote(ssh, host, "python3 -c 'import sys; print(\"%d.%d\" % "
                             "sys.version_info[:2])'").strip()
            if not re.fullmatch(r"3\.\d+", python):
                raise ValueError(f"{host} answered {python!r}")
        tree = appliance.Folder(work / "software")
        with steps(f"the appliance and its libraries for Python {python} on aarch64"):
            appliance.install(tree, work / "site", python, wheels)
        with steps("system settings (units, users, journal, watchdog, data)"):
            units = appliance.system_files(tree, screen)
            data = work / "data" / "data" / "queue"
            data.mkdir(parents=True, mode=0o700)
            make_key(data)
            if config is not None:
                (data / "config.toml").write_bytes(keepable(load_config(config)).data)
        with steps(f"copying to {host}"):
            # The software replaces what a setup before left; a box keeps its key and
            # configuration (only missing ones are added), and its key comes back here.
            _remote(ssh, host, f"sudo rm -rf {appliance.VENV} && sudo tar -C / --overwrite "
                    "--no-overwrite-dir -xzf -", _archive(work / "software"))
            _remote(ssh, host, "sudo tar -C / --skip-old-files --no-overwrite-dir -xzf -",
                    _archive(work / "data"))
            key = work / "box.key"
            key.write_text(_remote(ssh, host, f"sudo cat /data/queue/{KEY_NAME}"))
            copy_secret(key, key_out)
        with steps(f"{host}'s config.txt and cmdline.txt"):
            boot = _remote(ssh, host, "[ -e /boot/firmware/config.txt ] && echo /boot/firmware"
                           " || echo /boot").strip()
            for name, change in (("config.txt", appliance.config_txt),
                                 ("cmdline.txt", lambda text: " ".join(
                                     appliance.without_serial_console(text)) + "\n")):
                text = change(_remote(ssh, host, f"cat {boot}/{name}"))
                _remote(ssh, host, f"sudo tee {boot}/{name} >/dev/null", text.encode())
        with steps(f"configuring {host} (packages, users, host name, units)"):
            script = SCRIPT.format(
                packages=" ".join(appliance.KIOSK_PACKAGES if screen else ()),
                hostname=hostname, units=" ".join(units))
            say(_remote(ssh, host, "sudo sh -s", script.encode()).strip())


def _archive(folder: Path) -> bytes:
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        tar.add(folder, arcname=".", filter=_as_root)
    return archive.getvalue()


def _as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _remote(ssh: tuple[str, ...], host: str, command: str, data: bytes | None = None) -> str:
    done = subprocess.run([*ssh, host, command], input=data, capture_output=True, timeout=1800)
    if done.returncode:
        raise OSError(f"{command.split()[0]} on {host} failed: "
                      f"{done.stderr.decode(errors='replace').strip()[-500:]}")
    return done.stdout.decode(errors="replace")
