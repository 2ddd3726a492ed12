"""Reading one TOML table strictly: types, checks, and no unknown option."""

from __future__ import annotations

import difflib
import reprlib
import sys
import unicodedata
from pathlib import Path
from typing import Any, Callable

REQUIRED = object()
# Control, format (bidi overrides, zero-width), surrogate, private-use, unassigned, line and
# paragraph separators: on a ticket they become printer commands or nothing visible.
HIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


class ConfigError(ValueError):
    """The configuration file is unreadable or invalid; nothing of it was applied."""


class Table:
    """One TOML table being read: every option must be read, so a typo is an error."""

    def __init__(self, data: Any, path: str | Path, where: str):
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: {where} must be a table")
        self.data, self.path, self.where, self.read = data, path, where, set()

    def get(self, key: str, kind: type, default: Any = REQUIRED,
            check: Callable[[Any], Any] | None = None, why: str = "",
            item: type | None = None, secret: bool = False) -> Any:
        """The option `key` of type `kind` (a list's elements of type `item`), passing `check`.

        Types are checked first, so `check` only ever sees the types it was written for. The
        value of a `secret` option (a PIN) is never shown in a message: they reach the wall."""
        self.read.add(key)
        if key not in self.data:
            if default is REQUIRED:
                raise self._missing(key)
            return default
        value = self.data[key]
        if kind is float and type(value) is int and abs(value) <= sys.float_info.max:
            value = float(value)   # a bigger one stays int and is refused as no float
        got = "" if secret else f", got {shown(value)}"
        if type(value) is not kind:
            raise self.error(key, f"must be {kind.__name__}{got}")
        if item is not None and any(type(v) is not item for v in value):
            raise self.error(key, f"must be a list of {item.__name__}{got}")
        if check is not None and not check(value):
            raise self.error(key, f"{why}{got}")
        return value

    def text(self, key: str, limit: int, default: Any = REQUIRED) -> str:
        """A line of at most `limit` visible characters (a name, printed and displayed)."""
        value = self.get(key, str, default)
        self._printable(key, value, limit)
        return value

    def lines(self, key: str, count: int, limit: int) -> tuple[str, ...]:
        """At most `count` lines of text of at most `limit` characters each (optional)."""
        value = self.get(key, list, [], lambda v: len(v) <= count,
                         f"must have at most {count} lines", item=str)
        for line in value:
            self._printable(key, line, limit)
        return tuple(value)

    def table(self, key: str) -> Table:
        self.read.add(key)
        return Table(self.data.get(key, {}), self.path, f"[{self._inside()}{key}]")

    def tables(self, key: str) -> list[Table]:
        self.read.add(key)
        items = self.data.get(key, [])
        name = self._inside() + key
        if not isinstance(items, list):
            raise self.error(key, f"must be written [[{name}]]")
        return [Table(item, self.path, f"[[{name}]] #{n}") for n, item in enumerate(items, 1)]

    def _inside(self) -> str:
        """The dotted prefix of a table inside this one ("hardware." inside [hardware])."""
        return self.where[1:-1] + "." if self.where.startswith("[") and \
            not self.where.startswith("[[") else ""

    def close(self) -> None:
        for key in self.data.keys() - self.read:
            close = difflib.get_close_matches(key, self.read, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise self.error(key, f"is not a valid option{hint}")

    def error(self, key: str, reason: str) -> ConfigError:
        where = f"{self.where}, " if self.where else ""
        return ConfigError(f"{self.path}: {where}option {shown(key)} {reason}")

    def _missing(self, key: str) -> ConfigError:
        """A required option is missing: if it looks misspelt, the misspelling is the error.

        Options read later are still unread here (name_zh while name_en is missing: 0.71
        alike), hence a closeness stricter than close()'s."""
        unread = [k for k in self.data if k not in self.read]
        typo = difflib.get_close_matches(key, unread, n=1, cutoff=0.8)
        if typo:
            return self.error(typo[0], f"is not a valid option (did you mean {key!r}?)")
        return self.error(key, "is required")

    def _printable(self, key: str, text: str, limit: int) -> None:
        hidden = first_hidden(text)
        if hidden is not None:
            raise self.error(key, f"contains the control or invisible character"
                                  f" U+{ord(hidden):04X}, got {shown(text)}")
        if len(text) > limit:
            raise self.error(key, f"must be at most {limit} characters, got {len(text)}")


def first_hidden(text: str) -> str | None:
    """The first control or invisible character of `text` (HIDDEN), or None."""
    return next((c for c in text if unicodedata.category(c) in HIDDEN), None)


def shown(value: Any) -> str:
    """`value` for a message: shortened, however long or deep the file made it."""
    short = reprlib.Repr()
    short.maxstring = short.maxother = 80
    try:
        return short.repr(value)
    except ValueError:   # a hexadecimal integer too long to write in decimal
        return "a number too large to show"
