"""System updates with RAUC: a bundle (`*.raucb`, signed by the vendor, which RAUC checks)
written to the other root file system slot, and the system that booted marked good once the
appliance has shown that it works.

`rauc install BUNDLE` writes the other slot; the system's post-install handler then restarts
the board into it once, on trial. RAUC keeps it only if `rauc status mark-good` runs after that
boot: a crash, a hang or a power cut before it boots the old system again. The appliance marks
good at every start, once its database is sound and a ticket issued in a dry run
(queue_core.dry_run) shows the hall works (on a system good already, that changes nothing).

A bundle comes from a USB stick (update/appliance.raucb, signed for this box like the stick's
configuration: firmware/stick.py) or from the back office (POST /api/update), and is copied into
the data directory's update folder (`incoming`). The appliance does not install it itself:
RAUC 1.8 checks a plain bundle's signature, then reads the images out of the same file, so a
user who may write that file meanwhile (this one: it wrote it, and could hold it open) could
swap its bytes after the check and have a system signed by anyone installed, as root. So the
appliance asks the update helper (drivers/update_install.py, run as root by systemd when
`update/request` appears): the request names the bundle and carries a fresh id; the helper
copies the bundle where only root reaches, has RAUC install that copy and answers in
`update/result` (the id, installed or not, RAUC's reason), which is awaited off the loop. This
user may only mark its system good on RAUC's D-Bus (config/image/rauc-dbus.conf): that runs
here, `rauc status mark-good` off the loop with a deadline. A box without RAUC set up (a PC, a
box installed by `tools/flash.py setup`) is not updated this way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
from pathlib import Path

from firmware.signature import NotAuthorised, read_key
from firmware.stick import UPDATE_NAME, signed_files
from firmware.stick_files import copy_out, directory, exists
from queue_core.dry_run import dry_issue

log = logging.getLogger(__name__)
OUTCOME_SECONDS = 60          # an update's outcome, on the wall
MiB = 1 << 20
SYSTEM_CONF = Path("/etc/rauc/system.conf")   # RAUC's slots: written by tools/flash.py build
MAX_BUNDLE = 1 << 30          # bytes: a bundle, from a stick or uploaded
RESERVE = 64 << 20            # free space a bundle kept leaves on the data partition, for the queue
MARK_GOOD_SECONDS = 20.0
RETRY_SECONDS = 30.0          # before mark-good is asked once more
INSTALL_SECONDS = 15 * 60.0   # the helper's, its copy and RAUC's installation together
ANSWER_SECONDS = 60.0         # more for its answer: systemd starting it, Python importing
POLL_SECONDS = 0.5            # between looks for the helper's answer
FOLDER = "update"             # in the data directory: the bundles kept, the request, the answer
REQUEST, RESULT = "request", "result"   # the helper's files there (JSON)
REASON_CHARS = 160            # of RAUC's reason, on the wall and in the answer


def rauc() -> str | None:
    """The rauc command where RAUC is set up (an image of tools/flash.py build), else None: a
    PC, even with Debian's rauc installed, or a box set up by hand is not updated by RAUC."""
    return shutil.which("rauc") if SYSTEM_CONF.exists() else None


