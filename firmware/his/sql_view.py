"""A view of the HIS's database, polled: the second kind of HIS link, one small module.

The HIS (or its vendor) provides a view whose rows are its messages, oldest first:

    id          an integer that grows with each row
    kind        "register", "cancel", "appointment" or "ready"
    patient, name, department, doctor, visit, lane, slot
                text (or integers), as the HL7 adapter's fields; NULL or '' when absent

Every `[his] interval` seconds the box reads the rows after the last one it handed over
(through a read-only connection, on a thread) and delivers each, in order, with its id as the
control id: a row is passed once the hall applied it or refused it (a refusal is logged with
its reason and never tried again: it could never succeed). A row with bad values (an unknown
kind, a required field missing, a control character) is logged and skipped likewise. After a
restart the box reads the view from its start again: the hall applies each id once (comparing
the row's digest), so that changes nothing. A database missing, locked or without the view is
logged once per outage and read again at the next interval.

This reads SQLite, the tested reference; a site's MySQL or Oracle view is the same module
with that database's DB-API driver's connect() in `_select` (and its `%s` or `:1` placeholder).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import sqlite3
import time
from pathlib import Path

from config.his import HisConfig
from config.table import shown
from drivers.events import HisMessage
from firmware.his import KINDS, Deliver, unfit
from queue_core.errors import QueueError

log = logging.getLogger(__name__)

COLUMNS = ("id", "kind", "patient", "name", "department", "doctor", "visit", "lane", "slot")
BATCH = 100            # rows read at a time; a full batch is followed at once by the next
BUSY_SECONDS = 1.0     # waiting for a lock of the HIS's writer, at most


class SqlViewAdapter:
    """Polls `[his] view` of `[his] database` and delivers its new rows.

    Example::

        adapter = SqlViewAdapter(config.his, "Asia/Shanghai", appliance.his.deliver)
        await adapter.run()   # until cancelled
    """

    def __init__(self, config: HisConfig, zone: str, deliver: Deliver):
        self.config, self.deliver = config, deliver
        self.last: float = -math.inf   # the id of the last row handed over (none yet)
        self._outage: str | None = None
        self._query = (f"SELECT {', '.join(COLUMNS)} FROM \"{config.view}\" WHERE id > ?"
                       f" ORDER BY id LIMIT {BATCH}")

    async def run(self) -> None:
        while True:
            rows = await self._poll()
            for row in rows:
                if not await self._hand_over(row):
                    break
            if len(rows) < BATCH:
                await asyncio.sleep(self.config.interval)

    async def _poll(self) -> list[tuple]:
        try:
            rows = await asyncio.to_thread(self._select, self.last)
        except (sqlite3.Error, ValueError) as exc:
            if self._outage is None:
                log.warning("HIS view %s: cannot be read (%s); trying every %g s",
                            self.config.view, exc, self.config.interval)
            self._outage = str(exc)
            return []
        if self._outage is not None:
            log.info("HIS view %s: read again", self.config.view)
            self._outage = None
        return rows

    def _select(self, after: float) -> list[tuple]:
        uri = Path(self.config.database).as_uri() + "?mode=ro"
        db = sqlite3.connect(uri, uri=True, timeout=BUSY_SECONDS)
        try:
            rows = db.execute(self._query, (after,)).fetchall()
        finally:
            db.close()
        # (an id of another type sorts after every integer: the rows before it are read)
        whole = next((n for n, row in enumerate(rows) if type(row[0]) is not int), len(rows))
        if whole == 0 and rows:
            raise ValueError(f"its id is {type(rows[0][0]).__name__}, not an integer")
        return rows[:whole]

    async def _hand_over(self, row: tuple) -> bool:
        """Deliver `row`; False when it must be read again (the hall could not answer)."""
        number, kind = row[0], row[1]
        try:
            fields = _fields(row)
        except ValueError as exc:
            log.warning("HIS view %s: row %d skipped: %s", self.config.view, number, exc)
            self.last = number
            return True
        content = json.dumps(row, ensure_ascii=False, default=repr)   # (a BLOB as its repr)
        digest = hashlib.sha256(content.encode()).hexdigest()
        try:
            await self.deliver(HisMessage(kind, time.time(), fields, "sql", str(number), digest))
        except QueueError as exc:
            log.warning("HIS view %s: row %d (%s) refused: %s", self.config.view, number, kind,
                        exc)
        except Exception as exc:   # (a fault of the box's: the row is read again)
            log.error("HIS view %s: row %d (%s) not delivered: %s", self.config.view, number,
                      kind, exc)
            return False
        else:
            log.info("HIS view %s: row %d (%s) applied", self.config.view, number, kind)
        self.last = number
        return True


def _fields(row: tuple) -> dict[str, str]:
    """The fields of a row's kind; raises ValueError saying what is wrong (never a value)."""
    values = dict(zip(COLUMNS, row))
    kind = values["kind"]
    if kind not in KINDS:
        raise ValueError(f"kind {shown(kind)} is none of {', '.join(KINDS)}")
    required, optional = KINDS[kind]
    fields = {}
    for column in (*required, *optional):
        value = values[column]
        if type(value) is int:
            value = str(value)
        elif value is not None and type(value) is not str:
            raise ValueError(f"column {column} must be text or an integer")
        value = (value or "").strip()
        if (reason := unfit(value)) is not None:
            raise ValueError(f"column {column} {reason}")
        if value:
            fields[column] = value
        elif column in required:
            raise ValueError(f"column {column} is empty (a {kind} needs it)")
    return fields
