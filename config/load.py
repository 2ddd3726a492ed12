"""Read and validate a hall configuration file; every error names the file, the option and why."""

from __future__ import annotations

import codecs
import os
import re
import stat
import string
import tomllib
from zoneinfo import ZoneInfoNotFoundError
from dataclasses import dataclass, field
from pathlib import Path

from config.hardware import HardwareConfig, read_hardware
from config.his import HisConfig, read_his
from config.hospital import read_hospital
from config.office import OfficeConfig, read_office
from config.screens import ScreenConfig, read_screens
from config.table import ConfigError, Table, shown
from media.ticket import TicketConfig
from queue_core import Counter, HallConfig, Service, Teller
from queue_core.hall_time import zone
from queue_core.model import COUNTER_KINDS
from queue_core.pins import PLAIN, usable_hash

DEFAULT = Path(__file__).with_name("default.toml")
MAX_CONFIG_BYTES = 256 * 1024   # the shipped file has 3 KiB; a stranger's stick may hold GiBs
NAME = 40                       # characters of a name: hall, service, counter, teller
LINES, LINE = 4, 48             # a ticket's header or footer: lines of 48 characters at most
QR_FIELDS = {"day", "label", "service"}
QR_MAX = 200                    # characters of the QR template, bytes of the text it makes
QR_SAMPLE = {"day": "2026-11-23", "label": "A0001", "service": "A"}


@dataclass(frozen=True)
class ApplianceConfig:
    """One configuration file: the hall (queue_core's part) and how its devices are wired.

    `data` holds the very bytes that were validated: the caller installs or remembers those,
    never the file read a second time (a stick can change in between)."""

    hall: HallConfig
    ticket: TicketConfig
    hardware: HardwareConfig
    office: OfficeConfig = OfficeConfig()
    screens: tuple[ScreenConfig, ...] = (ScreenConfig("hall"),)
    his: HisConfig | None = None
    data: bytes = field(default=b"", repr=False, compare=False)


def load_config(path: str | Path) -> ApplianceConfig:
    """Read `path` once, bounded, and check it completely; raises ConfigError naming file,
    option and reason."""
    path = Path(path)
    return parse_config(_read(path), path)


def parse_config(data: bytes, source: str | Path) -> ApplianceConfig:
    """Check a configuration file's bytes completely; every ConfigError starts with `source`."""
    root = Table(_toml(data, source), source, "")
    hall = root.table("hall")
    services = tuple(_service(t) for t in root.tables("service"))
    counters = tuple(_counter(t) for t in root.tables("counter"))
    tellers = tuple(_teller(t) for t in root.tables("teller"))
    hardware = read_hardware(root, {s.prefix for s in services}, {c.number for c in counters},
                             source)
    ticket = _ticket(root.table("ticket"))
    office = read_office(root.table("office"))
    screens = read_screens(root.tables("screen"), {s.prefix for s in services},
                           {c.number for c in counters})
    hospital = read_hospital(root.table("hospital"), root.tables("stage"), root.tables("lane"),
                             {s.prefix for s in services}, str(source))
    his = read_his(root.table("his"))
    if his is not None and not hospital.stages:
        raise ConfigError(f"{source}: [his] needs the hospital's flow ([[stage]] tables)")
    if his is not None and his.adapter == "hl7" and office.enabled and \
            his.port in (office.port, office.screen_port):
        raise ConfigError(f"{source}: [his], option 'port': {his.port} is the back office's"
                          " (its [office] port or screen_port)")
    root.close()
    config = HallConfig(
        name=hall.text("name", NAME),
        name_zh=hall.text("name_zh", NAME, ""),
        max_recalls=hall.get("max_recalls", int, 2, lambda n: 0 <= n <= 9, "must be 0 to 9"),
        rating_window=hall.get("rating_window", float, 60.0, lambda v: 5 <= v <= 600,
                               "must be 5 to 600 seconds"),
        time_zone=hall.get("time_zone", str, HallConfig.time_zone, _known_zone,
                           "must be a time zone name such as \"Asia/Shanghai\""),
        day_starts=hall.get("day_starts", str, HallConfig.day_starts,
                            lambda v: re.fullmatch(r"([01][0-9]|2[0-3]):[0-5][0-9]", v),
                            'must be a time of day such as "04:00"'),
        services=services, counters=counters, tellers=tellers, hospital=hospital)
    hall.close()
    _check_references(config, source)
    return ApplianceConfig(config, ticket, hardware, office, screens, his, data)


