"""The update helper, run as root by queue-appliance-update.service each time the appliance asks.

RAUC 1.8 checks a plain bundle's signature, then reads the images out of the same file: were it
the appliance's file, its user (which wrote it, and may still hold it open) could swap the bytes
after the check and have a system signed by anyone installed, as root. So the appliance only
asks, in <data>/update/request (JSON: "bundle", the name of its file in that folder, and "id"),
and this helper copies that file to STORE, where only root reaches, has RAUC install the copy
within firmware.update.INSTALL_SECONDS, removes it, and answers in <data>/update/result (JSON:
"id", "installed", "reason"; the appliance's user's, 0600). A request it refuses (a link, not a
regular file, too large, no room) is answered too. Nothing of the appliance's is followed as a
link or run. Run: python -m drivers.update_install [--data /data/queue] [--user queue-appliance]
[--store /data/rauc/incoming]
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from drivers import tryboot
from firmware import update
from firmware.stick_files import (CHUNK, directory, exists, open_regular, read_file,
                                  remove_tree)

log = logging.getLogger("update_install")
STORE = Path("/data/rauc/incoming")   # root's copy of the bundle being installed: 0700, root's
COPY = "bundle.raucb"                 # its name there
REQUEST_BYTES = 4096
NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


class Refused(Exception):
    """A request not carried out; its text is the reason the appliance is given."""


def answer(data: Path, store: Path, uid: int, gid: int) -> dict | None:
    """The request in `data`/update carried out and answered there for `uid`:`gid`; returns the
    answer, or None when nothing was asked. Raises OSError when the update folder is a link (it
    is not entered) or the answer cannot be written."""
    deadline = time.monotonic() + update.INSTALL_SECONDS
    if not os.path.lexists(data / update.FOLDER):
        return None
    with directory(data / update.FOLDER) as folder:
        if not exists(folder, update.REQUEST):
            return None
        ident = problem = None
        try:
            ident, name = take_request(folder)
            refuse_on_trial()
            copy = copy_bundle(folder, name, store)
            log.info("update: %s (request %s) copied to %s; rauc install", name, ident, copy)
            problem = install(copy, deadline)
        except (Refused, OSError) as exc:   # (a StickFileError: a link, not regular, too large)
            problem = str(exc)
        if problem is None:
            log.warning("update: installed (request %s); RAUC's handler restarts the box", ident)
        else:
            log.error("update: not installed (request %s): %s", ident, problem)
        result = {"id": ident, "installed": problem is None, "reason": problem}
        write_result(folder, result, uid, gid)
    return result


def take_request(folder: int) -> tuple[str, str]:
    """The request's id and bundle name; it is removed whatever it holds, and refused unless it
    is a regular file (no link) of REQUEST_BYTES at most holding both."""
    try:
        text = read_file(folder, update.REQUEST, REQUEST_BYTES)
    finally:
        remove(folder, update.REQUEST)
    try:
        request = json.loads(text)
    except ValueError:
        request = None
    if not isinstance(request, dict) or not all(isinstance(request.get(key), str) and
                                                request[key] for key in ("id", "bundle")):
        raise Refused("the request is not JSON naming a bundle and an id")
    return request["id"][:64], request["bundle"]


def refuse_on_trial() -> None:
    """Refused while the box runs a system on trial, not yet committed: RAUC would write the
    other slot, the very system the box falls back to, leaving it none that was tried."""
    running = tryboot.booted()
    if running is None or not update.SYSTEM_CONF.exists():   # (not a box of build's)
        return
    committed = tryboot.Tryboot(update.SYSTEM_CONF).get_primary()
    if running != committed:
        raise Refused(f"this system ({running}) is on trial and not yet marked good: an update"
                      f" now would overwrite {committed}, the system the box falls back to")


def copy_bundle(folder: int, name: str, store: Path) -> Path:
    """The regular file `name` of the update folder copied to `store` (made 0700) as a new file
    only root reads; refused when it is a link or anything but a regular file, larger than
    update.MAX_BUNDLE or than the room the data partition has besides the queue's reserve."""
    if "/" in name or name.startswith(".") or "\0" in name:
        raise Refused(f"the request names no bundle of the update folder ({name[:64]!r})")
    os.makedirs(store, 0o700, exist_ok=True)
    os.chmod(store, 0o700)
    copy = store / COPY
    copy.unlink(missing_ok=True)   # (one a power cut left)
    try:
        with open_regular(folder, name, update.MAX_BUNDLE) as source:
            found = os.fstat(source.fileno())
            if found.st_nlink != 1:   # (a hard link to another's file: not the appliance's)
                raise Refused(f"{name} has other names (hard links): refused")
            size = found.st_size
            free = shutil.disk_usage(store).free - update.RESERVE
            if size > free:
                raise OSError(errno.ENOSPC, "no room")
            with os.fdopen(os.open(copy, NEW, 0o600), "wb") as out:
                while chunk := source.read(CHUNK):   # (a file still growing: bounded)
                    if out.tell() + len(chunk) > min(update.MAX_BUNDLE, free):
                        raise Refused(f"{name} grew while it was copied: refused")
                    out.write(chunk)
    except FileNotFoundError:
        raise Refused(f"{name} is not in the update folder") from None
    except BaseException as exc:
        copy.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise Refused(f"the data partition has no room for the copy of {name} the update"
                          f" needs ({update.RESERVE // update.MiB} MiB must stay free for the"
                          " queue)") from None
        raise
    return copy


