"""Every shipped example configuration (config/examples/*.toml): it loads, the demo PINs its
comments give open its keypads, and a short day runs through the appliance's loop with every
device simulated, its figures read and exported to a USB stick."""

import asyncio
import csv
import re
import sqlite3
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from config import load_config
from conftest import at
from drivers.events import (BackOffice, ButtonPressed, CounterKey, HisMessage, OfficeCommand,
                            UsbInserted)
from hallday import wire
from queue_core.pins import pin_matches
from queue_core.statistics import figures
from queue_core.storage import read_only
from queue_core.visit_statistics import hospital

EXAMPLES = sorted((Path(__file__).parents[1] / "config" / "examples").glob("*.toml"))
CONFIGS = {path.name: load_config(path) for path in EXAMPLES}
HOSPITALS = [p for p in EXAMPLES if CONFIGS[p.name].hall.hospital.stages]
HALLS = [p for p in EXAMPLES if p not in HOSPITALS]
DAY = "2026-11-23"
PLACES = {"counter": ("号窗口", "counter"), "window": ("号窗口", "window"),
          "room": ("号诊室", "room"), "table": ("号桌", "table")}


def demo_pins(path: Path) -> dict[str, str]:
    """The PINs the file's comments give its tellers: "T01 1111, T02 2222"."""
    comments = " ".join(line for line in path.read_text().splitlines()
                        if line.lstrip().startswith("#"))
    tellers = {t.id for t in CONFIGS[path.name].hall.tellers}
    return {teller: pin for teller, pin in re.findall(r"\b(\w{1,8}) ([0-9]{4,8})\b", comments)
            if teller in tellers}


def said(config, label: str, counter: int) -> list[str]:
    """A call as the hall hears it, in Chinese then English."""
    zh, en = PLACES[config.hall.counter(counter).kind]
    return [f"请 {label} 号到 {counter} {zh}", f"Ticket {label}, please go to {en} {counter}"]


def run_day(tmp_path: Path, path: Path, events: list):
    """The appliance on the example `path`, every device simulated and no port opened: `events`
    in order, then a USB stick plugged in; stopped once the stick's export is written. Returns
    the day's output and the export's folder."""
    app, day = wire(tmp_path / "box", clock=lambda: at(12), config_path=path)
    app.config = replace(app.config, his=None)   # the test posts the HIS's messages: no port
    stick = tmp_path / "stick"
    stick.mkdir()

    async def hall():
        running = asyncio.create_task(app.run())
        for event in events:
            app.inbox.post(event)
        app.inbox.post(UsbInserted(str(stick), at(12)))
        while app._stick_work is None or not app._stick_work.done():
            await asyncio.sleep(0.02)
        app.stop()
        await running

    asyncio.run(hall())
    day.devices.close()
    [folder] = (stick / "queue-export").iterdir()
    return day, folder


def read(tmp_path: Path, figures_of, *args):
    """Figures read as the back office reads them: through a read-only connection."""
    with closing(read_only(tmp_path / "box" / "queue.db")) as db:
        return figures_of(db, DAY, DAY, *args)


