"""A USB stick in the box: the configuration it brings, and the statistics it takes away (its
system update is firmware/update.py's).

Each runs on a thread, off the loop. The stick is untrusted: its files are reached only through
`stick_files` (no link followed, sizes bounded), and what it installs must be signed with this
box's installation key (`signature`). Nothing here writes to the queue database: the export
reads it through a read-only connection and copies it with SQLite's backup API.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import sqlite3
import time
import wave
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from config import ApplianceConfig, parse_config, remember
from config.load import MAX_CONFIG_BYTES
from config.pin_hashing import keepable
from firmware.signature import NotAuthorised, verify
from firmware.stick_files import (StickFileError, copy_out, create, directory, exists,
                                  read_file, remove_tree, write_file)
from firmware.stick_playlist import FOLDER, read_playlist
from media.speech import CLIPS
from queue_core import HallConfig, statistics
from queue_core.hall_time import local
from queue_core.storage import read_only
from queue_core.visit_statistics import hospital

CONFIG_NAME = "queue-config.toml"
SIGNATURE_NAME = "queue-config.sig"
REPORT_NAME = "queue-config-report.txt"
CLIPS_NAME = "clips"
EXPORT_NAME = "queue-export"
UPDATE_NAME = "update/appliance.raucb"   # a system update (a RAUC bundle), signed like the rest
MiB = 1 << 20
MAX_SIGNATURE = 64 * 1024
MAX_CLIP = 4 * MiB
MAX_CLIPS = 32 * MiB
RESERVE = 64 * MiB   # free space a stick's clips must leave on the data partition, for the queue
TABLES = {
    "tickets.csv": "SELECT * FROM tickets ORDER BY id",
    "events.csv": "SELECT * FROM events ORDER BY id",
    "ratings.csv": "SELECT r.*, t.day, t.label, t.service FROM ratings r"
                   " JOIN tickets t ON t.id = r.ticket_id ORDER BY r.at",
}
SUMMARY = ("day", "by", "key", "issued", "served", "waiting", "no_shows", "transferred",
           "transferred_in", "cancelled", "expired", "refused", "average_wait_s",
           "longest_wait_s",
           "average_handling_s", "longest_handling_s", "very_satisfied", "satisfied",
           "dissatisfied")
HOSPITAL = ("day", "by", "key", "name", "patients", "seen", "missed", "checked_in_again", "left",
            "returns", "collected", "open", "average_wait_s", "longest_wait_s",
            "average_consultation_s", "longest_consultation_s", "average_stay_s",
            "median_stay_s", "longest_stay_s")


@dataclass(frozen=True)
class Bundle:
    """What a stick installs, checked: its configuration (PINs hashed) and, if it brings clips,
    the new clips folder staged beside the one it replaces (complete and synced)."""

    config: ApplianceConfig
    clips: Path | None
    names: tuple[str, ...]   # the files installed: the configuration, each clip, the playlist
    playlist: tuple[dict, ...] | None = None   # its items (firmware/stick_playlist.py)

    def __str__(self) -> str:
        return ", ".join(self.names)


def read_bundle(stick: Path, data_dir: Path, key: bytes | None) -> Bundle | None:
    """The stick's signed configuration, clips and playlist, completely checked, or None when
    it brings no configuration. Raises NotAuthorised, ConfigError or OSError; then nothing is
    left behind (but files no playlist item uses, swept at the next start)."""
    with directory(stick) as root:
        if not exists(root, CONFIG_NAME):
            return None
        data = read_file(root, CONFIG_NAME, MAX_CONFIG_BYTES)
        signed = signed_files(root, key)
        if signed.get(CONFIG_NAME) != _sha256(data):
            raise NotAuthorised(f"{CONFIG_NAME} is not the file that was signed")
        source = f"USB stick {CONFIG_NAME}"
        config = keepable(parse_config(data, source), source)
        playlist = read_playlist(root, signed, data_dir)
        played = tuple(sorted(name for name in signed if name.startswith(f"{FOLDER}/")))
        clips = sorted(name for name in signed
                       if name not in (CONFIG_NAME, UPDATE_NAME) and name not in played)
        staged = _stage_clips(root, clips, signed, data_dir / config.hardware.audio.clips) \
            if clips else None
        return Bundle(config, staged, (CONFIG_NAME, *clips, *played), playlist)


def install(bundle: Bundle, data_dir: Path) -> Path:
    """Put a checked bundle in place; returns the configuration file to run on. The clips and the
    configuration each replace the old ones by a rename, after they are on disk; the replaced
    ones are kept as clips.previous and config.toml.previous."""
    if bundle.clips is not None:
        folder = bundle.clips.with_name(bundle.clips.name.removesuffix(".new"))
        previous = folder.with_name(folder.name + ".previous")
        shutil.rmtree(previous, ignore_errors=True)
        if folder.exists():
            os.replace(folder, previous)
        os.replace(bundle.clips, folder)
        _sync(folder.parent)
    return install_config(bundle.config, data_dir)


def install_config(config: ApplianceConfig, data_dir: Path) -> Path:
    """Put a checked configuration in place (the file the next boot runs on too), keeping the
    replaced one as config.toml.previous; returns its path."""
    target = data_dir / "config.toml"
    if target.exists():
        remember(target.read_bytes(), target.with_name("config.toml.previous"))
    remember(config.data, target)
    return target


def reinstate(config: ApplianceConfig, path: Path, data_dir: Path) -> Path:
    """Put back the configuration the box ran on from `path` before an install that the hall
    then refused; returns the file to run on. (Clips the install brought stay: they say the
    same words.)"""
    installed = data_dir / "config.toml"
    if path == installed:
        remember(config.data, installed)
    else:
        installed.unlink(missing_ok=True)
    return path


def discard(bundle: Bundle) -> None:
    """Drop a bundle that will not be installed."""
    if bundle.clips is not None:
        shutil.rmtree(bundle.clips, ignore_errors=True)


def write_report(stick: Path, text: str) -> None:
    with directory(stick) as root:
        write_file(root, REPORT_NAME,
                   f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n{text}\n".encode("utf-8"))


def export(database: Path, stick: Path, now: float, hall: HallConfig,
           progress: Callable[[str], None] = lambda name: None) -> Path:
    """Everything the back office needs, into <stick>/queue-export/<date-time>/: the tables as
    CSV, a daily summary per service, counter and teller (and a hospital's per stage, doctor
    and whole visit), the tickets issued and finished in each hour of the day over all days,
    and a copy of the database (without credentials or patients' names). Written into a .partial
    folder, synced, then renamed: a folder without .partial is complete; a failed one is
    removed. A second export in the same second gets its own folder (-2, -3, …)."""
    stamp = local(now, hall).strftime("%Y%m%d-%H%M%S")
    with directory(stick) as root:
        try:
            os.mkdir(EXPORT_NAME, 0o755, dir_fd=root)
        except FileExistsError:
            pass
        with directory(EXPORT_NAME, root) as exports:
            name = next(n for n in (stamp, *(f"{stamp}-{k}" for k in range(2, 100)))
                        if not exists(exports, n) and not exists(exports, f"{n}.partial"))
            os.mkdir(f"{name}.partial", 0o755, dir_fd=exports)
            try:
                with directory(f"{name}.partial", exports) as folder:
                    _write_export(database, folder, hall, progress)
                    os.fsync(folder)
                os.rename(f"{name}.partial", name, src_dir_fd=exports, dst_dir_fd=exports)
            except BaseException:
                remove_tree(exports, f"{name}.partial")
                raise
            os.fsync(exports)
    return stick / EXPORT_NAME / name


def _write_export(database: Path, folder: int, hall: HallConfig,
                  progress: Callable[[str], None]) -> None:
    source = read_only(database)
    try:
        for name, query in TABLES.items():
            cursor = source.execute(query)
            columns = [c[0] for c in cursor.description]
            times = [n for n, column in enumerate(columns) if column == "at" or
                     column.endswith("_at")]
            _write_csv(folder, name, columns, (
                [_local(v, hall) if n in times else v for n, v in enumerate(row)]
                for row in cursor))
            progress(name)
        first = source.execute("SELECT MIN(day) FROM tickets").fetchone()[0] or "0000-00-00"
        rows = ((day, by, key, f.issued, f.served, f.waiting, f.no_shows, f.transferred,
                 f.transferred_in, f.cancelled, f.expired, f.refused,
                 *(None if s is None else round(s) for s in (
                     f.average_wait, f.longest_wait, f.average_handling, f.longest_handling)),
                 *f.ratings)
                for by, days in statistics.daily(source, first, "9999-12-31").items()
                for day, key, f in days)
        _write_csv(folder, "daily_summary.csv", SUMMARY, rows)
        progress("daily_summary.csv")
        _write_csv(folder, "hourly.csv", ("hour", "issued", "finished"),
                   statistics.hourly(source, first, "9999-12-31", hall))
        progress("hourly.csv")
        if hall.hospital.stages:
            _write_csv(folder, "hospital_daily.csv", HOSPITAL, _hospital_rows(source, hall))
            progress("hospital_daily.csv")
        create(folder, "queue.db").close()   # made here, so SQLite opens no link
        copy = sqlite3.connect(f"/proc/self/fd/{folder}/queue.db")
        try:
            source.backup(copy)
            copy.execute("PRAGMA secure_delete = ON")   # the back office's credentials and
            with copy:                                  # the patients' identities stay on the
                copy.execute("DELETE FROM users")       # box, not even in free pages
                copy.execute("DELETE FROM tokens")
                copy.execute("UPDATE patients SET patient = '', name = '', visit = id")
                copy.execute("DELETE FROM his_messages")   # digests: a name could be guessed
        finally:
            copy.close()
        with os.fdopen(os.open("queue.db", os.O_RDONLY | os.O_NOFOLLOW, dir_fd=folder)) as f:
            os.fsync(f.fileno())
        progress("queue.db")
    finally:
        source.close()


def _hospital_rows(source: sqlite3.Connection, hall: HallConfig):
    """Each day's hospital figures (queue_core.visit_statistics): a row per stage and per doctor,
    then one for the whole visits; times in whole seconds."""
    for (day,) in source.execute("SELECT DISTINCT day FROM tickets ORDER BY day").fetchall():
        report = hospital(source, day, day, hall)
        for by, rows in (("stage", report["stages"]), ("doctor", report["doctors"]),
                         ("visits", {"all": report["visits"]})):
            for key, figures in rows.items():
                row = {"day": day, "by": by, "key": key, "name": _name(hall, by, key),
                       **figures}
                yield [_whole(row.get(column.removesuffix("_s"))) if column.endswith("_s")
                       else row.get(column) for column in HOSPITAL]


def _name(hall: HallConfig, by: str, key: str) -> str:
    """A stage's names in both languages, a doctor's name."""
    if by == "stage":
        service = hall.service(key)
        return f"{service.name_zh} {service.name_en}"
    if by == "doctor":
        teller = hall.teller(key)
        return teller.name if teller else ""
    return "全程 Whole visits"


def _whole(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds)


def _local(moment: float | None, hall: HallConfig) -> str | None:
    """A time as a spreadsheet reads it: ISO 8601 in the hall's zone, to the second."""
    return None if moment is None else local(moment, hall).isoformat(timespec="seconds")


def _write_csv(folder: int, name: str, header, rows) -> None:
    """A CSV file whose header a spreadsheet user reads: "issued at", "average wait (s)"."""
    with create(folder, name) as raw, io.TextIOWrapper(raw, "utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(column.removesuffix("_s").replace("_", " ") +
                        (" (s)" if column.endswith("_s") else "") for column in header)
        writer.writerows(rows)
        f.flush()
        os.fsync(raw.fileno())


def _stage_clips(root: int, names: list[str], signed: dict[str, str], folder: Path) -> Path:
    """The clips folder as it will be: the current clips, with the stick's signed ones copied
    over them, each checked against its signature and as a WAV file, all synced. Built in
    <folder>.new; removed again on any failure."""
    for name in names:
        if not (name.startswith(f"{CLIPS_NAME}/") and name.endswith(".wav")
                and name[len(CLIPS_NAME) + 1:-4] in CLIPS):
            raise NotAuthorised(f"{name} is not an announcement clip (media/speech.py)")
    with directory(CLIPS_NAME, root) as clips:
        sizes = [_named(name, _size, clips, name) for name in names]
        free = shutil.disk_usage(folder.parent).free
        if sum(sizes) > MAX_CLIPS or free - sum(sizes) < RESERVE:
            raise OSError(f"the clips take {sum(sizes) // MiB} MiB (at most {MAX_CLIPS // MiB});"
                          f" {free // MiB} MiB are free, and {RESERVE // MiB} MiB must stay free"
                          " for the queue")
        staged = folder.with_name(folder.name + ".new")
        shutil.rmtree(staged, ignore_errors=True)
        try:
            _link_tree(folder, staged)
            for name in names:
                _named(name, _copy_clip, clips, name, signed[name], staged)
            for path in (staged, *(p for p in staged.rglob("*") if p.is_dir())):
                _sync(path)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
    return staged


def _named(name: str, step: Callable, *args):
    """`step(*args)`, a refusal naming the stick's file `name` in full."""
    try:
        return step(*args)
    except StickFileError as exc:
        raise StickFileError(f"{name}: {exc}") from None


def _copy_clip(clips: int, name: str, digest: str, staged: Path) -> None:
    target = staged / name[len(CLIPS_NAME) + 1:]
    target.parent.mkdir(exist_ok=True)
    target.unlink(missing_ok=True)   # a link to the clip it replaces: never written through
    with _clip_folder(clips, name) as (folder, file):
        copied = copy_out(folder, file, target, MAX_CLIP)
    if copied != digest:
        raise NotAuthorised(f"{name} is not the file that was signed")
    try:
        with wave.open(str(target)) as sound:
            sound.getnframes()
    except (wave.Error, EOFError) as exc:
        raise StickFileError(f"not a WAV file the announcer can play ({exc})") from None


def _size(clips: int, name: str) -> int:
    with _clip_folder(clips, name) as (folder, file):
        return os.stat(file, dir_fd=folder, follow_symlinks=False).st_size


@contextmanager
def _clip_folder(clips: int, name: str) -> Iterator[tuple[int, str]]:
    """The folder on the stick that holds the clip `name` ("clips/zh/qing.wav": the
    descriptor of clips/zh, or of clips itself), and the clip's file name in it."""
    inside, _, file = name[len(CLIPS_NAME) + 1:].rpartition("/")
    if not inside:
        yield clips, file
        return
    with directory(inside, clips) as sub:
        yield sub, file


def _link_tree(source: Path, target: Path) -> None:
    """`target` made with hard links to the files of `source` (no space taken; the box never
    writes a clip in place), or empty when there is no `source`."""
    target.mkdir()
    if source.is_dir():
        for path in source.rglob("*"):
            if path.is_file() and not path.is_symlink():
                (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
                os.link(path, target / path.relative_to(source))


def signed_files(root: int, key: bytes | None) -> dict[str, str]:
    """The files the stick's signature covers, and their SHA-256; raises NotAuthorised."""
    if key is None:
        raise NotAuthorised("this box has no installation key: it installs nothing from a"
                            " stick (README, Security)")
    if not exists(root, SIGNATURE_NAME):
        raise NotAuthorised(f"{SIGNATURE_NAME} is missing: sign the stick with"
                            " tools/sign_stick.py and this box's key")
    return verify(read_file(root, SIGNATURE_NAME, MAX_SIGNATURE), key)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
