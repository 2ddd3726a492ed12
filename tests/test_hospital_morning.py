"""A hospital morning through the whole box, as the HIS and the staff live it: 200 patients
registered over MLLP by an HL7 client, checked in at the triage desk, called forward to the
doors and into the rooms, sent to the lab and back, to the cashier, readied for the pharmacy by
the HIS, and collected, held, missed or gone; bad messages and a lost acknowledgement on the
way. Every patient ends collected, left or still waiting, exactly once, and nothing public
says a name."""

import asyncio
import re
import socket
import time
from collections import Counter
from pathlib import Path

import pytest

import hl7_messages as msg
from drivers.events import CounterKey, OfficeCommand
from hallday import wire
from hl7.mllp import open_hl7_connection
from queue_core.monitor import hall_screen

EXAMPLE = Path(__file__).parents[1] / "config" / "examples" / "hospital.toml"
PATIENTS = 200
FAMILIES, GIVEN = "王李张刘陈杨黄赵吴周", "伟芳娜敏静丽强磊军洋"
DOCTORS = {1: "D01", 2: "D02", 3: "D03", 4: "D04", 5: "D05", 11: "L01", 21: "K01", 22: "K02",
           31: "P01", 32: "P02"}
PINS = {"D01": "1101", "D02": "1102", "D03": "1103", "D04": "1104", "D05": "1105",
        "L01": "2101", "K01": "3101", "K02": "3102", "P01": "4101", "P02": "4102"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def name(n: int) -> tuple[str, str]:
    return FAMILIES[n % 10], GIVEN[n // 10 % 10] + GIVEN[n % 7]


class Staff:
    """The HIS's HL7 link and the staff's keys, each awaited until the loop has handled it."""

    def __init__(self, app, port: int):
        self.app, self.port = app, port
        self.link = None

    async def connect(self) -> None:
        self.link = await open_hl7_connection("127.0.0.1", self.port)

    async def send(self, text: str, encoding: str = "utf-8") -> tuple[str, str]:
        """One message; its acknowledgement's MSA-1 and MSA-3."""
        reader, writer = self.link
        writer.writeblock(text.encode(encoding))
        await writer.drain()
        ack = (await asyncio.wait_for(reader.readblock(), 10)).decode(encoding)
        msa = next(line for line in ack.split("\r") if line.startswith("MSA")).split("|")
        return msa[1], msa[3] if len(msa) > 3 else ""

    async def key(self, counter: int, key: str, **params) -> str:
        """A key at a room's keypad; what its display then says."""
        done = asyncio.get_running_loop().create_future()
        self.app.inbox.post(CounterKey(counter, key, time.time(), params, done=done))
        await done
        return self.app.keypad_texts[counter]

    async def nurse(self, command: str, **params):
        done = asyncio.get_running_loop().create_future()
        self.app.inbox.post(OfficeCommand(command, time.time(), params, "nurse1", done))
        return await done

    async def call(self, counter: int) -> str | None:
        shown = await self.key(counter, "call")
        found = re.match(r"([A-Z][0-9]{3}) CALLED", shown)
        return found and found[1]


def count(app, sql: str) -> int:
    return app.hall.db.execute(sql).fetchone()[0]


def final(app) -> Counter:
    """Each patient's outcome, from the last visit of their ticket."""
    outcomes = Counter()
    for label, service, state in app.hall.db.execute(
            "SELECT label, service, state FROM tickets t WHERE id = (SELECT MAX(id) FROM"
            " tickets u WHERE u.day = t.day AND u.label = t.label) ORDER BY label"):
        if service == "P" and state == "done":
            outcomes["collected"] += 1
        elif state == "cancelled":
            outcomes["left"] += 1
        elif state in ("waiting", "registered", "held"):
            outcomes["waiting"] += 1
        else:
            outcomes[f"{service} {state}"] += 1   # none expected: shown if it happens
    return outcomes


async def bad_messages(staff: Staff, app) -> None:
    """Each refused with its reason; the hall unchanged."""
    before = (count(app, "SELECT COUNT(*) FROM tickets"), count(app, "SELECT COUNT(*) FROM"
                                                                     " events"))
    good = msg.adt_a04(control="BAD0", visit="VBAD")
    for text, code, reason in (
            (msg.adt_a04(control="BAD1", department="9999", visit="VBAD1"), "AE",
             "no department"),
            (msg.drop_segment(good, "PID").replace("BAD0", "BAD2"), "AR", "PID"),
            (msg.adt_a04(control="M0001", visit="VOTHER"), "AE", "control id"),
            (msg.replace_field(good, "MSH", 18, "GB 18030-2000").replace("BAD0", "BAD3"), "AR",
             "charset"),
            (good.replace("BAD0", "BAD4").replace("PV1|", "P@1|"), "AR", "segment"),
            (msg.replace_field(good, "MSH", 9, "ADT^A99^ADT_A01").replace("BAD0", "BAD5"), "AR",
             "A99")):
        answer, why = await staff.send(text)
        assert answer == code and reason.lower() in why.lower(), (text[:60], answer, why)
    assert (count(app, "SELECT COUNT(*) FROM tickets"),
            count(app, "SELECT COUNT(*) FROM events")) == before


async def lost_ack(staff: Staff, app) -> None:
    """The HIS sends, the connection drops before the ACK, the HIS sends it again: applied
    once, and answered AA the second time."""
    text = msg.adt_a04(control="LOST1", patient="P9999", visit="V9999", department="0201")
    reader, writer = staff.link
    writer.writeblock(text.encode())
    await writer.drain()
    writer.close()
    for _ in range(200):
        if count(app, "SELECT COUNT(*) FROM patients WHERE visit = 'V9999'"):
            break
        await asyncio.sleep(0.01)
    await staff.connect()
    assert await staff.send(text) == ("AA", "")
    assert count(app, "SELECT COUNT(*) FROM patients WHERE visit = 'V9999'") == 1


async def morning(app, port: int) -> dict:
    staff = Staff(app, port)
    await staff.connect()
    visits = {}
    for n in range(PATIENTS):   # the HIS registers them, some to a doctor, some in a lane
        family, given = name(n)
        internal = n % 3 != 2   # else surgery
        doctor = None if not internal else "D03" if n % 20 == 0 else "D02" if n % 7 == 0 \
            else None
        text = msg.adt_a04(control=f"M{n:04d}", patient=f"P{n:04d}", family=family,
                           given=given, department="0101" if internal else "0201",
                           doctor=doctor, visit=f"V{n:04d}",
                           admission="E" if n % 50 == 1 else "O" if n % 17 == 3 else None)
        assert await staff.send(text) == ("AA", "")
    await bad_messages(staff, app)
    await lost_ack(staff, app)
    visits = {row[0]: (row[1], row[2]) for row in app.hall.db.execute(
        "SELECT t.label, p.visit, p.patient FROM patients p JOIN tickets t ON t.id = p.ticket_id")}
    assert len(visits) == PATIENTS + 1

    for label in sorted(visits):   # the triage desk, all but five who never come
        if label not in ("N010", "N020", "N030", "S010", "S020"):
            await staff.nurse("check_in", key=label)
    for counter, teller in DOCTORS.items():
        await staff.key(counter, "login", teller=teller, pin=PINS[teller])

    missed, held, comeback, rounds = [], [], [], 0
    while rounds < 400:
        rounds += 1
        busy = False
        for label in [label for due, label in comeback if due == rounds]:   # 过号: back at the
            await staff.nurse("check_in", key=label)                    # desk, behind three
        for label in held[:2]:   # the first two held come back for their medicine
            if app.hall.db.execute("SELECT state FROM tickets WHERE label = ? ORDER BY id DESC",
                                   (label,)).fetchone()[0] == "held":
                await staff.nurse("release", label=label)
        for room in (1, 2, 3, 4, 5):
            label = await staff.call(room)
            if label is None:
                continue
            busy = True
            number = int(label[1:])
            if number % 23 == 0 and label not in missed:   # not at the door: 过号
                await staff.key(room, "skip")
                missed.append(label)
                comeback.append((rounds + 3, label))
                continue
            await staff.key(room, "start")
            back = app.hall.db.execute(   # back from the lab: the doctor sends on to pay
                "SELECT is_return FROM tickets WHERE label = ? ORDER BY id DESC LIMIT 1",
                (label,)).fetchone()[0]
            await staff.key(room, "transfer", service="L" if number % 4 == 0 and not back
                            else "K", keep_place=False)
        for desk in (11, 21, 22):
            label = await staff.call(desk)
            if label is None:
                continue
            busy = True
            await staff.key(desk, "finish")
            if desk != 11:   # paid: the pharmacy prepares it, the HIS says it is ready
                visit, patient = visits[label]
                assert await staff.send(msg.orm_o01(control=f"R{label}", visit=visit,
                                                    patient=patient)) == ("AA", "")
        for window in (31, 32):
            label = await staff.call(window)
            if label is None:
                continue
            busy = True
            if int(label[1:]) % 13 == 0 and label not in held:   # gone for a coffee
                for _ in range(3):
                    await staff.key(window, "recall")
                held.append(label)
                continue
            await staff.key(window, "finish")
        if rounds == 1:   # the department screens: rooms, doors, names masked
            screen = hall_screen(app.hall.db, app.hall.config, time.time(), rooms=True)
            names = [p["name"] for room in screen["rooms"] for p in
                     room["door"] + [room["current"]] if p]
            assert len(names) >= 8 and all(re.fullmatch(r"\w\*+\w", n) for n in names), names
        if not busy:
            break
    for label in held[2:4]:
        await staff.nurse("leave", label=label)
    staff.link[1].close()
    return {"missed": missed, "held": held, "rounds": rounds}


@pytest.mark.timeout(300)
def test_a_hospital_morning_of_200_patients_ends_with_each_exactly_once(tmp_path, caplog):
    port = free_port()
    config = tmp_path / "hospital.toml"
    config.write_text(EXAMPLE.read_text().replace("port = 2575", f"port = {port}"))
    app, day = wire(tmp_path, time.time, config)

    async def run() -> dict:
        loop = asyncio.create_task(app.run())
        for _ in range(500):   # the HIS link listens a moment after READY
            try:
                socket.create_connection(("127.0.0.1", port), 0.1).close()
                break
            except OSError:
                await asyncio.sleep(0.01)
        try:
            return await morning(app, port)
        finally:
            app.stop()
            await loop

    story = asyncio.run(run())
    day.devices.close()
    outcomes = final(app)
    assert sum(outcomes.values()) == PATIENTS + 1
    assert set(outcomes) <= {"collected", "left", "waiting"}, outcomes
    assert outcomes["left"] == 2 and outcomes["waiting"] == 5 + 1 + len(story["held"][4:])
    assert not app.hall.db.execute(   # nobody in two queues at once
        "SELECT label FROM tickets WHERE state IN ('waiting', 'registered', 'held', 'called',"
        " 'serving') GROUP BY day, label HAVING COUNT(*) > 1").fetchall()
    assert story["missed"] and story["held"]
    assert count(app, "SELECT COUNT(*) FROM events WHERE kind = 'return'") == \
        count(app, "SELECT COUNT(*) FROM tickets WHERE service = 'L' AND state = 'done'")
    assert count(app, "SELECT COUNT(*) FROM events WHERE kind = 'forward'") > 0
    shown = day.printed + caplog.text   # the wall, the announcements, the keypads, the log
    names = {"".join(name(n)) for n in range(PATIENTS)}
    assert not [n for n in names if n in shown]
    assert "P0007" not in caplog.text   # nor a patient's id
    assert "N001" in shown