class Updates:
    """The appliance's side of its system updates: its system marked good after each start,
    and bundles from a stick or the back office installed, one at a time."""

    def __init__(self, appliance):
        self.appliance = appliance
        self.lock = asyncio.Lock()       # one system update at a time (a stick's, the office's)
        self.state: str | None = None    # RAUC's view of this system, as `status` shows it

    async def mark_good(self, sound: bool) -> None:
        """RAUC keeps a system it has just installed only once it is marked good: done at every
        start (on a system good already it changes nothing), once the database is `sound` and
        a ticket issued in a dry run, taken back at once, shows that the hall works."""
        if rauc() is None:
            log.info("system updates are not in use here (no RAUC set up)")
            return
        answer = problem = None
        if not sound:
            problem = "the database check found damage"
        else:
            try:   # (on the loop, which owns the writes: one insert, rolled back)
                answer = dry_issue(self.appliance.hall, self.appliance.clock())
            except Exception as exc:
                problem = f"a ticket issued in a dry run failed ({exc!r})"
            else:
                problem = await _rauc(("status", "mark-good"), MARK_GOOD_SECONDS)
                if problem is not None:   # (RAUC's service may still be starting: once more)
                    await asyncio.sleep(RETRY_SECONDS)
                    problem = await _rauc(("status", "mark-good"), MARK_GOOD_SECONDS)
        if problem is None:
            self.state = "marked good"
            log.info("this system is marked good (a ticket issued in a dry run: %s)", answer)
        else:
            self.state = f"NOT marked good: {problem}"
            log.error("this system is not marked good: %s", problem)
            self.appliance.devices.office.report(f"this system is not marked good: {problem}")

    async def from_stick(self, stick: Path) -> bool | None:
        """The stick's system update, copied and checked against its signature (off the loop:
        up to a GiB), then installed by RAUC and removed: True when installed, False when
        refused, None when the stick brings none."""
        appliance = self.appliance
        try:
            found = await asyncio.to_thread(read_update, stick, read_key(appliance.paths.data),
                                            appliance.paths.data)
        except (ValueError, OSError) as exc:   # NotAuthorised, a link, too large, no room
            appliance.refuse(f"USB update refused, nothing installed: {exc}")
            return False
        if found is None:
            return None
        try:
            if self.lock.locked():
                appliance.refuse("USB update refused, nothing installed: another system update"
                                 " is being installed")
                return False
            async with self.lock:
                return await self.install(found, "the USB stick") is None
        finally:
            await asyncio.to_thread(found.unlink, missing_ok=True)

    async def install(self, bundle: Path, source: str) -> str | None:
        """The update helper has RAUC install the bundle at `bundle` (in the update folder;
        from `source`, as the wall and the log name it); the caller holds `lock`. Returns None
        when it is installed (its post-install handler then restarts the board into it, on
        trial), else the reason (nothing changed)."""
        devices = self.appliance.devices
        before, self.state = self.state, f"installing an update from {source}"
        log.info("system update from %s: %s, to the update helper", source, bundle)
        devices.office.report(f"installing a system update from {source}")
        devices.display.notice("SYSTEM UPDATE 系统更新中", INSTALL_SECONDS)
        problem = await ask_helper(bundle)
        if problem is None:
            self.state = f"update from {source} installed: restarting into it"
            log.warning("system update from %s installed: the box restarts into it, on trial",
                        source)
            devices.office.report(f"system update from {source} installed: the box restarts"
                                  " to try it")
            devices.display.notice("UPDATE OK 更新完成 · RESTARTING 重新启动", OUTCOME_SECONDS)
        else:
            self.state = before
            self.appliance.refuse(f"system update from {source} refused, nothing changed:"
                                  f" {problem}")
        return problem

    def install_received(self, bundle: Path, source: str) -> asyncio.Task:
        """Install the received file `bundle` beside the loop, the caller having taken `lock`:
        when the helper has answered the file is removed and `lock` released, whether or not
        anyone still waits for the outcome (the helper would go on anyway)."""
        async def work() -> str | None:
            try:
                return await self.install(bundle, source)
            finally:
                await asyncio.to_thread(bundle.unlink, missing_ok=True)
                self.lock.release()
        return self.appliance.aside(work())


def read_update(stick: Path, key: bytes | None, data_dir: Path) -> Path | None:
    """The stick's system update (update/appliance.raucb), copied into the update folder for
    the helper (`incoming`) and checked there against the stick's signature: the copy, which
    the caller removes, or None when the stick brings none. Up to a GiB is copied: call it on
    a thread. Raises NotAuthorised or OSError (a link, too large, no room); nothing is left."""
    folder, name = UPDATE_NAME.split("/")
    with directory(stick) as root:
        if not exists(root, folder):
            return None
        with directory(folder, root) as updates:
            if not exists(updates, name):
                return None
            signed = signed_files(root, key)
            if UPDATE_NAME not in signed:
                raise NotAuthorised(f"{UPDATE_NAME} is not signed: sign the stick with"
                                    " tools/sign_stick.py and this box's key")
            size = os.stat(name, dir_fd=updates, follow_symlinks=False).st_size
            free = room(data_dir)
            if size > free:
                raise OSError(f"{UPDATE_NAME} takes {size // MiB} MiB; the data partition has"
                              f" room for {free // MiB} MiB ({RESERVE // MiB} MiB must"
                              " stay free for the queue)")
            copy = incoming(data_dir, "stick")
            copy.unlink(missing_ok=True)
            try:
                if copy_out(updates, name, copy, MAX_BUNDLE) != signed[UPDATE_NAME]:
                    raise NotAuthorised(f"{UPDATE_NAME} is not the file that was signed")
            except BaseException:
                copy.unlink(missing_ok=True)
                raise
    return copy