def install(copy: Path, deadline: float) -> str | None:
    """`rauc install copy`, stopped at `deadline` (monotonic), the copy removed after: None when
    RAUC installed it, else its reason."""
    try:
        command = shutil.which("rauc")
        if command is None:
            return "this system has no rauc: it is not updated"
        left = max(1.0, deadline - time.monotonic())
        try:
            done = subprocess.run([command, "install", str(copy)], stdin=subprocess.DEVNULL,
                                  capture_output=True, timeout=left)
        except subprocess.TimeoutExpired:
            return f"the installation did not finish within {update.INSTALL_SECONDS:.0f} s and" \
                " rauc was stopped (RAUC's service may still be at work)"
        return None if done.returncode == 0 else \
            update.reason(done.stdout, done.stderr, done.returncode)
    finally:
        copy.unlink(missing_ok=True)


def write_result(folder: int, result: dict, uid: int, gid: int) -> None:
    """`result` as the folder's result file, `uid`:`gid`'s and 0600: written under a name none
    can guess, then renamed over whatever is there (a link is replaced, never followed)."""
    partial = f".{update.RESULT}-{secrets.token_hex(8)}"
    try:
        with os.fdopen(os.open(partial, NEW, 0o600, dir_fd=folder), "w") as out:
            os.fchown(out.fileno(), uid, gid)
            out.write(json.dumps(result))
        os.replace(partial, update.RESULT, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        remove(folder, partial)
        raise


def remove(folder: int, name: str) -> None:
    """Remove `name` from `folder`: a file or a link (not followed), or a folder and its files."""
    try:
        os.unlink(name, dir_fd=folder)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        remove_tree(folder, name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m drivers.update_install",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/data/queue"),
                        help="the appliance's data directory (default: /data/queue)")
    parser.add_argument("--user", default="queue-appliance",
                        help="the user who reads the answer (default: queue-appliance)")
    parser.add_argument("--store", type=Path, default=STORE,
                        help=f"root's folder for the copy RAUC installs (default: {STORE})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)-7s %(name)s: %(message)s")
    try:
        user = pwd.getpwnam(args.user)
    except KeyError:
        parser.error(f"no user {args.user!r}")
    try:
        answer(args.data, args.store, user.pw_uid, user.pw_gid)
    except OSError as exc:   # the update folder is a link, or the answer cannot be written
        log.error("update: no answer: %s", exc)
        return 1
    return 0


def stop(signum: int, frame) -> None:
    """SIGTERM: systemd stops the helper (a shutdown, or the reboot RAUC's post-install handler
    starts while `rauc install` still runs): out through the finally blocks, which remove root's
    copy (else up to a GiB of the data partition until the next update)."""
    raise SystemExit(f"update: stopped by signal {signum}, before it answered")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, stop)
    sys.exit(main())
