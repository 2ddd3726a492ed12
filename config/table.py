"""Reading one TOML table strictly: types, checks, and no unknown option."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Callable

REQUIRED = object()


class ConfigError(ValueError):
    """The configuration file is unreadable or invalid; nothing of it was applied."""


class Table:
    """One TOML table being read: every option must be read, so a typo is an error."""

    def __init__(self, data: Any, path: Path, where: str):
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: {where} must be a table")
        self.data, self.path, self.where, self.read = data, path, where, set()

    def get(self, key: str, kind: type, default: Any = REQUIRED,
            check: Callable[[Any], Any] | None = None, why: str = "") -> Any:
        self.read.add(key)
        if key not in self.data:
            if default is REQUIRED:
                raise self.error(key, "is required")
            return default
        value = self.data[key]
        if kind is float and type(value) is int:
            value = float(value)
        if type(value) is not kind:
            raise self.error(key, f"must be {kind.__name__}, got {value!r}")
        if check is not None and not check(value):
            raise self.error(key, f"{why}, got {value!r}")
        return value

    def table(self, key: str) -> Table:
        self.read.add(key)
        inside = self.where[1:-1] + "." if self.where.startswith("[") and \
            not self.where.startswith("[[") else ""
        return Table(self.data.get(key, {}), self.path, f"[{inside}{key}]")

    def tables(self, key: str) -> list[Table]:
        self.read.add(key)
        items = self.data.get(key, [])
        if not isinstance(items, list):
            raise self.error(key, f"must be written [[{key}]]")
        return [Table(item, self.path, f"[[{key}]] #{n}") for n, item in enumerate(items, 1)]

    def close(self) -> None:
        for key in self.data.keys() - self.read:
            close = difflib.get_close_matches(key, self.read, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.error(key, f"is not a valid option{hint}")

    def error(self, key: str, reason: str) -> ConfigError:
        where = f"{self.where}, " if self.where else ""
        return ConfigError(f"{self.path}: {where}option {key!r} {reason}")