def incoming(data: Path, source: str) -> Path:
    """Where a bundle from `source` ("upload", "stick") is kept until the update helper has
    installed its own copy: the data directory's update folder (made 0700 if missing), which
    the helper reads as root."""
    folder = data / FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{source}.raucb"


def room(data: Path) -> int:
    """The bytes a bundle may take on the data partition, where it is twice while installed
    (the appliance's file, the helper's copy), the queue's reserve left free."""
    return max(0, shutil.disk_usage(data).free - RESERVE) // 2


def sweep(data: Path) -> None:
    """Remove the bundles, request and answer a power cut or a stop left behind (and the
    bundles earlier versions kept in the data directory itself)."""
    folder = data / FOLDER
    for path in [*data.glob(".incoming-*.raucb"), *folder.glob("*.raucb"), folder / REQUEST,
                 folder / f".{REQUEST}.partial", folder / RESULT]:
        path.unlink(missing_ok=True)


async def ask_helper(bundle: Path) -> str | None:
    """The update helper asked to install `bundle` (a file of the update folder), its answer
    awaited within INSTALL_SECONDS and ANSWER_SECONDS: None when RAUC installed it, else why
    not. The request is written aside and renamed, so the helper sees it whole."""
    folder, ident, loop = bundle.parent, secrets.token_hex(16), asyncio.get_running_loop()
    await asyncio.to_thread(_write_request, folder, bundle.name, ident)
    deadline = loop.time() + INSTALL_SECONDS + ANSWER_SECONDS
    while loop.time() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        answer = await asyncio.to_thread(_read_result, folder, ident)
        if answer is not None:
            return None if answer.get("installed") is True else \
                str(answer.get("reason") or "the box's update helper gave no reason")
    await asyncio.to_thread((folder / REQUEST).unlink, missing_ok=True)   # (not taken late)
    return f"the box's update helper did not answer within" \
        f" {INSTALL_SECONDS + ANSWER_SECONDS:.0f} s (is queue-appliance-update.path enabled?)"


def _write_request(folder: Path, name: str, ident: str) -> None:
    partial = folder / f".{REQUEST}.partial"
    partial.write_text(json.dumps({"bundle": name, "id": ident}))
    os.replace(partial, folder / REQUEST)


def _read_result(folder: Path, ident: str) -> dict | None:
    """The helper's answer to the request `ident`, removed once read; None until it is there
    (an earlier request's answer is left: the helper's next one replaces it)."""
    try:
        answer = json.loads((folder / RESULT).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(answer, dict) or answer.get("id") != ident:
        return None
    (folder / RESULT).unlink(missing_ok=True)
    return answer


async def _rauc(args: tuple[str, ...], deadline: float) -> str | None:
    """`rauc *args`, killed after `deadline` seconds: None when it succeeded, else why not."""
    command = rauc()
    if command is None:
        return "this system has no rauc: it is not updated"
    process = await asyncio.create_subprocess_exec(
        command, *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, start_new_session=True)   # (Ctrl-C is the loop's)
    try:
        out, err = await asyncio.wait_for(process.communicate(), deadline)
    except asyncio.TimeoutError:
        return f"rauc {args[0]} did not finish within {deadline:.0f} s and was stopped (RAUC's" \
            " service may still be at work)"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return None if process.returncode == 0 else reason(out, err, process.returncode)


def reason(out: bytes, err: bytes, status: int) -> str:
    """What RAUC said went wrong: its last `LastError:` line, else the last line of its stderr,
    made printable and cut to REASON_CHARS; else its exit status."""
    said = [line.strip() for line in (out + b"\n" + err).decode("utf-8", "replace").splitlines()]
    found = [line.removeprefix("LastError:").strip() for line in said
             if line.startswith("LastError:")]
    text = found[-1] if found else next(
        (line for line in reversed(err.decode("utf-8", "replace").splitlines()) if line.strip()),
        "")
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    if not text:
        return f"rauc exited with status {status}"
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 1] + "…"
