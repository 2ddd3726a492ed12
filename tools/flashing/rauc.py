"""RAUC on the appliance: its system.conf, the vendor's signing keys, and update bundles."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from tools.flashing import disk
from tools.flashing.ext4 import Ext4

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
                  "type=ext4", "resize=true", f"bootname={name.upper()}",
                  "", f"[slot.boot.{index}]", f"device={devices['boot-' + name]}",
                  "type=vfat", f"parent=rootfs.{index}"]
    return "\n".join(lines) + "\n"


def on_disk(device: str) -> dict[str, str]:
    """The device paths of the layout's partitions on the board's disk `device` (/dev/mmcblk0:
    the SD card or the eMMC). Named by disk and number, not by PARTUUID: the same on every box,
    so that one update's root file system fits them all."""
    return {p.name: disk.partition_name(device, p.number)
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


def check_image(image: Path, keys: Path) -> None:
    """Raise ValueError unless `image`'s system trusts the CA of `keys`: boxes updated to a
    system that trusts another would refuse every later update signed with these keys."""
    table = disk.read_table(image)
    root = next((p for p in table["partitions"] if p["node"].endswith("5")), None)
    if root is None:
        raise ValueError(f"{image} is no image made by build (no root partition 5)")
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "root.ext4"
        disk.extract(image, root["start"] * disk.SECTOR, root["size"] * disk.SECTOR, copy)
        fs = Ext4(copy)
        try:
            trusted = fs.read(f"/etc/rauc/{CA}")
        finally:
            fs.close()
    if trusted != (keys / CA).read_bytes():
        raise ValueError(f"{image} trusts another update CA than {keys / CA}: it was built with "
                         "other keys, and boxes updated to it would refuse later updates")


def make_bundle(image: Path, bundle: Path, keys: Path, version: str) -> dict[str, int]:
    """A signed bundle of `image`'s slot A (its boot and root partitions), for RAUC. The root
    file system is shrunk to its content (RAUC grows it to the slot it is written to). Returns
    the size of each image: a box's partitions must be at least that large."""
    table = disk.read_table(image)
    starts = {p["node"][len(str(image)):]: p for p in table["partitions"]}
    with tempfile.TemporaryDirectory(prefix="bundle-", dir=bundle.parent) as folder:
        content = Path(folder) / "content"
        content.mkdir()
        for number, name in (("2", "boot.vfat"), ("5", "rootfs.ext4")):
            part = starts[number]
            disk.extract(image, part["start"] * disk.SECTOR, part["size"] * disk.SECTOR,
                         content / name)
        shrink(content / "rootfs.ext4")
        (content / "manifest.raucm").write_text(
            f"[update]\ncompatible={COMPATIBLE}\nversion={version}\n\n[bundle]\nformat=plain\n\n"
            "[image.boot]\nfilename=boot.vfat\n\n[image.rootfs]\nfilename=rootfs.ext4\n")
        subprocess.run(["rauc", "bundle", f"--cert={keys / CERT}", f"--key={keys / KEY}",
                        f"--keyring={keys / CA}", str(content), str(bundle)], check=True,
                       capture_output=True)
        return {name: (content / name).stat().st_size for name in ("boot.vfat", "rootfs.ext4")}


def shrink(ext4: Path) -> None:
    """The ext4 file system in the file `ext4` made as small as its content, and the file too."""
    subprocess.run(["e2fsck", "-f", "-y", str(ext4)], capture_output=True)
    subprocess.run(["resize2fs", "-M", str(ext4)], check=True, capture_output=True)
    out = subprocess.run(["dumpe2fs", "-h", str(ext4)], check=True, capture_output=True,
                         text=True).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    os.truncate(ext4, int(fields["Block count"]) * int(fields["Block size"]))
