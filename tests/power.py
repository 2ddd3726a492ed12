"""Power cuts: the real appliance process, a random workload, SIGKILL at random instants.

After every cut the database is checked, read-only, before the box starts again:
- every ticket the box acknowledged (printed) exists exactly once, and no number is printed twice;
- every call it acknowledged (shown on the keypad) is in the event log;
- no ticket is in two states, no counter has two customers;
- each ticket's state is what its events say, and every number of the day is there, in order;
- PRAGMA integrity_check passes.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = (ROOT / "config" / "default.toml").read_text()
VARIANTS = (SHIPPED, SHIPPED.replace("max_recalls = 2", "max_recalls = 1")
            .replace('header = ["欢迎光临"]', 'header = ["WELCOME"]'), "[hall]\nname = 1\n")
STATE_AFTER = {"issue": "waiting", "call": "called", "recall": "called", "start": "serving",
               "finish": "done", "no_show": "no_show", "transfer": "transferred",
               "cancel": "cancelled"}
PRINTED = re.compile(r"\[printer\] ticket (\w+) -> .*/(\d{4}-\d\d-\d\d)/")
CALLED = re.compile(r"\[counter (\d+)\] (\w+) CALLED")


@dataclass
class Tally:
    kills: int = 0
    tickets_acknowledged: int = 0
    calls_acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"kills {self.kills}, tickets acknowledged {self.tickets_acknowledged}, calls"
                f" acknowledged {self.calls_acknowledged}, lost {self.lost}, duplicated"
                f" {self.duplicated}, other problems {len(self.problems)}")


class PowerCuts:
    def __init__(self, data_dir: Path, seed: int = 1):
        self.data_dir, self.rng = data_dir, random.Random(seed)
        self.config = data_dir / "hall.toml"
        self.config.write_text(SHIPPED)
        self.tally = Tally()
        self.printed: list[tuple[str, str]] = []        # (day, label), in order printed
        self.called: set[tuple[int, str]] = set()       # (counter, label)

    def run(self, kills: int) -> Tally:
        for _ in range(kills):
            self._cycle()
            self._check()
        counts = Counter(self.printed)
        self.tally.duplicated += sum(n - 1 for n in counts.values())
        return self.tally

    def _workload(self) -> list[str]:
        lines = [f"{c} login T0{c} {c}{c}{c}{c}" for c in range(1, 5)]
        for _ in range(400):
            roll, counter = self.rng.random(), self.rng.randint(1, 4)
            if roll < 0.4:
                lines.append(self.rng.choice("AAABBC"))
            elif roll < 0.98:
                lines.append(f"{counter} " + self.rng.choice(
                    ["call", "call", "call", "finish", "recall", "start", "skip",
                     "transfer B", f"transfer @{self.rng.randint(1, 4)}", "transfer A back",
                     f"rate {self.rng.randint(1, 3)}"]))
            else:
                self.config.write_text(self.rng.choice(VARIANTS))
                lines.append("reload")
        return lines

    def _cycle(self) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        box = subprocess.Popen(
            [sys.executable, "-m", "firmware.boot", "--data-dir", str(self.data_dir),
             "--hardware", "sim", "--config", str(self.config)], cwd=ROOT, env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        ready = threading.Event()
        reader = threading.Thread(target=self._listen, args=(box, ready), daemon=True)
        reader.start()
        if not ready.wait(30):
            box.kill()
            raise AssertionError("the appliance did not get ready")
        cut_at = time.monotonic() + self.rng.uniform(0.05, 1.5)
        try:
            for line in self._workload():
                if time.monotonic() >= cut_at:
                    break
                box.stdin.write(line + "\n")
                box.stdin.flush()
                time.sleep(self.rng.uniform(0, 0.003))
        except BrokenPipeError:
            pass
        time.sleep(max(0.0, cut_at - time.monotonic()))
        box.send_signal(signal.SIGKILL)   # the power cut
        box.wait()
        reader.join(10)
        self.tally.kills += 1

    def _listen(self, box: subprocess.Popen, ready: threading.Event) -> None:
        for line in box.stdout:
            if "ready; type help" in line:
                ready.set()
            elif match := PRINTED.search(line):
                self.printed.append((match[2], match[1]))
                self.tally.tickets_acknowledged += 1
            elif match := CALLED.search(line):
                self.called.add((int(match[1]), match[2]))
                self.tally.calls_acknowledged += 1

    def _problem(self, text: str) -> None:
        self.tally.problems.append(f"after cut {self.tally.kills}: {text}")

    def _check(self) -> None:
        db = sqlite3.connect(f"file:{self.data_dir / 'queue.db'}?mode=ro", uri=True)
        try:
            self._check_db(db)
        finally:
            db.close()

    def _check_db(self, db: sqlite3.Connection) -> None:
        if (result := db.execute("PRAGMA integrity_check").fetchall()) != [("ok",)]:
            self._problem(f"integrity_check: {result[:3]}")
        origins = Counter(db.execute("SELECT day, label FROM tickets WHERE previous_id IS NULL"))
        for ticket in set(self.printed):
            if origins[ticket] == 0:
                self.tally.lost += 1
                self._problem(f"printed ticket {ticket} is missing")
            elif origins[ticket] > 1:
                self.tally.duplicated += 1
        calls = set(db.execute("SELECT e.counter, t.label FROM events e JOIN tickets t"
                               " ON t.id = e.ticket_id WHERE e.kind = 'call'"))
        for call in self.called - calls:
            self.tally.lost += 1
            self._problem(f"call {call} shown but not in the log")
        for label, n in db.execute("SELECT label, COUNT(*) FROM tickets WHERE state IN"
                                   " ('waiting', 'called', 'serving') GROUP BY day, label"
                                   " HAVING COUNT(*) > 1"):
            self._problem(f"{label} is open {n} times")
        for counter, n in db.execute("SELECT counter, COUNT(*) FROM tickets WHERE state IN"
                                     " ('called', 'serving') GROUP BY counter HAVING COUNT(*) > 1"):
            self._problem(f"counter {counter} has {n} customers")
        last_event = dict(db.execute(   # a rating changes no state
            "SELECT ticket_id, kind FROM events WHERE id IN (SELECT MAX(id) FROM events"
            " WHERE ticket_id IS NOT NULL AND kind != 'rate' GROUP BY ticket_id)"))
        for label, n in db.execute("SELECT t.label, COUNT(*) FROM ratings r JOIN tickets t"
                                   " ON t.id = r.ticket_id WHERE t.state != 'done'"
                                   " GROUP BY r.ticket_id"):
            self._problem(f"{label} is rated but not done")
        for ticket_id, label, state, previous in db.execute(
                "SELECT id, label, state, previous_id FROM tickets"):
            expected = STATE_AFTER[last_event[ticket_id]] if ticket_id in last_event else \
                "waiting" if previous is not None else None
            if expected != state:
                self._problem(f"{label} (visit {ticket_id}) is {state}, its events say"
                              f" {expected}")
        for day, service, numbers in db.execute(
                "SELECT day, service, GROUP_CONCAT(number) FROM tickets"
                " WHERE previous_id IS NULL GROUP BY day, service"):
            got = sorted(int(n) for n in numbers.split(","))
            if got != list(range(got[0], got[0] + len(got))):
                self._problem(f"{day} service {service}: numbers {got[:5]}… have gaps")
