"""The supervisory loop with simulated devices: what customers, tellers and the wall see."""

import asyncio
import sqlite3
import random
import threading
from collections import Counter

from config import DEFAULT
from conftest import at
from drivers.escpos_stream import decode, text_lines
from drivers.events import BackOffice, ButtonPressed, CounterKey
from firmware.main import Inbox
from hallday import run_day, wire
from queue_core import playlist
from queue_core.model import State
from rs485 import wait_for

LOGIN = ["1 login T01 1111", "2 login T02 2222", "3 login T03 3333", "4 login T04 4444"]


def test_a_button_press_prints_a_ticket(tmp_path):
    day = run_day(tmp_path, ["A", "A", "B vip"])
    printed = tmp_path / "tickets" / "2026-11-23"
    assert sorted(p.name for p in printed.iterdir()) == \
        ["A001.bin", "A001.png", "A002.bin", "A002.png", "B001.bin", "B001.png"]
    ops = decode((printed / "A002.bin").read_bytes())
    assert text_lines(ops) == ["Riverside Bank, Main Street Branch", "", "A002", "Personal banking",
                               "1 ahead of you", "2026-11-23 09:00",
                               "Please keep this ticket"]
    assert "VIP" in text_lines(decode((printed / "B001.bin").read_bytes()))
    assert day.printed.count("[printer]") == 3


def test_a_call_is_announced_shown_on_the_wall_and_on_the_keypad(tmp_path):
    day = run_day(tmp_path, ["B", "A", "3 login T03 3333", "3 call", "3 recall"])
    assert day.devices.audio.spoken == \
        ["请 B001 号到 3 号窗口", "Ticket B001, please go to counter 3"] * 2
    assert day.devices.display.lines == ["B001 → 3"]
    assert "[counter 3] B001 CALLED  1 WAITING" in day.printed


def test_a_call_to_a_room_or_a_table_says_so(tmp_path):
    """A clinic's hall: counter 3 is consulting room 3, counter 4 table 4, counter 1 stays a
    counter; each call names its place in both languages, and the wall shows the number."""
    hall = tmp_path / "hall.toml"
    shipped = DEFAULT.read_text()
    for number, kind in ((3, "room"), (4, "table")):
        shipped = shipped.replace(f'name = "Counter {number}"\n',
                                  f'name = "Counter {number}"\nkind = "{kind}"\n', 1)
    hall.write_text(shipped)
    day = run_day(tmp_path, ["B", "A", "C", "3 login T03 3333", "3 call", "1 login T01 1111",
                             "1 call", "4 login T04 4444", "4 call", "3 recall"],
                  config_path=hall)
    assert day.devices.audio.spoken == [
        "请 B001 号到 3 号诊室", "Ticket B001, please go to room 3",
        "请 A001 号到 1 号窗口", "Ticket A001, please go to counter 1",
        "请 C001 号到 4 号桌", "Ticket C001, please go to table 4",
        "请 B001 号到 3 号诊室", "Ticket B001, please go to room 3"]
    assert "[audio] 请 B001 号到 3 号诊室 / Ticket B001, please go to room 3" in day.printed
    assert day.devices.display.lines == ["B001 → 3", "C001 → 4", "A001 → 1"]
    assert "[counter 3] B001 CALLED  0 WAITING" in day.printed


def test_a_refused_key_is_shown_on_the_keypad_and_changes_nothing(tmp_path):
    day = run_day(tmp_path, ["A", "2 call", "2 login T02 9999", "2 finish", "7 call"])
    assert "[counter 2] NOT LOGGED IN" in day.printed
    assert "[counter 2] LOGIN REFUSED" in day.printed
    assert "[counter 7] NO SUCH COUNTER" in day.printed
    assert day.hall.status(at(10)).waiting["A"] == 1
    assert day.hall.db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1


def test_console_garbage_posts_nothing(tmp_path):
    garbage = ["", "   ", "AB", "a a", "3", "3 dance", "3 login T01", "3 transfer", "3 transfer @x",
               "3 transfer B now", "cancel", "status now", "x\x00y", "-3 call"]
    day = run_day(tmp_path, garbage)
    assert day.hall.db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0
    assert day.printed.count("[console]") == len(garbage) - 2


