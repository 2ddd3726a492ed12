"""The `[his]` table: how the hospital information system reaches the box (HL7 or a SQL view)."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from config.office import FILE
from config.table import Table

ADAPTERS = ("hl7", "sql")
OPTIONS = {"hl7": ("address", "port", "charset", "senders", "application", "facility"),
           "sql": ("database", "view", "interval")}
CHARSETS = ("UTF-8", "GB18030")
NAME = re.compile(r"[A-Za-z0-9_.-]{1,20}")          # our MSH-3 / MSH-4 (HD namespace ids)
VIEW = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")   # a plain SQL identifier
MAX_SENDERS = 32


@dataclass(frozen=True)
class HisConfig:
    adapter: str                  # "hl7": the HIS connects and sends HL7 v2 over MLLP;
    #                               "sql": the box polls a view of the HIS's database
    address: str = "0.0.0.0"      # hl7: where the box listens (every interface: the LAN)
    port: int = 2575              # hl7: IANA's port for HL7 over MLLP
    charset: str = "UTF-8"        # hl7: the site's character set, "UTF-8" or "GB18030"
    senders: tuple[str, ...] = ()   # hl7: the only addresses that may connect; () = any host
    #                                 on the LAN may register patients (set it on a real site)
    application: str = "QUEUE"    # hl7: our MSH-3 and MSH-4 in acknowledgements
    facility: str = "HALL"
    database: str = ""            # sql: the SQLite file holding the view (read-only)
    view: str = ""                # sql: the view's name
    interval: float = 5.0         # sql: seconds between polls


def read_his(t: Table) -> HisConfig | None:
    """The HIS link, or None when the file has no `[his]` table (no HIS: a bank, a hall)."""
    if not t.data:
        return None
    d = HisConfig("hl7")
    adapter = t.get("adapter", str, check=lambda v: v in ADAPTERS, why='must be "hl7" or "sql"')
    for other, options in OPTIONS.items():
        for key in options:
            if other != adapter and key in t.data:
                raise t.error(key, f'applies to adapter = "{other}" only')
    if adapter == "hl7":
        config = HisConfig(
            adapter,
            address=t.get("address", str, d.address, _address, "must be an IPv4 or IPv6 address"),
            port=t.get("port", int, d.port, lambda v: 1024 <= v <= 65535,
                       "must be 1024 to 65535 (the box runs without privileges)"),
            charset=t.get("charset", str, d.charset, lambda v: v in CHARSETS,
                          'must be "UTF-8" or "GB18030"'),
            senders=tuple(str(ipaddress.ip_address(a)) for a in t.get(
                "senders", list, [], lambda v: len(v) <= MAX_SENDERS and all(map(_address, v)),
                f"must list up to {MAX_SENDERS} IPv4 or IPv6 addresses", item=str)),
            application=t.get("application", str, d.application, NAME.fullmatch,
                              "must be 1 to 20 letters, digits, _ . -"),
            facility=t.get("facility", str, d.facility, NAME.fullmatch,
                           "must be 1 to 20 letters, digits, _ . -"))
    else:
        config = HisConfig(
            adapter,
            database=t.get("database", str, check=FILE.fullmatch,
                           why="must be the absolute path of an SQLite file"),
            view=t.get("view", str, check=VIEW.fullmatch,
                       why="must be a view's name: letters, digits and _, not starting with a"
                           " digit, at most 64"),
            interval=t.get("interval", float, d.interval, lambda v: 1 <= v <= 3600,
                           "must be 1 to 3600 seconds"))
    t.close()
    return config


def _address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return False