def rows(folder: Path, name: str) -> list[dict]:
    with open(folder / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_an_example_loads_and_its_demo_pins_open_the_keypads(path):
    config = load_config(path)
    assert config.hall.services and config.hall.counters
    pins = demo_pins(path)
    assert sorted(pins) == sorted(t.id for t in config.hall.tellers)
    assert all(pin_matches(config.hall.teller(teller).pin, pin) for teller, pin in pins.items())


def expected_calls(config, tickets: list[str], counters: list[int]) -> dict[int, str | None]:
    """Whom each counter calls in turn, by the calling policy: the first ticket waiting of the
    first of its services that has one."""
    waiting, calls = list(tickets), {}
    for number in counters:
        services = config.hall.counter(number).services
        calls[number] = next((label for service in services for label in waiting
                              if label.startswith(service)), None)
        if calls[number]:
            waiting.remove(calls[number])
    return calls


@pytest.mark.parametrize("path", HALLS, ids=lambda p: p.name)
def test_a_day_at_a_bank_or_a_service_hall(tmp_path, path):
    """Two customers for each service; a teller at each counter calls one; the first counter
    sends its customer on to the second counter, which calls them after its own; every counter
    finishes, a customer rates the visit, and the manager reads the figures."""
    config = CONFIGS[path.name]
    pins = demo_pins(path)
    services = [s.prefix for s in config.hall.services]
    counters = [c.number for c in config.hall.counters][:len(config.hall.tellers)]
    first, second = counters[:2]
    tickets = [config.hall.service(s).label(n) for s in services for n in (1, 2)]
    calls = expected_calls(config, tickets, counters)
    events = [ButtonPressed(label[0], at(9, n)) for n, label in enumerate(tickets)]
    for n, (counter, teller) in enumerate(zip(counters, config.hall.tellers)):
        events.append(CounterKey(counter, "login", at(10, n),
                                 {"teller": teller.id, "pin": pins[teller.id]}))
    events += [CounterKey(counter, "call", at(10, 30, n)) for n, counter in enumerate(counters)]
    events += [CounterKey(first, "transfer", at(10, 40), {"to_counter": second}),
               CounterKey(second, "call", at(10, 41)),
               *(CounterKey(c, "finish", at(10, 50)) for c in counters[1:] if calls[c]),
               CounterKey(second, "rate", at(10, 50, 20), {"rating": 1}),
               BackOffice("stats", at(11), {"days": "today"})]
    day, folder = run_day(tmp_path, path, events)

    printed = sorted(p.stem for p in (tmp_path / "box" / "tickets" / DAY).glob("*.png"))
    assert printed == sorted(tickets)
    called = [(c, label) for c, label in calls.items() if label]
    assert day.devices.audio.spoken == [
        *(words for c, label in called for words in said(config, label, c)),
        *said(config, calls[first], second)]
    for counter, label in calls.items():
        assert f"[counter {counter}] {label or 'NO TICKET'}" in day.printed
    assert f"[counter {second}] THANK YOU" in day.printed
    assert "[office] 2026-11-23 .. 2026-11-23" in day.printed
    shown = read(tmp_path, figures)
    assert {s: shown["service"][s].issued for s in services} == dict.fromkeys(services, 2)
    served = len(called)      # the second counter's two, the others' one, the first's none
    assert sum(f.served for f in shown["service"].values()) == served
    assert sum(f.waiting for f in shown["service"].values()) == len(tickets) - len(called)
    assert (shown["counter"][first].transferred, shown["counter"][second].served,
            shown["counter"][second].ratings) == (1, 2, (1, 0, 0))
    summary = rows(folder, "daily_summary.csv")
    assert sum(int(r["served"]) for r in summary if r["by"] == "service") == served
    assert not (folder / "hospital_daily.csv").exists()


def staff(config, pins: dict[str, str], counter: int, taken: set[str]) -> CounterKey:
    """A login at `counter` by a teller who calls anyone: the one whose id starts with the
    counter's first service letter (L01 at the lab), else the next not yet logged in."""
    free = [t for t in config.hall.tellers if not t.own_only and t.id not in taken]
    teller = next((t for t in free if t.id[0] == config.hall.counter(counter).services[0]),
                  free[0])
    taken.add(teller.id)
    return CounterKey(counter, "login", at(8, 30, len(taken)),
                      {"teller": teller.id, "pin": pins[teller.id]})


@pytest.mark.parametrize("path", HOSPITALS, ids=lambda p: p.name)
def test_a_day_at_a_hospital(tmp_path, path):
    """Three patients registered by the HIS to a department, checked in at the triage desk and
    called forward to a room's door. The first is called in, sent to the lab, back to the same
    doctor, on to the cashier, and collects the prescription the HIS says is ready; the second
    is seen without one; the third leaves. The figures are read and exported."""
    config = CONFIGS[path.name]
    hospital_config, pins = config.hall.hospital, demo_pins(path)
    pharmacy = hospital_config.pharmacy
    department = next(s for s in hospital_config.stages
                      if any(hospital_config.stage(n).back for n in s.next))
    lab = next(n for n in department.next if hospital_config.stage(n).back)
    cashier = next(n for n in department.next if pharmacy in hospital_config.stage(n).next)
    room, lab_window, cash_desk, dispensary = (
        next(c.number for c in config.hall.counters if service in c.services)
        for service in (department.service, lab, cashier, pharmacy))
    label = config.hall.service(department.service).label
    first, second, third = label(1), label(2), label(3)
    taken: set[str] = set()

    def his(kind, hour, minute, visit, **fields):
        return HisMessage(kind, at(hour, minute), {"visit": visit, **fields},
                          "hl7:HIS^RIVERSIDE", f"MSG-{kind}-{visit}", f"digest-{kind}-{visit}")

    def key(counter, name, hour, minute, **params):
        return CounterKey(counter, name, at(hour, minute), params)

    events = [his("register", 8, n, f"V{n}", patient=f"P{n}", name=name,
                  department=department.his[0]) for n, name in ((1, "张三"), (2, "李四"),
                                                                (3, "王五"))]
    events += [OfficeCommand("check_in", at(8, 5 + n), {"key": patient}, "nurse")
               for n, patient in enumerate((first, second, third))]
    events += [staff(config, pins, counter, taken)
               for counter in (room, lab_window, cash_desk, dispensary)]
    events += [key(room, "call", 9, 0), key(room, "start", 9, 1),
               key(room, "transfer", 9, 10, service=lab, keep_place=False),
               key(lab_window, "call", 9, 11), key(lab_window, "finish", 9, 20),
               key(room, "call", 9, 21),                       # back from the lab: first
               key(room, "transfer", 9, 30, service=cashier, keep_place=False),
               key(cash_desk, "call", 9, 31), key(cash_desk, "finish", 9, 33),
               his("ready", 9, 40, "V1"),
               key(dispensary, "call", 9, 45), key(dispensary, "start", 9, 46),
               key(dispensary, "finish", 9, 48),
               key(room, "call", 10, 0), key(room, "finish", 10, 10),
               OfficeCommand("leave", at(10, 15), {"label": third}, "nurse"),
               BackOffice("stats", at(11), {"days": "today"})]
    day, folder = run_day(tmp_path, path, events)

    assert day.devices.audio.spoken == [
        *said(config, first, room), *said(config, first, lab_window), *said(config, first, room),
        *said(config, first, cash_desk), *said(config, first, dispensary),
        *said(config, second, room)]
    forwarded = [e["counter"] for e in rows(folder, "events.csv") if e["kind"] == "forward"]
    assert forwarded[:2] == [str(room)] * 2                  # the first two wait at its door
    assert "[office] 2026-11-23 .. 2026-11-23" in day.printed

    report = read(tmp_path, hospital, config.hall)
    assert report["visits"] == {
        "patients": 3, "collected": 1, "left": 1, "open": 0,
        "average_stay": 107 * 60, "median_stay": 107 * 60, "longest_stay": 107 * 60}
    seen = report["stages"][department.service]
    assert (seen["patients"], seen["seen"], seen["returns"], seen["left"]) == (3, 3, 1, 1)
    assert (report["stages"][lab]["seen"], report["stages"][lab]["average_wait"]) == (1, 60)
    dispensed = report["stages"][pharmacy]          # ready at 9:40, called at 9:45
    assert (dispensed["average_wait"], dispensed["average_consultation"]) == (300, 120)
    doctor = next(e.params["teller"] for e in events
                  if isinstance(e, CounterKey) and e.key == "login" and e.counter == room)
    assert (report["doctors"][doctor]["patients"], report["doctors"][doctor]["returns"]) == (2, 1)

    exported = {(r["by"], r["key"]): r for r in rows(folder, "hospital_daily.csv")}
    assert exported["visits", "all"]["median stay (s)"] == str(107 * 60)
    stage = exported["stage", department.service]
    assert (stage["day"], stage["patients"], stage["left"], stage["returns"]) == \
        (DAY, "3", "1", "1")
    assert stage["name"].startswith(config.hall.service(department.service).name_zh)
    with closing(sqlite3.connect(folder / "queue.db")) as copy:   # nobody's identity leaves
        assert copy.execute("SELECT visit, name, patient FROM patients ORDER BY id"   # the box
                            ).fetchall() == [("1", "", ""), ("2", "", ""), ("3", "", "")]
        assert copy.execute("SELECT COUNT(*) FROM his_messages").fetchone()[0] == 0
    assert "张三".encode() not in (folder / "queue.db").read_bytes()   # not even in free pages