def test_after_a_restart_the_wall_shows_the_calls_again(tmp_path):
    run_day(tmp_path, ["A", "B", "1 login T01 1111", "3 login T03 3333", "1 call", "3 call"])
    again = run_day(tmp_path, ["status"], start=at(11))
    assert again.devices.display.lines == ["B001 → 3", "A001 → 1"]
    assert "Counter 3    T03              B001 called" in again.printed


def test_the_wall_shows_the_playlist_texts_while_no_call_shows(tmp_path):
    app, day = wire(tmp_path, clock=lambda: at(10))
    playlist.add_item(app.hall.db, "text", 10, at(9), text="欢迎光临 Welcome")
    playlist.add_item(app.hall.db, "text", 10, at(9), text="下午休息", hours="12:00-13:00")

    async def main():
        running = asyncio.create_task(app.run())
        await wait_for(lambda: day.devices.display.visible() == ["欢迎光临 Welcome"])
        day.devices.console.feed("A", app.inbox.post)
        for line in ("1 login T01 1111", "1 call"):
            day.devices.console.feed(line, app.inbox.post)
        await wait_for(lambda: day.devices.display.visible() == ["A001 → 1"])
        app.stop()
        await running

    asyncio.run(main())
    day.devices.close()


def test_events_posted_from_a_driver_thread_reach_the_loop(tmp_path):
    app, day = wire(tmp_path, clock=lambda: at(9))

    async def main():
        running = asyncio.create_task(app.run())
        await asyncio.sleep(0)
        presses = [threading.Thread(target=app.inbox.post, args=(ButtonPressed("A", at(9, n)),))
                   for n in range(10)]
        for thread in presses:
            thread.start()
        for thread in presses:
            thread.join()
        app.stop()
        await running

    asyncio.run(main())
    day.devices.close()
    labels = sorted(t.label for t in day.hall.tickets("2026-11-23"))
    assert labels == [f"A{n:03d}" for n in range(1, 11)]


def busy_day(seed: int, tickets: int) -> list[str]:
    """Customers arrive for A, B and C while four tellers press keys, some of them wrongly."""
    rng = random.Random(seed)
    lines = list(LOGIN)
    for _ in range(tickets):
        lines.append(rng.choice("AAAABBC") + (" vip" if rng.random() < 0.05 else ""))
        counter = rng.randint(1, 4)
        key = rng.choices(["call", "recall", "start", "skip", "finish", "transfer", "pause"],
                          weights=[12, 3, 4, 1, 3, 1, 1])[0]
        if key == "transfer":
            key = rng.choice(["transfer A", "transfer B back", f"transfer @{rng.randint(1, 4)}"])
        lines += [f"{counter} {key}"] + (["%d resume" % counter] if key == "pause" else [])
    for _ in range(120):  # the hall empties: every counter calls until nobody is left
        lines += [f"{c} call" for c in range(1, 5)]
    lines += [f"{c} {key}" for c in range(1, 5) for key in ("finish", "logout")]
    return lines


def test_a_busy_day_of_200_tickets_ends_with_every_ticket_accounted_for(tmp_path):
    day = run_day(tmp_path, busy_day(seed=7, tickets=200))
    visits = day.hall.tickets("2026-11-23")
    printed = sorted(p.stem for p in (tmp_path / "tickets" / "2026-11-23").glob("*.png"))
    issued = [t.label for t in visits if t.previous_id is None]
    assert len(printed) == len(issued) == len(set(issued)) == 200
    assert sorted(issued) == printed

    by_label = {}
    for visit in visits:
        by_label.setdefault(visit.label, []).append(visit)
    outcomes = Counter()
    for label, chain in by_label.items():
        *earlier, last = chain
        assert all(v.state is State.TRANSFERRED for v in earlier), label
        assert last.state in (State.DONE, State.NO_SHOW), label
        outcomes[last.state] += 1
    assert sum(outcomes.values()) == 200 and outcomes[State.DONE] > 150
    assert sum(1 for v in visits if v.state is State.TRANSFERRED) > 0

    status = day.hall.status(at(18))
    assert set(status.waiting.values()) == {0}
    assert all(c.teller is None and c.current is None for c in status.counters)
    calls = day.hall.db.execute(
        "SELECT COUNT(*) FROM events WHERE kind IN ('call', 'recall')").fetchone()[0]
    assert len(day.devices.audio.spoken) == 2 * calls


