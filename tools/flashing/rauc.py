"""RAUC on the appliance: its system.conf, the vendor's signing keys, and update bundles."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from tools.flashing import disk

COMPATIBLE = "queue-appliance-rpi"
BACKEND = "/usr/lib/queue-appliance/rauc-tryboot"
POST_INSTALL = "/usr/lib/queue-appliance/rauc-post-install"
STATUS = "/data/rauc"
# The vendor's keys, in the folder given to build and update: the CA goes into every image;
# bundles are signed with the signing key, whose certificate the CA issued.
CA, CERT, KEY = "ca.cert.pem", "signing.cert.pem", "signing.key.pem"


def system_conf(devices: dict[str, str], backend: str = BACKEND,
                post_install: str | None = POST_INSTALL, keyring: str = "/etc/rauc/" + CA,
                data_directory: str = STATUS) -> str:
    """RAUC's system.conf for the partitions `devices` (layout names to device paths)."""
    lines = ["[system]", f"compatible={COMPATIBLE}", "bootloader=custom",
             f"data-directory={data_directory}", "bundle-formats=plain", "",
             "[keyring]", f"path={keyring}", "", "[handlers]",
             f"bootloader-custom-backend={backend}"]
    if post_install:
        lines.append(f"post-install={post_install}")
    lines += ["", "[slot.autoboot.0]", f"device={devices['autoboot']}", "type=raw",
              "readonly=true"]
    for index, name in enumerate("ab"):
        lines += ["", f"[slot.rootfs.{index}]", f"device={devices['root-' + name]}",
                  "type=ext4", f"bootname={name.upper()}",
                  "", f"[slot.boot.{index}]", f"device={devices['boot-' + name]}",
                  "type=vfat", f"parent=rootfs.{index}"]
    return "\n".join(lines) + "\n"


def by_partuuid(disk_id: int) -> dict[str, str]:
    """The device paths of the layout's partitions on the board (udev's links)."""
    return {p.name: f"/dev/disk/by-partuuid/{disk.part_uuid(disk_id, p.number)}"
            for p in disk.layout(disk.Sizes()) if p.name != "extended"}


def make_keys(folder: Path) -> None:
    """A new vendor CA and a signing key it certifies (10 years), in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    subj = "/O=Queue appliance vendor/CN="

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "rsa:3072", "-nodes", "-days", "3650",
            "-keyout", str(folder / "ca.key.pem"), "-out", str(folder / CA),
            "-subj", subj + "update CA", "-addext", "basicConstraints=critical,CA:true",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    openssl("req", "-newkey", "rsa:3072", "-nodes", "-keyout", str(folder / KEY),
            "-out", str(folder / "signing.csr.pem"), "-subj", subj + "update signing")
    with tempfile.NamedTemporaryFile("w", suffix=".ext") as ext:
        ext.write("basicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature\n")
        ext.flush()
        openssl("x509", "-req", "-in", str(folder / "signing.csr.pem"), "-days", "3650",
                "-CA", str(folder / CA), "-CAkey", str(folder / "ca.key.pem"),
                "-CAcreateserial", "-extfile", ext.name, "-out", str(folder / CERT))
    for name in ("ca.key.pem", KEY):
        (folder / name).chmod(0o600)


def make_bundle(image: Path, bundle: Path, keys: Path, version: str) -> None:
    """A signed bundle of `image`'s slot A (its boot and root partitions), for RAUC."""
    table = disk.read_table(image)
    starts = {p["node"][len(str(image)):]: p for p in table["partitions"]}
    with tempfile.TemporaryDirectory(prefix="bundle-", dir=bundle.parent) as folder:
        content = Path(folder) / "content"
        content.mkdir()
        for number, name in (("2", "boot.vfat"), ("5", "rootfs.ext4")):
            part = starts[number]
            disk.extract(image, part["start"] * disk.SECTOR, part["size"] * disk.SECTOR,
                         content / name)
        (content / "manifest.raucm").write_text(
            f"[update]\ncompatible={COMPATIBLE}\nversion={version}\n\n[bundle]\nformat=plain\n\n"
            "[image.boot]\nfilename=boot.vfat\n\n[image.rootfs]\nfilename=rootfs.ext4\n")
        subprocess.run(["rauc", "bundle", f"--cert={keys / CERT}", f"--key={keys / KEY}",
                        f"--keyring={keys / CA}", str(content), str(bundle)], check=True,
                       capture_output=True)
