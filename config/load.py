"""Read and validate a hall configuration file; every error names the file, the option and why."""

from __future__ import annotations

import difflib
import logging
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Callable

from queue_core import Counter, HallConfig, Service, Teller

DEFAULT = Path(__file__).with_name("default.toml")
_REQUIRED = object()
log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """The configuration file is unreadable or invalid; nothing of it was applied."""


def load_config(path: str | Path) -> HallConfig:
    """Parse and check `path` completely; raises ConfigError naming file, option and reason."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    root = _Table(data, path, "")
    hall = root.table("hall")
    services = tuple(_service(t) for t in root.tables("service"))
    counters = tuple(_counter(t) for t in root.tables("counter"))
    tellers = tuple(_teller(t) for t in root.tables("teller"))
    root.close()
    config = HallConfig(
        name=hall.get("name", str),
        name_zh=hall.get("name_zh", str, ""),
        max_recalls=hall.get("max_recalls", int, 2, lambda n: 0 <= n <= 9, "must be 0 to 9"),
        services=services, counters=counters, tellers=tellers)
    hall.close()
    _check_references(config, path)
    return config


def load_or_keep(path: str | Path, last_good: Path) -> HallConfig:
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
    text = path.read_bytes()
    if not last_good.exists() or last_good.read_bytes() != text:
        last_good.parent.mkdir(parents=True, exist_ok=True)
        partial = last_good.with_suffix(".part")
        with open(partial, "wb") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, last_good)
    return config


def _service(t: _Table) -> Service:
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


def _counter(t: _Table) -> Counter:
    counter = Counter(
        number=t.get("number", int, check=lambda n: 1 <= n <= 999, why="must be 1 to 999"),
        name=t.get("name", str),
        services=tuple(t.get("services", list, check=lambda v: v and all(
            isinstance(p, str) for p in v), why="must be a non-empty list of service letters")))
    t.close()
    return counter


def _teller(t: _Table) -> Teller:
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


class _Table:
    """One TOML table being read: every option must be read, so a typo is an error."""

    def __init__(self, data: Any, path: Path, where: str):
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: {where} must be a table")
        self.data, self.path, self.where, self.read = data, path, where, set()

    def get(self, key: str, kind: type, default: Any = _REQUIRED,
            check: Callable[[Any], Any] | None = None, why: str = "") -> Any:
        self.read.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                raise self.error(key, "is required")
            return default
        value = self.data[key]
        if type(value) is not kind:
            raise self.error(key, f"must be {kind.__name__}, got {value!r}")
        if check is not None and not check(value):
            raise self.error(key, f"{why}, got {value!r}")
        return value

    def table(self, key: str) -> _Table:
        self.read.add(key)
        return _Table(self.data.get(key, {}), self.path, f"[{key}]")

    def tables(self, key: str) -> list[_Table]:
        self.read.add(key)
        items = self.data.get(key, [])
        if not isinstance(items, list):
            raise self.error(key, f"must be written [[{key}]]")
        return [_Table(item, self.path, f"[[{key}]] #{n}") for n, item in enumerate(items, 1)]

    def close(self) -> None:
        for key in self.data.keys() - self.read:
            close = difflib.get_close_matches(key, self.read, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.error(key, f"is not a valid option{hint}")

    def error(self, key: str, reason: str) -> ConfigError:
        where = f"{self.where}, " if self.where else ""
        return ConfigError(f"{self.path}: {where}option {key!r} {reason}")
