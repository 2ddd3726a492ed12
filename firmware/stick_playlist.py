"""A USB stick's playlist: `playlist/playlist.toml` and the images and videos it names in
`playlist/`, all signed with the configuration (tools/sign_stick.py). Checked completely on a
thread before anything is installed; the files go to the data directory's media/ folder under
the sha256 of their content (where a refused stick's leave files no item uses, swept at the
next start), and the hall's playlist is replaced by the stick's in one transaction by the
loop.

    [[item]]
    text = "本周六照常营业 · Open on Saturday"
    seconds = 10
    days = "12345"            # optional, like hours = "08:30-17:00", first_day, last_day

    [[item]]
    file = "seminar.png"      # playlist/seminar.png on the stick
    seconds = 8
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

from config.table import ConfigError, Table
from firmware.office import media
from firmware.signature import NotAuthorised
from firmware.stick_files import copy_out, directory, read_file
from queue_core.errors import PlaylistRefused
from queue_core.playlist import ITEMS, check_item

FOLDER = "playlist"
LIST = f"{FOLDER}/playlist.toml"
MAX_LIST = 64 * 1024
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def read_playlist(root: int, signed: dict[str, str], data: Path) -> tuple[dict, ...] | None:
    """The stick's playlist items (check_item's arguments, files already kept in media/), or
    None when the stick brings none. Raises NotAuthorised, ConfigError or OSError."""
    if LIST not in signed:
        if any(name.startswith(f"{FOLDER}/") for name in signed):
            raise NotAuthorised(f"files of {FOLDER}/ are signed, but no {LIST}")
        return None
    with directory(FOLDER, root) as folder:
        text = read_file(folder, "playlist.toml", MAX_LIST)
        if hashlib.sha256(text).hexdigest() != signed[LIST]:
            raise NotAuthorised(f"{LIST} is not the file that was signed")
        try:
            tables = Table(tomllib.loads(text.decode()), f"USB stick {LIST}", "")
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"USB stick {LIST}: not TOML: {exc}") from None
        items, used = [], media.used_bytes(data)
        listed = tables.tables("item")
        if len(listed) > ITEMS:
            raise ConfigError(f"USB stick {LIST}: {ITEMS} items at most")
        for number, t in enumerate(listed, start=1):
            item = {"seconds": t.get("seconds", int),
                    **{name: value for name in ("text", "file", "days", "hours", "first_day",
                                                "last_day")
                       if (value := t.get(name, str, None)) is not None}}
            if "file" in item:
                item["kind"], item["file"], size = _keep(folder, item["file"], signed, data)
                used += size
                if used > media.TOTAL_BYTES:
                    raise OSError(media.too_large(0))
            else:
                item["kind"] = "text"
            try:
                check_item(**item)
            except PlaylistRefused as exc:
                raise ConfigError(f"USB stick {LIST}: [[item]] #{number}: {exc}") from None
            t.close()
            items.append(item)
        tables.close()
    return tuple(items)


def _keep(folder: int, name: str, signed: dict[str, str], data: Path) -> tuple[str, str, int]:
    """The stick's file `name`, checked against its signature and as a picture or a video, in
    media/: (its kind, its name there, its size)."""
    if FILE_NAME.fullmatch(name) is None:
        raise ConfigError(f"USB stick {LIST}: file {name!r} must be a plain file name in"
                          f" {FOLDER}/")
    digest = signed.get(f"{FOLDER}/{name}")
    if digest is None:
        raise NotAuthorised(f"{FOLDER}/{name} is not signed")
    path = media.incoming(data, f"stick-{name}")
    try:
        if copy_out(folder, name, path, media.FILE_BYTES) != digest:
            raise NotAuthorised(f"{FOLDER}/{name} is not the file that was signed")
        size = path.stat().st_size
        kind, kept = media.keep(path, data)
        return kind, kept, size
    except media.MediaRefused as exc:
        raise ConfigError(f"USB stick {FOLDER}/{name}: {exc}") from None
    finally:
        path.unlink(missing_ok=True)
