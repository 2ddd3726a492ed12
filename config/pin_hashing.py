"""Plain PINs in a configuration file replaced by salted hashes, so no copy the box keeps (or a
signed stick carries) holds a PIN that can be read."""

from __future__ import annotations

import re

from config.load import ApplianceConfig, parse_config
from config.table import ConfigError
from queue_core.pins import PLAIN, hash_pin

PIN_LINE = re.compile(rb"""(?m)^([ \t]*pin[ \t]*=[ \t]*)(["'])([0-9]{4,8})\2""")


def keepable(config: ApplianceConfig, source: str = "") -> ApplianceConfig:
    """`config` as the box keeps it: every plain `pin = "1234"` line of its file hashed (the
    file is validated again as rewritten); unchanged when it holds no plain PIN.

    Raises ConfigError when a plain PIN is written where it cannot be found (an inline table)."""
    if not any(PLAIN.fullmatch(t.pin) for t in config.hall.tellers):
        return config
    data = PIN_LINE.sub(lambda m: m[1] + b'"' + hash_pin(m[3].decode()).encode() + b'"',
                        config.data)
    kept = parse_config(data, source or "the configuration")
    for teller in kept.hall.tellers:
        if PLAIN.fullmatch(teller.pin):
            raise ConfigError(f"{source or 'the configuration'}: [[teller]] {teller.id!r},"
                              " option 'pin': write it on a line of its own (pin = \"1234\")"
                              " so that the box can keep it hashed")
    return kept