def load_or_keep(path: str | Path, last_good: Path) -> tuple[ApplianceConfig, str | None]:
    """The configuration to run on: `path`; if it is invalid, `last_good`; if that is invalid
    or missing too, the shipped DEFAULT. Returns it with None, or with one sentence saying which
    fallback runs and why.

    Writes nothing: the caller remembers the config's `data` once it runs on them. Raises
    ConfigError only when the shipped default is invalid too."""
    errors: list[str] = []
    for candidate, fallback in ((Path(path), ""), (last_good, "the last valid configuration"),
                                (DEFAULT, "the shipped default configuration")):
        if fallback and not candidate.exists():
            continue
        try:
            config = load_config(candidate)
        except ConfigError as exc:
            errors.append(str(exc))
            continue
        return config, "; ".join([*errors, f"running on {fallback}"]) if errors else None
    raise ConfigError("; ".join(errors))


def remember(data: bytes, target: Path) -> None:
    """Keep `data` durably as `target`: written aside, synced, then put in place by one rename,
    so that a power cut leaves the old file or the new one. Skipped if `target` holds `data`."""
    target = Path(target)
    if target.is_file() and target.stat().st_size == len(data) and target.read_bytes() == data:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with open(partial, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    folder = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(folder)   # the rename itself
    finally:
        os.close(folder)


def _read(path: Path) -> bytes:
    """The file's bytes; a file too big is refused before it is read."""
    try:
        with open(path, "rb", opener=_nonblocking) as f:
            info = os.fstat(f.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise ConfigError(f"{path}: cannot read: it is not a regular file")
            if info.st_size > MAX_CONFIG_BYTES:
                raise _too_big(path, info.st_size)
            return f.read(MAX_CONFIG_BYTES + 1)   # it may have grown since: parsing refuses it
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc


def _nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NONBLOCK)   # a FIFO on a stick must not hang the boot


def _too_big(source: str | Path, size: int) -> ConfigError:
    return ConfigError(f"{source}: cannot read: the file has {size} bytes, more than the limit"
                       f" of {MAX_CONFIG_BYTES} bytes")


def _toml(data: bytes, source: str | Path) -> dict:
    if len(data) > MAX_CONFIG_BYTES:
        raise _too_big(source, len(data))
    body = data.removeprefix(codecs.BOM_UTF8)   # Windows Notepad starts UTF-8 files with one
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{source}: cannot read: the file is not UTF-8 text (line {line});"
                          " save it as UTF-8") from exc
    try:
        return tomllib.loads(text)
    except RecursionError as exc:
        raise ConfigError(f"{source}: cannot read: arrays or tables nested too deeply") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: cannot read: {exc}") from exc
    except Exception as exc:   # ValueError: an integer of thousands of digits
        raise ConfigError(f"{source}: cannot read: a number has more digits than any option"
                          " takes") from exc


def _known_zone(name: str) -> bool:
    try:
        zone(name)
    except (ValueError, OSError, ZoneInfoNotFoundError):   # also "../etc/passwd" and NULs
        return False
    return True


def _ticket(t: Table) -> TicketConfig:
    config = TicketConfig(header=t.lines("header", LINES, LINE),
                          footer=t.lines("footer", LINES, LINE), qr=_qr(t))
    t.close()
    return config


def _qr(t: Table) -> str:
    """The QR template, checked before it is ever formatted: "{label:>99999999}" alone would
    make a text of 100 MB."""
    template = t.get("qr", str, TicketConfig.qr, lambda v: len(v) <= QR_MAX,
                     f"must be at most {QR_MAX} characters")
    if not _plain_fields(template):
        raise t.error("qr", "may use only {day}, {label} and {service}, as they are (no format,"
                            f" conversion, attribute or index), got {shown(template)}")
    size = len(template.format(**QR_SAMPLE).encode())
    if size > QR_MAX:
        raise t.error("qr", f"makes a QR text of {size} bytes, more than {QR_MAX}")
    return template


