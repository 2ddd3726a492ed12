"""The HIS adapters: how the hospital information system's messages reach the loop.

An adapter is built from the `[his]` table, the hall's time zone and `deliver`, the loop's
door: `await deliver(message)` returns once the hall applied the HisMessage (or had applied it
before: a resend), or raises the QueueError whose str() says why the hall refused it. The
adapter's `run()` is a background task of the loop, supervised (started again if it fails) and
cancelled at the stop. Each kind of link is one module: `hl7` (the HIS sends HL7 v2 over MLLP)
and `sql_view` (the box polls a view of the HIS's database); another is a module with a class
of the same three-argument constructor and `run()`, named in ADAPTERS.

Example::

    adapter = his.build(config.his, config.hall.time_zone, appliance.his.deliver)
    task = asyncio.create_task(adapter.run())   # until cancelled
"""

from __future__ import annotations

import importlib
from typing import Awaitable, Callable, Protocol

from config.his import HisConfig
from config.table import first_hidden
from drivers.events import HisMessage

Deliver = Callable[[HisMessage], Awaitable[None]]
ADAPTERS = {"hl7": ("firmware.his.hl7", "Hl7Adapter"),
            "sql": ("firmware.his.sql_view", "SqlViewAdapter")}
# The fields of each kind: those it requires, then those it may have (see HisMessage).
KINDS = {
    "register": (("patient", "name", "department", "visit"), ("doctor", "lane")),
    "cancel": (("visit",), ("patient",)),
    "appointment": (("visit", "patient", "name", "department"), ("doctor", "slot")),
    "ready": (("visit",), ("patient",)),
}
MAX_TEXT = 100   # characters of one field: ids, codes and names are far shorter


class Adapter(Protocol):
    """Built as `Adapter(config, zone, deliver)`: `zone` is the hall's IANA time zone name."""

    async def run(self) -> None:
        """Receive (or fetch) messages and deliver them, until cancelled."""


def build(config: HisConfig, zone: str, deliver: Deliver) -> Adapter:
    """The adapter `config` names, ready to run; nothing is opened before run()."""
    module, name = ADAPTERS[config.adapter]
    return getattr(importlib.import_module(module), name)(config, zone, deliver)


def unfit(text: str) -> str | None:
    """Why `text` cannot be a field's value (it reaches screens, tickets and the log), or
    None. Never quotes it: it may be a patient's name."""
    hidden = first_hidden(text)
    if hidden is not None:
        return f"contains the control or invisible character U+{ord(hidden):04X}"
    if len(text) > MAX_TEXT:
        return f"is longer than {MAX_TEXT} characters"
    return None
