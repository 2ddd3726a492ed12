"""The playlist's files: images and videos uploaded in the back office or brought by a USB
stick, kept in the data directory's media/ folder under the sha256 of their content, within
size limits (no aiohttp here: the stick's code loads at boot). A file is checked before it
is kept: its first bytes must be those of a PNG, JPEG, GIF or WebP image (and the image must
decode, within a pixel limit) or of an MP4 or WebM video."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

FILE_BYTES = 64 << 20     # one file
TOTAL_BYTES = 512 << 20   # all of them: the data partition also holds the hall's history
PIXELS = 40_000_000       # an image's width × height (a decompression bomb is refused)
FRAME_PIXELS = 400_000_000   # an animation's, all frames together
RESERVE = 64 << 20        # free space that must stay on the data partition, for the queue
TYPES = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg", b"GIF87a": "gif",
         b"GIF89a": "gif", b"\x1a\x45\xdf\xa3": "webm"}
KINDS = {"png": "image", "jpg": "image", "gif": "image", "webp": "image", "mp4": "video",
         "webm": "video"}
CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif",
                 "webp": "image/webp", "mp4": "video/mp4", "webm": "video/webm"}


def folder(data: Path) -> Path:
    return data / "media"


def file_type(head: bytes) -> str | None:
    """png, jpg, gif, webp, mp4 or webm, from a file's first 12 bytes; None for anything else."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        return "mp4"
    return next((kind for magic, kind in TYPES.items() if head.startswith(magic)), None)


class MediaRefused(ValueError):
    """A file the playlist does not take, and why."""


def used_bytes(data: Path) -> int:
    media = folder(data)
    return sum(p.stat().st_size for p in media.iterdir() if p.is_file()) if media.is_dir() \
        else 0


def keep(path: Path, data: Path) -> tuple[str, str]:
    """Check the file at `path` (an image must decode) and move it into media/ under the
    sha256 of its content: (its kind, its name). Raises MediaRefused saying why."""
    with open(path, "rb") as file:
        kind = file_type(file.read(12))
        file.seek(0)
        digest = hashlib.file_digest(file, "sha256").hexdigest()
    if kind is None:
        raise MediaRefused("not a PNG, JPEG, GIF or WebP image, nor an MP4 or WebM video")
    if shutil.disk_usage(path.parent).free < RESERVE:
        raise MediaRefused(f"the data partition would keep less than {RESERVE >> 20} MB free"
                           " for the queue: remove some of the playlist's files first")
    if KINDS[kind] == "image":
        _check_image(path)
    name = f"{digest}.{kind}"
    os.replace(path, folder(data) / name)
    return KINDS[kind], name


def incoming(data: Path, tag: str) -> Path:
    """Where a file being received is written, in media/ (swept if it is left there)."""
    media = folder(data)
    media.mkdir(exist_ok=True)
    return media / f".incoming-{os.getpid()}-{tag}"


def too_large(size: int) -> str:
    """Why a file of `size` bytes (0: any more) is not taken."""
    if size > FILE_BYTES:
        return f"a file may have {FILE_BYTES >> 20} MB at most"
    return f"the playlist's files may have {TOTAL_BYTES >> 20} MB in all: remove some first"


def _check_image(path: Path) -> None:
    from PIL import Image, UnidentifiedImageError

    too_big = MediaRefused(f"an image may have {PIXELS // 1_000_000} megapixels at most, and"
                           f" an animation {FRAME_PIXELS // 1_000_000} in all its frames")
    try:
        with Image.open(path) as image:
            frames = getattr(image, "n_frames", 1)
            if image.width * image.height > PIXELS or \
                    frames * image.width * image.height > FRAME_PIXELS:
                raise too_big
            image.load()
    except MediaRefused:
        raise
    except Image.DecompressionBombError:
        raise too_big from None
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise MediaRefused("the image cannot be read: it is damaged") from exc


def sweep(data: Path, used: set[str]) -> None:
    """Remove the files no playlist item uses (an item removed, a refused upload), and
    uploads cut short over an hour ago (a younger one may still be arriving)."""
    media = folder(data)
    if media.is_dir():
        for path in media.iterdir():
            try:
                stale = not path.name.startswith(".incoming-") or \
                    time.time() - path.stat().st_mtime > 3600
            except FileNotFoundError:   # (an upload that just finished)
                continue
            if path.is_file() and path.name not in used and stale:
                path.unlink(missing_ok=True)
