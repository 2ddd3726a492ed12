"""Read and validate a hall configuration file; every error names the file, the option and why."""

from __future__ import annotations

import logging
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from config.hardware import HardwareConfig, read_hardware
from config.table import ConfigError, Table
from media.ticket import TicketConfig
from queue_core import Counter, HallConfig, Service, Teller

DEFAULT = Path(__file__).with_name("default.toml")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApplianceConfig:
    """One configuration file: the hall (queue_core's part) and how its devices are wired."""

    hall: HallConfig
    ticket: TicketConfig
    hardware: HardwareConfig


def load_config(path: str | Path) -> ApplianceConfig:
    """Parse and check `path` completely; raises ConfigError naming file, option and reason."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    root = Table(data, path, "")
    hall = root.table("hall")
    services = tuple(_service(t) for t in root.tables("service"))
    counters = tuple(_counter(t) for t in root.tables("counter"))
    tellers = tuple(_teller(t) for t in root.tables("teller"))
    hardware = read_hardware(root, {s.prefix for s in services}, {c.number for c in counters},
                             path)
    ticket = _ticket(root.table("ticket"))
    root.close()
    config = HallConfig(
        name=hall.get("name", str),
        name_zh=hall.get("name_zh", str, ""),
        max_recalls=hall.get("max_recalls", int, 2, lambda n: 0 <= n <= 9, "must be 0 to 9"),
        rating_window=hall.get("rating_window", float, 60.0, lambda v: 5 <= v <= 600,
                               "must be 5 to 600 seconds"),
        services=services, counters=counters, tellers=tellers)
    hall.close()
    _check_references(config, path)
    return ApplianceConfig(config, ticket, hardware)


def load_or_keep(path: str | Path, last_good: Path) -> ApplianceConfig:
    """Load `path` and keep a copy of it as `last_good`; if it is invalid, run on that copy.

    Raises ConfigError only when neither is valid.
    """
    path = Path(path)
    try:
        config = load_config(path)
    except ConfigError as exc:
        if not last_good.exists():
            raise
        log.error("%s; running on the last valid configuration", exc)
        return load_config(last_good)
    remember(path, last_good)
    return config


def remember(path: Path, last_good: Path) -> None:
    """Keep a durable copy of the valid file `path` as `last_good`: written aside, synced, then
    put in place by one rename, so that a power cut leaves the old copy or the new one."""
    text = path.read_bytes()
    if not last_good.exists() or last_good.read_bytes() != text:
        last_good.parent.mkdir(parents=True, exist_ok=True)
        partial = last_good.with_suffix(".part")
        with open(partial, "wb") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, last_good)
        folder = os.open(last_good.parent, os.O_RDONLY)
        try:
            os.fsync(folder)   # the rename itself
        finally:
            os.close(folder)


def _ticket(t: Table) -> TicketConfig:
    def template(text: str) -> bool:
        try:
            text.format(day="2026-01-01", label="A001", service="A")
        except (KeyError, IndexError, ValueError):
            return False
        return True

    lines = (lambda v: all(isinstance(line, str) for line in v), "must be a list of strings")
    config = TicketConfig(
        header=tuple(t.get("header", list, [], *lines)),
        footer=tuple(t.get("footer", list, [], *lines)),
        qr=t.get("qr", str, TicketConfig.qr, template,
                 "may use only {day}, {label} and {service}"))
    t.close()
    return config


def _service(t: Table) -> Service:
    numbers = t.get("numbers", list, [1, 999],
                    lambda v: len(v) == 2 and all(type(n) is int for n in v)
                    and 1 <= v[0] <= v[1] <= 9999,
                    "must be [first, last] with 1 <= first <= last <= 9999")
    service = Service(
        prefix=t.get("prefix", str, check=lambda p: re.fullmatch("[A-Z]", p) is not None,
                     why="must be one capital letter A-Z"),
        name_en=t.get("name_en", str),
        name_zh=t.get("name_zh", str),
        first=numbers[0], last=numbers[1],
        daily_cap=t.get("daily_cap", int, None, lambda n: n >= 1, "must be at least 1"))
    t.close()
    return service


def _counter(t: Table) -> Counter:
    counter = Counter(
        number=t.get("number", int, check=lambda n: 1 <= n <= 999, why="must be 1 to 999"),
        name=t.get("name", str),
        services=tuple(t.get("services", list, check=lambda v: v and all(
            isinstance(p, str) for p in v), why="must be a non-empty list of service letters")))
    t.close()
    return counter


def _teller(t: Table) -> Teller:
    teller = Teller(
        id=t.get("id", str, check=lambda i: re.fullmatch(r"[A-Za-z0-9]{1,8}", i) is not None,
                 why="must be 1 to 8 letters or digits"),
        name=t.get("name", str),
        pin=t.get("pin", str, check=lambda p: re.fullmatch(r"[0-9]{4,8}", p) is not None,
                  why="must be a string of 4 to 8 digits"))
    t.close()
    return teller


def _check_references(config: HallConfig, path: Path) -> None:
    def unique(kind: str, keys: list) -> None:
        for key in keys:
            if keys.count(key) > 1:
                raise ConfigError(f"{path}: [[{kind}]] {key!r} is defined twice")

    unique("service", [s.prefix for s in config.services])
    unique("counter", [c.number for c in config.counters])
    unique("teller", [t.id for t in config.tellers])
    if not config.services or not config.counters:
        raise ConfigError(f"{path}: at least one [[service]] and one [[counter]] are needed")
    for counter in config.counters:
        for prefix in counter.services:
            if config.service(prefix) is None:
                raise ConfigError(f"{path}: [[counter]] {counter.number}, option 'services':"
                                  f" no service {prefix!r}")
        if len(set(counter.services)) != len(counter.services):
            raise ConfigError(f"{path}: [[counter]] {counter.number}, option 'services':"
                              " a service is listed twice")