def test_a_fault_in_one_event_is_reported_and_the_hall_keeps_going(tmp_path, caplog):
    app, day = wire(tmp_path)
    app.hall.db.execute("PRAGMA query_only = 1")    # the disk refuses writes for a moment
    app.inbox.post(ButtonPressed("A", at(9)))
    app.inbox.post(CounterKey(1, "call", at(9, 1), {"no such": "parameter"}))   # a bug
    app.inbox.post(BackOffice("export", at(9, 2)))  # and the loop still answers after them
    app.stop()
    asyncio.run(app.run())
    day.devices.close()
    assert "failed to handle" in caplog.text
    assert day.printed.count("FAULT, nothing changed") == 2
    assert "export: no USB stick" in day.printed
    assert day.hall.tickets("2026-11-23") == []   # the write was refused


def test_a_fault_after_the_commit_says_the_change_was_saved(tmp_path):
    app, day = wire(tmp_path, clock=lambda: at(9))

    def broken(layout, deadline):   # the printer's driver fails after the ticket's commit
        raise RuntimeError("printer driver bug")

    day.devices.printer.print = broken
    app.inbox.post(ButtonPressed("A", at(9)))
    app.stop()
    asyncio.run(app.run())
    day.devices.close()
    assert "[office] FAULT after the change was saved: printer driver bug" in day.printed
    assert [t.label for t in day.hall.tickets("2026-11-23")] == ["A001"]


def test_statistics_are_read_beside_the_loop_and_bad_days_say_what_they_take(tmp_path):
    day = run_day(tmp_path, ["A", "A", "1 login T01 1111", "1 call", "stats", "stats 2026-11",
                             "stats 2026-13", "stats 2026-11-23..2026-11-01"])
    reports = [line for line in day.printed.splitlines() if line.startswith("[office]")]
    assert sum(line.startswith("[office] 2026-11-") for line in reports) == 2
    assert "[office] stats: cannot read the days '2026-13': give today, yesterday, a day" \
        " (2026-11-23), a month (2026-11) or a range (2026-11-01..2026-11-23)" in reports
    assert "[office] stats: the range '2026-11-23..2026-11-01' ends before it starts" in reports
    month = day.printed[day.printed.index("[office] 2026-11-01 .. 2026-11-30"):]
    assert month.splitlines()[2].split()[:6] == ["A", "Personal", "banking", "2", "0", "1"]
    # (a service by its name: 2 issued, 0 served, 1 waiting now)


def test_an_idle_tellers_keypad_shows_each_customer_who_comes(tmp_path):
    day = run_day(tmp_path, ["1 login T01 1111", "A", "A", "B"])
    shown = [line for line in day.printed.splitlines() if line.startswith("[counter 1]")]
    assert shown == ["[counter 1] LOGGED OUT  0 WAITING", "[counter 1] NO TICKET  0 WAITING",
                     "[counter 1] NO TICKET  1 WAITING", "[counter 1] NO TICKET  2 WAITING"]
    assert "[counter 2] LOGGED OUT  3 WAITING" in day.printed   # counter 2 serves A and B


def test_a_keypad_counts_what_its_counter_could_call(tmp_path):
    day = run_day(tmp_path, ["A", "A", "1 login T01 1111", "3 login T03 3333", "1 call",
                             "1 transfer @3", "status"])
    # A001 went to counter 3: counter 1 (A only) could call A002; counter 3 (B, A) both
    assert "[counter 1] NO TICKET  1 WAITING" in day.printed
    assert "[counter 3] NO TICKET  2 WAITING" in day.printed


def test_statistics_tables_name_what_they_count_and_explain_transfers(tmp_path):
    day = run_day(tmp_path, ["A", "B", "1 login T01 1111", "1 call", "1 transfer B",
                             "3 login T03 3333", "3 call", "3 finish", "cancel B001", "stats"])
    table = day.printed[day.printed.index("[office] 2026-11-23 .. 2026-11-23"):].splitlines()
    assert table[1].split()[:8] == ["service", "issued", "served", "waiting", "no-show",
                                    "transferred", "in", "cancelled"]
    # B served one ticket it never issued: the one transferred in; B001 was cancelled
    assert table[3].split()[:10] == ["B", "Business", "banking", "1", "1", "0", "0", "0", "1",
                                     "1"]
    assert table[5].startswith("  Counter 1 ") and table[8].startswith("  T01 Li Na ")


