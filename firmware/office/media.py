"""The playlist's files: images and videos uploaded in the back office, kept in the data
directory's media/ folder under the sha256 of their content, within size limits. A file is
checked before it is kept: its first bytes must be those of a PNG, JPEG, GIF or WebP image (and
the image must decode, within a pixel limit) or of an MP4 or WebM video."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from pathlib import Path
from typing import AsyncIterator

from aiohttp import web

FILE_BYTES = 64 << 20     # one file
TOTAL_BYTES = 512 << 20   # all of them: the data partition also holds the hall's history
PIXELS = 40_000_000       # an image's width × height (a decompression bomb is refused)
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


async def receive(chunks: AsyncIterator[bytes], data: Path) -> tuple[str, str]:
    """Keep the file uploaded as `chunks`: (its kind, its name in media/). An HTTP error says
    what is wrong with it (nothing is kept then)."""
    media = folder(data)
    media.mkdir(exist_ok=True)
    used = sum(p.stat().st_size for p in media.iterdir() if p.is_file())
    incoming = media / f".incoming-{os.getpid()}-{id(chunks)}"
    digest, size, head = hashlib.sha256(), 0, b""
    try:
        with open(incoming, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > FILE_BYTES:
                    raise web.HTTPRequestEntityTooLarge(
                        max_size=FILE_BYTES, actual_size=size,
                        text=f"a file may have {FILE_BYTES >> 20} MB at most")
                if used + size > TOTAL_BYTES:
                    raise web.HTTPRequestEntityTooLarge(
                        max_size=TOTAL_BYTES - used, actual_size=size,
                        text=f"the playlist's files may have {TOTAL_BYTES >> 20} MB in all:"
                             " remove some first")
                head = (head + chunk)[:12] if len(head) < 12 else head
                digest.update(chunk)
                out.write(chunk)
        kind = file_type(head)
        if kind is None:
            raise web.HTTPBadRequest(text="not a PNG, JPEG, GIF or WebP image, nor an MP4 or"
                                          " WebM video")
        if KINDS[kind] == "image":
            await asyncio.to_thread(_check_image, incoming)   # (decoding takes a while)
        name = f"{digest.hexdigest()}.{kind}"
        os.replace(incoming, media / name)
        return KINDS[kind], name
    finally:
        incoming.unlink(missing_ok=True)


def _check_image(path: Path) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.width * image.height > PIXELS:
                raise web.HTTPBadRequest(text=f"an image may have {PIXELS // 1_000_000}"
                                              " megapixels at most")
            image.load()
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError):
        raise web.HTTPBadRequest(text="the image cannot be read: it is damaged") from None


def sweep(data: Path, used: set[str]) -> None:
    """Remove the files no playlist item uses (an item removed, a refused upload), and
    uploads cut short over an hour ago (a younger one may still be arriving)."""
    media = folder(data)
    if media.is_dir():
        for path in media.iterdir():
            stale = not path.name.startswith(".incoming-") or \
                time.time() - path.stat().st_mtime > 3600
            if path.is_file() and path.name not in used and stale:
                path.unlink(missing_ok=True)
