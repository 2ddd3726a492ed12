"""Sign a USB stick's configuration (and recorded clips) for one box, on the technician's PC.

Checks queue-config.toml as the box would, replaces its plain PINs by salted hashes (so a lost
stick gives none away), then writes queue-config.sig: the SHA-256 of the file and of every
clip under clips/, under an HMAC with the box's installation key (its data directory's
stick.key, copied from the box at installation).
Usage: python tools/sign_stick.py --key stick.key STICK_FOLDER
"""

import argparse
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import load_config  # noqa: E402
from config.pin_hashing import keepable  # noqa: E402
from firmware.signature import sign  # noqa: E402
from firmware.stick import CLIPS_NAME, CONFIG_NAME, SIGNATURE_NAME  # noqa: E402
from media.speech import CLIPS  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", type=Path, required=True, help="the box's stick.key")
    parser.add_argument("stick", type=Path, help="the stick's folder (where it is mounted)")
    args = parser.parse_args(argv)
    try:
        key = bytes.fromhex(args.key.read_text().strip())
        config = keepable(load_config(args.stick / CONFIG_NAME), str(args.stick / CONFIG_NAME))
    except (OSError, ValueError) as exc:   # ConfigError is a ValueError
        print(f"not signed: {exc}", file=sys.stderr)
        return 1
    if config.data != (args.stick / CONFIG_NAME).read_bytes():
        (args.stick / CONFIG_NAME).write_bytes(config.data)
        print(f"{CONFIG_NAME}: plain PINs replaced by their hashes")
    files = {CONFIG_NAME: config.data}
    for clip in sorted(CLIPS):
        path = args.stick / CLIPS_NAME / f"{clip}.wav"
        if path.is_file() and not path.is_symlink():
            files[f"{CLIPS_NAME}/{clip}.wav"] = path.read_bytes()
    (args.stick / SIGNATURE_NAME).write_text(
        sign({name: hashlib.sha256(data).hexdigest() for name, data in files.items()}, key))
    print(f"signed {', '.join(files)} in {args.stick / SIGNATURE_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