def test_the_wall_shows_the_calls_that_stand_now(tmp_path):
    day = run_day(tmp_path, ["A", "A", "1 login T01 1111", "2 login T02 2222", "1 call",
                             "2 call", "1 finish", "2 transfer B"])
    walls = [line for line in day.printed.splitlines() if line.startswith("[wall]")]
    assert walls[-3:] == ["[wall] A002 → 2 | A001 → 1", "[wall] A002 → 2", "[wall] (blank)"]


def test_a_no_show_says_so_on_the_keypad_and_in_the_back_office(tmp_path):
    day = run_day(tmp_path, ["A", "1 login T01 1111", "1 call", "1 recall", "1 recall",
                             "1 recall"])
    assert "[counter 1] A001 NO-SHOW" in day.printed
    assert "[office] A001 did not come to counter 1: no-show" in day.printed


def test_the_simulation_makes_the_folder_a_stick_is_plugged_into(tmp_path):
    run_day(tmp_path, [])
    assert (tmp_path / "usb").is_dir()


def test_help_names_the_halls_services_and_counters_and_waiting_lists_the_queues(tmp_path):
    day = run_day(tmp_path, ["help", "A", "A vip", "B", "2 login T02 2222", "2 call",
                             "2 transfer @3", "waiting"])
    assert "  services: A Personal banking, B Business banking, C Wealth management" in \
        day.printed
    assert "  counters: 1 Counter 1 (A), 2 Counter 2 (A/B)" in day.printed
    assert "[office]   A: A002*→3 A001\n  B: B001\n  C: -" in day.printed   # sent first


def test_a_failing_refresh_of_the_displays_does_not_stop_the_loop(tmp_path, caplog):
    app, day = wire(tmp_path, clock=lambda: at(9))
    refresh, refreshes = app._refresh, []

    def failing_after_start(now):
        refreshes.append(now)
        if len(refreshes) > 1:
            raise sqlite3.OperationalError("disk I/O error")
        refresh(now)

    app._refresh = failing_after_start
    app.inbox.post(ButtonPressed("A", at(9)))
    app.inbox.post(ButtonPressed("B", at(9, 1)))
    app.stop()
    asyncio.run(app.run())
    day.devices.close()
    assert caplog.text.count("refreshing the keypads and the wall") == 2
    assert [t.label for t in day.hall.tickets("2026-11-23")] == ["A001", "B001"]


def test_a_full_inbox_drops_what_comes_and_still_stops(monkeypatch, caplog):
    monkeypatch.setattr("firmware.main.INBOX", 3)
    inbox = Inbox()

    async def behind():
        inbox.open()
        for minute in range(5):             # the loop is behind: nothing is taken yet
            inbox.post(ButtonPressed("A", at(9, minute)))
        inbox.post(None)                    # and the stop
        await asyncio.sleep(0.05)
        taken = []
        while (event := await inbox.queue.get()) is not None:
            taken.append(event.at)
        return taken

    assert asyncio.run(behind()) == [at(9, 0), at(9, 1), at(9, 2)]
    assert caplog.text.count("inbox full (the loop is behind): dropped ButtonPressed") == 2


def test_a_background_task_that_fails_is_reported_and_started_again(tmp_path, monkeypatch):
    monkeypatch.setattr("firmware.main.RESTART_PAUSE", 0.01)
    app, day = wire(tmp_path, clock=lambda: at(9))
    runs = []

    class KeypadBus:   # a bus whose answers once surprised it twice
        async def run(self):
            runs.append(1)
            if len(runs) <= 2:
                raise IndexError("list index out of range")
            await asyncio.sleep(3600)

    day.devices.background.append(KeypadBus().run)

    async def hall():
        running = asyncio.create_task(app.run())
        await asyncio.sleep(0.3)
        app.inbox.post(BackOffice("status", at(9)))
        await asyncio.sleep(0.1)
        app.stop()
        await running

    asyncio.run(hall())
    day.devices.close()
    assert len(runs) == 3
    assert day.printed.count("[office] KeypadBus failed (IndexError('list index out of range'));"
                             " started again in") == 2
    assert "restarted: KeypadBus 2×" in day.printed
