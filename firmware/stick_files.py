"""Files on an untrusted USB stick, reached through directory descriptors: no link on the stick
is ever followed, only regular files are read, every size is bounded, and what is written is
synced before it is renamed into place."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator

DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
CHUNK = 1 << 16


class StickFileError(OSError):
    """A file on the stick that is refused: a link, not a regular file, or too large."""


@contextmanager
def directory(name: str | Path, parent: int | None = None) -> Iterator[int]:
    """A descriptor of the folder `name` (inside `parent`, a descriptor, if given), closed after.
    A link in its place is refused."""
    try:
        fd = os.open(name, DIRECTORY, dir_fd=parent)
    except OSError as exc:
        raise _refusal(exc, name, "a folder") from exc
    try:
        yield fd
    finally:
        os.close(fd)


def exists(folder: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


@contextmanager
def open_regular(folder: int, name: str, limit: int) -> Iterator[BinaryIO]:
    """The regular file `name` in `folder`, opened for reading; refused when it is anything
    else (a link, a FIFO, a device) or larger than `limit` bytes."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                     dir_fd=folder)
    except OSError as exc:
        raise _refusal(exc, name, "a file") from exc
    try:   # (checked before fdopen, which refuses a folder with a bare "Is a directory")
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StickFileError(f"{name} is not a regular file: refused")
        if info.st_size > limit:
            raise StickFileError(f"{name} has {info.st_size} bytes, more than the {limit}"
                                 " allowed: refused")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        yield f


def read_file(folder: int, name: str, limit: int) -> bytes:
    """The whole of the regular file `name` (see open_regular); never more than `limit` bytes,
    even if it grows while read."""
    with open_regular(folder, name, limit) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise StickFileError(f"{name} has more than the {limit} bytes allowed: refused")
    return data


def copy_out(folder: int, name: str, target: Path, limit: int) -> str:
    """Copy the regular file `name` to `target` (a new file, synced); returns its SHA-256."""
    digest, size = hashlib.sha256(), 0
    with open_regular(folder, name, limit) as source, open(target, "xb") as copy:
        while chunk := source.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise StickFileError(f"{name} has more than the {limit} bytes allowed: refused")
            digest.update(chunk)
            copy.write(chunk)
        copy.flush()
        os.fsync(copy.fileno())
    return digest.hexdigest()


def create(folder: int, name: str) -> BinaryIO:
    """A new file `name` in `folder` for writing; refused if anything of that name is there."""
    return os.fdopen(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                             os.O_CLOEXEC, 0o644, dir_fd=folder), "wb")


def write_file(folder: int, name: str, data: bytes) -> None:
    """Replace `name` in `folder` by a file holding `data`: written aside, synced, renamed (a
    link of that name is replaced, never followed)."""
    partial = f".{name}.partial"
    remove_tree(folder, partial) if _is_dir(folder, partial) else _unlink(folder, partial)
    try:
        with create(folder, partial) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        _unlink(folder, partial)
        raise
    os.fsync(folder)


def _is_dir(folder: int, name: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except FileNotFoundError:
        return False


def _unlink(folder: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=folder)
    except FileNotFoundError:
        pass


def remove_tree(folder: int, name: str) -> None:
    """Remove the folder `name` made by the box, and what it holds (links are removed, not
    followed); what cannot be removed is left."""
    try:
        with directory(name, folder) as inside:
            for entry in os.listdir(inside):
                if _is_dir(inside, entry):
                    remove_tree(inside, entry)
                else:
                    os.unlink(entry, dir_fd=inside)
        os.rmdir(name, dir_fd=folder)
    except OSError:
        pass


def _refusal(exc: OSError, name: str | Path, kind: str) -> OSError:
    if isinstance(exc, FileNotFoundError):
        return exc
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):   # a link, or a file where a folder was
        return StickFileError(f"{name} is not {kind} but a link or something else: refused")
    return exc
