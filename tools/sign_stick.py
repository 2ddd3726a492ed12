"""Sign a USB stick's configuration (and recorded clips, and a playlist, and a system update)
for one box, on the technician's PC.

Replaces the plain PINs of queue-config.toml by salted hashes (so a lost stick gives none
away), writes queue-config.sig: the SHA-256 of the file, of every clip under clips/, of
every file under playlist/ (firmware/stick_playlist.py) and of the system update
update/appliance.raucb (a RAUC bundle; a stick may bring it alone), under an
HMAC with the box's installation key (its data directory's stick.key, copied from the box at
installation), then checks the stick as the box will; a stick the box would refuse is left
unsigned, with the reason.
Usage (with this repository's .venv): .venv/bin/python tools/sign_stick.py --key stick.key STICK
"""

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import load_config  # noqa: E402
from config.pin_hashing import keepable  # noqa: E402
from firmware.signature import sign  # noqa: E402
from firmware.stick import (CLIPS_NAME, CONFIG_NAME, MAX_CLIP, SIGNATURE_NAME,  # noqa: E402
                            UPDATE_NAME, discard, read_bundle)
from firmware.stick_playlist import FOLDER as PLAYLIST  # noqa: E402
from firmware.update import read_update  # noqa: E402
from media.speech import CLIPS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", type=Path, required=True, help="the box's stick.key")
    parser.add_argument("stick", type=Path, help="the stick's folder (where it is mounted)")
    args = parser.parse_args(argv)
    try:
        key = bytes.fromhex(args.key.read_text().strip())
        if not key:
            raise ValueError(f"{args.key} holds no key")
        digests = system_update(args.stick)
        if (args.stick / CONFIG_NAME).exists() or not digests:
            digests[CONFIG_NAME] = hashlib.sha256(hashed_pins(args.stick)).hexdigest()
            digests.update(clips(args.stick))
            digests.update(playlist(args.stick))
        elif (args.stick / CLIPS_NAME).exists() or (args.stick / PLAYLIST).exists():
            print(f"ignored without a {CONFIG_NAME}: {CLIPS_NAME}/, {PLAYLIST}/")
        (args.stick / SIGNATURE_NAME).write_text(sign(digests, key))
        with tempfile.TemporaryDirectory() as box:   # everything checked as the box will
            if (bundle := read_bundle(args.stick, Path(box), key)) is not None:
                discard(bundle)
            read_update(args.stick, key, Path(box))   # (a copy, in the folder removed)
    except (OSError, ValueError) as exc:   # ConfigError and NotAuthorised are ValueErrors
        (args.stick / SIGNATURE_NAME).unlink(missing_ok=True)
        print(f"not signed: {exc}", file=sys.stderr)
        return 1
    print(f"signed {', '.join(digests)} in {args.stick / SIGNATURE_NAME}")
    return 0


def hashed_pins(stick: Path) -> bytes:
    """The stick's configuration, checked, its plain PINs replaced by hashes on the stick."""
    path = stick / CONFIG_NAME
    config = keepable(load_config(path), str(path))
    if config.data != path.read_bytes():
        path.write_bytes(config.data)
        print(f"{CONFIG_NAME}: plain PINs replaced by their hashes")
    return config.data


def clips(stick: Path) -> dict[str, str]:
    """The SHA-256 of every announcement clip on the stick, by name; a link or a clip too
    large is an error (the box would refuse it), a file that is no clip is only named."""
    digests = {}
    for folder, _, files in os.walk(stick / CLIPS_NAME):
        for file in sorted(files):
            path = Path(folder, file)
            name = path.relative_to(stick).as_posix()
            if name.removeprefix(f"{CLIPS_NAME}/").removesuffix(".wav") not in CLIPS \
                    or not name.endswith(".wav"):
                print(f"ignored, not a clip the box installs: {name}")
            elif path.is_symlink() or not path.is_file():
                raise ValueError(f"{name} is not a file but a link or something else: copy"
                                 " the clip itself")
            elif path.stat().st_size > MAX_CLIP:
                raise ValueError(f"{name} has {path.stat().st_size} bytes, more than the"
                                 f" {MAX_CLIP} a clip may have")
            else:
                with open(path, "rb") as f:
                    digests[name] = hashlib.file_digest(f, "sha256").hexdigest()
    if (stick / CLIPS_NAME).is_symlink():
        raise ValueError(f"{CLIPS_NAME} is a link: copy the folder itself")
    return digests


def system_update(stick: Path) -> dict[str, str]:
    """The SHA-256 of the system update (update/appliance.raucb), if the stick brings one (RAUC
    on the box checks the vendor's signature inside it)."""
    path = stick / UPDATE_NAME
    if not path.exists():
        return {}
    with open(path, "rb") as f:
        return {UPDATE_NAME: hashlib.file_digest(f, "sha256").hexdigest()}


def playlist(stick: Path) -> dict[str, str]:
    """The SHA-256 of playlist/playlist.toml and of every file beside it, by name (a link or
    a folder in it is an error: the box would refuse it)."""
    folder = stick / PLAYLIST
    if not folder.exists():
        return {}
    if folder.is_symlink() or not folder.is_dir():
        raise ValueError(f"{PLAYLIST} must be a folder, not a link or a file")
    digests = {}
    for path in sorted(folder.iterdir()):
        if path.is_symlink() or not path.is_file():
            raise ValueError(f"{PLAYLIST}/{path.name} is not a file but a link or a folder")
        with open(path, "rb") as f:
            digests[f"{PLAYLIST}/{path.name}"] = hashlib.file_digest(f, "sha256").hexdigest()
    return digests


if __name__ == "__main__":
    sys.exit(main())