def _plain_fields(template: str) -> bool:
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError:   # a single { or }
        return False
    return all(name is None or (name in QR_FIELDS and not spec and conversion is None)
               for _, name, spec, conversion in parts)


def _service(t: Table) -> Service:
    numbers = t.get("numbers", list, [1, 999], lambda v: len(v) == 2 and 1 <= v[0] <= v[1] <= 9999,
                    "must be [first, last] with 1 <= first <= last <= 9999", item=int)
    service = Service(
        prefix=t.get("prefix", str, check=lambda p: re.fullmatch("[A-Z]", p) is not None,
                     why="must be one capital letter A-Z"),
        name_en=t.text("name_en", NAME),
        name_zh=t.text("name_zh", NAME),
        first=numbers[0], last=numbers[1],
        daily_cap=t.get("daily_cap", int, None, lambda n: n >= 1, "must be at least 1"),
        alarm_wait=t.get("alarm_wait", int, None, lambda n: 1 <= n <= 600,
                         "must be 1 to 600 minutes"),
        alarm_queue=t.get("alarm_queue", int, None, lambda n: 1 <= n <= 9999,
                          "must be 1 to 9999 tickets"))
    t.close()
    return service


def _counter(t: Table) -> Counter:
    counter = Counter(
        number=t.get("number", int, check=lambda n: 1 <= n <= 999, why="must be 1 to 999"),
        name=t.text("name", NAME),
        services=tuple(t.get("services", list, check=lambda v: len(v) > 0,
                             why="must be a non-empty list of service letters", item=str)),
        kind=t.get("kind", str, Counter.kind, lambda k: k in COUNTER_KINDS,
                   "must be " + ", ".join(f'"{k}"' for k in COUNTER_KINDS[:-1])
                   + f' or "{COUNTER_KINDS[-1]}"'))
    t.close()
    return counter


KEYPAD_ARGUMENT = 16   # characters a keypad sends with a key: "T01 1111" for a login


def _teller(t: Table) -> Teller:
    teller = Teller(
        id=t.get("id", str, check=lambda i: re.fullmatch(r"[A-Za-z0-9]{1,8}", i) is not None,
                 why="must be 1 to 8 letters or digits"),
        name=t.text("name", NAME),
        pin=t.get("pin", str, check=lambda p: PLAIN.fullmatch(p) or usable_hash(p),
                  why="must be a string of 4 to 8 digits (or a PIN hash this box can check:"
                      " scrypt:N:r:p:salt:hash, N·r at most 2**18, p at most 4)", secret=True),
        own_only=t.get("own_patients_only", bool, False))
    if PLAIN.fullmatch(teller.pin) and len(teller.id) + 1 + len(teller.pin) > KEYPAD_ARGUMENT:
        raise t.error("pin", f"is too long for teller {teller.id!r}: the id, a space and the"
                             f" PIN must fit a keypad's {KEYPAD_ARGUMENT} characters")
    t.close()
    return teller


def _check_references(config: HallConfig, path: str | Path) -> None:
    def unique(kind: str, keys: list) -> None:
        seen = set()
        for key in keys:
            if key in seen:
                raise ConfigError(f"{path}: [[{kind}]] {key!r} is defined twice")
            seen.add(key)

    unique("service", [s.prefix for s in config.services])
    unique("counter", [c.number for c in config.counters])
    unique("teller", [t.id for t in config.tellers])
    if not config.services or not config.counters:
        raise ConfigError(f"{path}: at least one [[service]] and one [[counter]] are needed")
    for counter in config.counters:
        for prefix in counter.services:
            if config.service(prefix) is None:
                raise ConfigError(f"{path}: [[counter]] {counter.number}, option 'services':"
                                  f" no service {shown(prefix)}")
        if len(set(counter.services)) != len(counter.services):
            raise ConfigError(f"{path}: [[counter]] {counter.number}, option 'services':"
                              " a service is listed twice")
    for service in config.services:   # else its tickets print, and nobody can call them
        if not any(service.prefix in counter.services for counter in config.counters):
            raise ConfigError(f"{path}: [[service]] {service.prefix!r} is served by no"
                              " [[counter]]")
