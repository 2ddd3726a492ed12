"""The HL7 adapter as an HIS meets it: MLLP blocks over loopback, answered by ACKs read as the
standard defines them, the hall faked at `deliver`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import tomllib
import unicodedata
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hl7.mllp import open_hl7_connection
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from config import load_config
from config.his import HisConfig, read_his
from config.table import HIDDEN, ConfigError, Table
from drivers.events import HisMessage
from firmware import his
from firmware.his import hl7 as adapter_module
from firmware.his.hl7 import Hl7Adapter
from queue_core import Hall as Queue, errors, open_database
from hl7_messages import (FS_CR, GB18030, UTF8, VT, adt_a04, adt_a11, block, drop_segment,
                          orm_o01, replace_field, segments, siu_s12)

pytestmark = pytest.mark.filterwarnings("error")   # e.g. python-hl7's utcnow() ACKs
ZONE = "Asia/Shanghai"   # the hall's; the board runs in UTC
# hl7apy has no 2.7.1, and its 2.3 has no MSH-9.3 (ACK^A04^ACK): those ACKs are checked thus
CHECKED_AS = {"2.3": "2.3.1", "2.7.1": "2.7"}


class Hall:
    """The loop's side of `deliver`, faked: records each message; refuses it with `refusal`,
    or answers after `delay` seconds."""

    def __init__(self, refusal: Exception | None = None, delay: float = 0.0):
        self.messages: list[HisMessage] = []
        self.refusal, self.delay = refusal, delay

    async def deliver(self, message) -> None:
        self.messages.append(message)
        await asyncio.sleep(self.delay)
        if self.refusal is not None:
            raise self.refusal


class OnceHall:
    """The loop's side of `deliver` by the hall's own rule (Hall.his_once on a database): a
    control id is applied once, its resend (the same digest) changes nothing and is taken, a
    control id reused with another digest is refused."""

    def __init__(self, db_path: Path):
        example = Path(__file__).parents[1] / "config" / "examples" / "hospital.toml"
        self.queue = Queue(open_database(db_path), load_config(example).hall)
        self.applied: list[HisMessage] = []

    async def deliver(self, message: HisMessage) -> None:
        with self.queue.his_once(message.source, message.control, message.digest,
                                 message.at) as fresh:
            if fresh:
                self.applied.append(message)


class Ack:
    """An acknowledgement's fields, by HL7 numbering; checked strictly by hl7apy first."""

    def __init__(self, data: bytes, encoding: str = "utf-8"):
        self.text = data.decode(encoding)
        self.segments = {line[:3]: line.split("|") for line in self.text.split("\r") if line}
        checked = self.text
        if not self.msa(2):   # (no control id to echo: everything else is checked)
            checked = checked.replace(f"\rMSA|{self.code}||", f"\rMSA|{self.code}|?|")
        version = self.msh(12).split("^")[0]
        if version in CHECKED_AS:
            checked = checked.replace(f"|{version}|", f"|{CHECKED_AS[version]}|", 1)
        parse_message(checked, validation_level=VALIDATION_LEVEL.STRICT).validate()

    def msh(self, n: int) -> str:
        fields = self.segments["MSH"]
        return fields[n - 1] if n - 1 < len(fields) else ""

    def msa(self, n: int) -> str:
        fields = self.segments["MSA"]
        return fields[n] if n < len(fields) else ""

    @property
    def code(self) -> str:
        return self.msa(1)

    @property
    def reason(self) -> str:
        return self.msa(3).replace("\\F\\", "|").replace("\\S\\", "^").replace("\\E\\", "\\")

    @property
    def error(self) -> str:
        """ERR-3's code of HL7 table 0357."""
        return self.segments["ERR"][3].split("^")[0]


def serve(scenario, hall: Hall | None = None, **options):
    """Run the adapter as the loop does (a task, cancelled at the end) around `scenario(port)`."""
    config = HisConfig("hl7", address="127.0.0.1", port=0, **options)
    hall = hall or Hall()

    async def main():
        adapter = Hl7Adapter(config, ZONE, hall.deliver)
        task = asyncio.create_task(adapter.run())
        while adapter.port is None and not task.done():
            await asyncio.sleep(0.001)
        try:
            return await asyncio.wait_for(scenario(adapter.port), 5)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return asyncio.run(main())


async def exchange(port: int, *messages: str | bytes, encoding: str = "utf-8") -> list[Ack]:
    """An HIS's client (python-hl7's): each message in its block, and its ACK read."""
    reader, writer = await open_hl7_connection("127.0.0.1", port)
    acks = []
    for message in messages:
        writer.writeblock(message.encode(encoding) if isinstance(message, str) else message)
        await writer.drain()
        acks.append(Ack(await asyncio.wait_for(reader.readblock(), 2), encoding))
    writer.close()
    return acks


async def raw(port: int, *chunks: bytes, answers: int = 1, pause: float = 0.0) -> list[Ack]:
    """Bytes written as they come (garbage, split blocks), then `answers` ACKs read."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
        await asyncio.sleep(pause)
    acks = []
    for _ in range(answers):
        data = await asyncio.wait_for(reader.readuntil(FS_CR), 2)
        assert data[:1] == VT
        acks.append(Ack(data[1:-2]))
    writer.close()
    return acks


def send(*messages: str | bytes, hall: Hall | None = None, encoding: str = "utf-8",
         **options) -> list[Ack]:
    return serve(lambda port: exchange(port, *messages, encoding=encoding), hall, **options)


def assert_local_now(stamp: str) -> None:
    """MSH-7 is the hall's local time now (not the board's UTC)."""
    sent = datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=ZoneInfo(ZONE))
    assert abs(sent - datetime.now(timezone.utc)) < timedelta(minutes=1)


# -- the messages taken ----------------------------------------------------------------------

def test_a_registration_reaches_the_hall_and_is_acknowledged():
    hall = Hall()
    [ack] = send(adt_a04(admission="E"), hall=hall)
    [message] = hall.messages
    assert (message.kind, message.control, message.source) == \
        ("register", "ADT0001", "hl7:HIS^RIVERSIDE")
    assert message.fields == {"patient": "P1001", "name": "张三", "department": "0101",
                              "doctor": "D01", "visit": "V1001", "lane": "E"}
    assert len(message.digest) == 64
    assert (ack.code, ack.msa(2), ack.msa(3)) == ("AA", "ADT0001", "")
    assert "ERR" not in ack.segments
    # Our application and facility; the sender's as receiver; ACK^<trigger>^ACK.
    assert [ack.msh(n) for n in (3, 4, 5, 6, 9, 11, 12, 18)] == \
        ["QUEUE", "HALL", "HIS", "RIVERSIDE", "ACK^A04^ACK", "P", "2.5", "UNICODE UTF-8"]
    assert ack.msh(10) and ack.msh(10) != "ADT0001"
    assert_local_now(ack.msh(7))


def test_each_ack_has_a_control_id_of_its_own():
    acks = send(adt_a04(control="A1"), adt_a04(control="A2"), adt_a04(control="A3"))
    assert len({ack.msh(10) for ack in acks}) == 3
    assert [ack.msa(2) for ack in acks] == ["A1", "A2", "A3"]


def test_our_application_and_facility_are_configured():
    [ack] = send(adt_a04(), application="QMS-7", facility="OPD.2")
    assert (ack.msh(3), ack.msh(4)) == ("QMS-7", "OPD.2")


def test_a_cancellation_names_the_visit():
    hall = Hall()
    [ack] = send(adt_a11(), hall=hall)
    assert ack.code == "AA" and ack.msh(9) == "ACK^A11^ACK"
    [message] = hall.messages
    assert (message.kind, message.fields) == ("cancel", {"patient": "P1001", "visit": "V1001"})


def test_an_appointment_takes_its_resources():
    hall = Hall()
    [ack] = send(siu_s12(), hall=hall)
    assert ack.code == "AA" and ack.msh(9) == "ACK^S12^ACK"
    [message] = hall.messages
    assert message.kind == "appointment"
    assert message.fields == {"visit": "APT0001", "patient": "P2002", "name": "李四",
                              "department": "0201", "doctor": "D04", "slot": "20261124103000"}


def test_an_appointment_without_placer_id_or_location_uses_the_filler_id_and_pv1():
    hall = Hall()
    text = siu_s12(appointment="", department=None, doctor=None) + "\rPV1||O|0301"
    [ack] = send(text, hall=hall)
    assert ack.code == "AA", ack.reason
    assert hall.messages[0].fields == {"visit": "F0001", "patient": "P2002", "name": "李四",
                                       "department": "0301", "slot": "20261124103000"}


def test_a_dispensed_prescription_is_ready():
    hall = Hall()
    [ack] = send(orm_o01(), hall=hall)
    assert ack.code == "AA" and ack.msh(9) == "ACK^O01^ACK" and ack.msh(5) == "PHARMACY"
    [message] = hall.messages
    assert (message.kind, message.source) == ("ready", "hl7:PHARMACY^RIVERSIDE")
    assert message.fields == {"patient": "P1001", "visit": "V1001"}


@pytest.mark.parametrize("status", [("NW", "IP"), ("SC", "IP"), ("CA", "CA"), ("XO", "CM")])
def test_other_order_messages_are_accepted_and_ignored(status):
    hall = Hall()
    [ack] = send(orm_o01(status=status), hall=hall)
    assert (ack.code, ack.reason) == ("AA", "ignored: not a ready prescription")
    assert hall.messages == []


def test_a_western_name_keeps_a_space_and_escapes_are_read():
    hall = Hall()
    texts = [adt_a04(control="W1", family="Smith", given="John"),
             replace_field(adt_a04(control="W2"), "PID", 5, "O\\T\\Brien\\F\\X^Ann"),
             replace_field(adt_a04(control="W3"), "PID", 5, "\\XE5BCA0\\^三")]
    assert [ack.code for ack in send(*texts, hall=hall)] == ["AA"] * 3
    assert [m.fields["name"] for m in hall.messages] == ["Smith John", "O&Brien|X Ann", "张三"]


def test_segment_ends_of_any_kind_are_read_and_a_resend_has_the_same_digest():
    hall = Hall()
    text = adt_a04()
    acks = send(text, text.replace("\r", "\n"), text.replace("\r", "\r\n") + "\r\n", hall=hall)
    assert [ack.code for ack in acks] == ["AA"] * 3
    assert len({m.digest for m in hall.messages}) == 1
    send(adt_a04(visit="V9999"), hall=hall)   # the same control id, another content
    assert hall.messages[-1].digest != hall.messages[0].digest


def test_a_resend_stamped_anew_is_the_same_message_and_another_body_is_not(db_path):
    """An HIS that builds its resend again stamps a new MSH-7: it is the message applied, and
    answered AA without being applied twice; another content under that control id is not."""
    hall = OnceHall(db_path)
    text = replace_field(adt_a04(), "MSH", 7, "20261124090000")
    resent = replace_field(text, "MSH", 7, "20261124090512+0800")
    other = replace_field(resent, "PV1", 19, "V9999")
    acks = send(text, resent.replace("\r", "\r\n"), other, hall=hall)
    assert [(a.code, a.msa(2)) for a in acks] == [("AA", "ADT0001")] * 2 + [("AE", "ADT0001")]
    assert (acks[2].error, acks[2].reason) == \
        ("205", "message control id 'ADT0001' was used by another message")
    assert [m.fields["visit"] for m in hall.applied] == ["V1001"]
    hall.queue.db.close()


# -- character sets --------------------------------------------------------------------------

def test_gb18030_names_round_trip():
    hall = Hall(errors.UnknownService("没有科室 0101"))
    text = adt_a04(charset=GB18030)
    assert "张三".encode("gb18030") == b"\xd5\xc5\xc8\xfd"
    assert b"\xd5\xc5^\xc8\xfd" in text.encode("gb18030")
    [ack] = send(text, hall=hall, encoding="gb18030", charset="GB18030")
    assert hall.messages[0].fields["name"] == "张三"
    assert (ack.code, ack.reason, ack.msh(18)) == ("AE", "没有科室 0101", "GB 18030-2000")


@pytest.mark.parametrize("declared", ["", "ASCII", "GB18030"])
def test_gb18030_is_read_when_msh_18_says_so_or_nothing(declared):
    hall = Hall()
    text = replace_field(adt_a04(), "MSH", 18, declared)
    [ack] = send(text, hall=hall, encoding="gb18030", charset="GB18030")
    assert ack.code == "AA" and hall.messages[0].fields["name"] == "张三"


def test_another_declared_charset_is_rejected():
    hall = Hall()
    [ack] = send(adt_a04(charset=UTF8), hall=hall, encoding="gb18030", charset="GB18030")
    assert ack.code == "AR" and ack.msa(2) == "ADT0001"
    assert ack.reason == "MSH-18 names the character set 'UNICODE UTF-8'; this box reads" \
                         " GB 18030-2000 ([his] charset)"
    assert hall.messages == []


def test_bytes_not_of_the_site_charset_are_rejected():
    hall = Hall()
    text = replace_field(adt_a04(), "MSH", 18, "")
    [ack] = send(text.encode("gb18030"), hall=hall)   # to a UTF-8 site
    assert (ack.code, ack.msa(2), ack.error) == ("AR", "ADT0001", "102")
    assert ack.reason.startswith("the message is not UNICODE UTF-8: byte ")
    assert hall.messages == []


# -- what is refused -------------------------------------------------------------------------

A04 = adt_a04()
BROKEN = {
    "not HL7": (b"hello", "not an HL7 message: it must begin with an MSH segment", "100"),
    "no MSH first": (segments("PID|||P1||Zhang^San", "MSH|^~\\&|HIS"), "not an HL7 message",
                     "100"),
    "separators": (A04.replace("MSH|^~\\&", "MSH|^^\\&", 1), "MSH-1 and MSH-2 must be", "100"),
    "segment id": (A04.replace("\rPV1|", "\rpv1|"), "segment 4 has no valid segment id", "100"),
    "segment id too long": (A04.replace("\rPV1|", "\rPV1X|"), "segment 4 has no valid", "100"),
    "second MSH": (A04 + "\r" + A04, "segment 5 is a second MSH", "100"),
    "trigger": (replace_field(A04, "MSH", 9, "ADT^A08^ADT_A01"),
                "'ADT^A08' is not a message this box takes (ADT^A04, ADT^A11, SIU^S12,"
                " ORM^O01)", "201"),
    "type": (replace_field(A04, "MSH", 9, "QRY^Q01"), "'QRY^Q01' is not a message", "200"),
    "no control id": (replace_field(A04, "MSH", 10, ""),
                      "MSH-10 (message control id) is empty", "101"),
    "training": (replace_field(A04, "MSH", 11, "T"), "MSH-11 is 'T': this box is a live hall",
                 "202"),
    "no PID": (drop_segment(A04, "PID"), "the message has no PID segment", "100"),
    "no PV1": (drop_segment(A04, "PV1"), "the message has no PV1 segment", "100"),
    "no patient id": (replace_field(A04, "PID", 3, ""), "PID-3 (patient id) is empty", "101"),
    "no name": (replace_field(A04, "PID", 5, '""'), "PID-5 (patient name) is empty", "101"),
    "no department": (replace_field(A04, "PV1", 3, ""), "PV1-3 (department) is empty", "101"),
    "no visit": (replace_field(A04, "PV1", 19, ""), "PV1-19 (visit number) is empty", "101"),
    "control character": (replace_field(A04, "PID", 5, "张\x07^三"),
                          "PID-5 contains the control or invisible character U+0007", "102"),
    "hex control": (replace_field(A04, "PID", 5, "张\\X07\\^三"),
                    "PID-5 contains the control or invisible character U+0007", "102"),
    "hex not UTF-8": (replace_field(A04, "PID", 5, "\\XD5C5\\^三"),
                      "PID-5 has hexadecimal bytes", "102"),
    "unknown escape": (replace_field(A04, "PID", 5, "\\Zname\\^三"),
                       "PID-5 has an escape sequence this box does not read", "102"),
    "open escape": (replace_field(A04, "PID", 5, "张\\三"),
                    "PID-5 has an escape sequence that is not closed", "102"),
    "long field": (replace_field(A04, "PV1", 19, "V" * 101),
                   "PV1-19 is longer than 100 characters", "102"),
    "appointment without department": (siu_s12(department=None),
                                       "AIL-3 or PV1-3 (department) is empty", "101"),
    "appointment without id": (replace_field(replace_field(siu_s12(), "SCH", 1, ""), "SCH", 2,
                                             ""), "SCH-1 or SCH-2 (visit number) is empty",
                               "101"),
    "appointment without SCH": (drop_segment(siu_s12(), "SCH"), "the message has no SCH segment",
                                "100"),
    "order without ORC": (drop_segment(orm_o01(), "ORC"), "the message has no ORC segment", "100"),
    "ready without visit": (replace_field(orm_o01(), "PV1", 19, ""),
                            "PV1-19 (visit number) is empty", "101"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_message_is_rejected_and_never_reaches_the_hall(name, caplog):
    caplog.set_level(logging.DEBUG)
    message, reason, code = BROKEN[name]
    hall = Hall()
    [ack] = send(message, hall=hall)
    assert (ack.code, ack.error) == ("AR", code)
    assert ack.reason.startswith(reason)
    assert hall.messages == []
    if name not in ("not HL7", "no MSH first", "separators", "no control id"):
        assert ack.msa(2) == message.split("\r")[0].split("|")[9]   # MSH-10 echoed
    assert "Traceback" not in caplog.text and "张" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("processing, echoed", [
    ("", "P"), (" P", "P"), ("P ", "P"), ("p", "P"), ("P^R", "P^R"), ("P^A", "P^A"),
    ("T", "T"), ("D", "D"), ("X", "P")])
def test_only_a_processing_id_of_production_is_taken(processing, echoed):
    """MSH-11: production (P, or P^T: current), not an archive's (P^A), a restore's (P^R),
    training, debugging or nothing said; the ACK echoes it when it is a processing id (table
    0103)."""
    hall = Hall()
    [ack] = send(replace_field(adt_a04(), "MSH", 11, processing), hall=hall)
    assert (ack.code, ack.error, ack.msa(2), ack.msh(11)) == ("AR", "202", "ADT0001", echoed)
    assert ack.reason == f"MSH-11 is {repr(processing) if processing else 'empty'}: this box is" \
                         " a live hall and takes production messages only (MSH-11 P or P^T)"
    assert hall.messages == []


def test_production_current_processing_is_taken():
    hall = Hall()
    [ack] = send(replace_field(adt_a04(), "MSH", 11, "P^T"), hall=hall)
    assert (ack.code, ack.msh(11), len(hall.messages)) == ("AA", "P^T", 1)


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7",
                                     "2.7.1", "2.8", "2.8.1", "2.8.2", "2.5^CHN", " 2.4 "])
def test_hl7_versions_2_3_to_2_8_are_taken_and_echoed(version):
    hall = Hall()
    [ack] = send(replace_field(adt_a04(), "MSH", 12, version), hall=hall)
    assert (ack.code, ack.msh(12)) == ("AA", version if version != " 2.4 " else "2.5")
    assert len(hall.messages) == 1


@pytest.mark.parametrize("version", ["2.1", "2.2", "2.9", "3.0", "abc", "", "2.5.2", "v2.5",
                                     "^2.5"])
def test_another_hl7_version_is_rejected(version):
    hall = Hall()
    [ack] = send(replace_field(adt_a04(), "MSH", 12, version), hall=hall)
    read = version.split("^")[0]
    assert (ack.code, ack.error, ack.msa(2), ack.msh(12)) == ("AR", "203", "ADT0001", "2.5")
    assert ack.reason == f"MSH-12 (version id) is {repr(read) if read else 'empty'}: this box" \
                         " takes HL7 v2 2.3, 2.3.1, 2.4, 2.5, 2.5.1, 2.6, 2.7, 2.7.1, 2.8," \
                         " 2.8.1, 2.8.2"
    assert hall.messages == []


def clean(ack: Ack) -> bool:
    """Nothing in the ACK but its segment ends is a control or invisible character."""
    return not any(unicodedata.category(c) in HIDDEN for c in ack.text.replace("\r", ""))


@pytest.mark.parametrize("field, sent, where, echoed", [
    (10, "X\x1b[31mRED", "MSA-2", "X[31mRED"),
    (10, "X\\X1B\\[31mRED", "MSA-2", "X[31mRED"),          # an escape standing for ESC
    (10, "X\u200bY\u2028Z\x85", "MSA-2", "XYZ"),
    (10, "A^B&C~D", "MSA-2", "A\\S\\B\\T\\C\\R\\D"),    # an ST: its separators escaped
    (10, "A\\Q\\B", "MSA-2", "A\\E\\Q\\E\\B"),          # an escape it does not read, as typed
    (9, "ADT^A\x1b[31m04^ADT_A01", "MSH-9", "ACK^A[31m04^ACK"),
    (9, "ADT^A04&X~ADT^A05", "MSH-9", "ACK^A04\\T\\X^ACK"),
    (3, "H\\X07\\IS^1.2.3\x1b^ISO~X", "MSH-5", "HIS^1.2.3^ISO"),
    (4, "RIVERSIDE^1.2.3^ISO", "MSH-6", "RIVERSIDE^1.2.3^ISO"),   # components kept
    (4, "RIVER\u202eSIDE", "MSH-6", "RIVERSIDE"),
    (11, "T\x1b", "MSH-11", "T"),
    (12, "2.5\x1b", "MSH-12", "2.5"),
])
def test_nothing_echoed_carries_a_control_or_a_stray_separator(field, sent, where, echoed):
    """What the ACK echoes is read and escaped again, without control or invisible
    characters, whether the message is taken or rejected."""
    [ack] = send(replace_field(adt_a04(), "MSH", field, sent))
    segment, n = where.split("-")
    assert (ack.msh if segment == "MSH" else ack.msa)(int(n)) == echoed
    assert clean(ack)


def test_a_reason_with_a_control_character_is_sent_without_it():
    [ack] = send(adt_a11(), hall=Hall(errors.UnknownPatient("no visit 'V1'\x1b[2J\u2029|")))
    assert (ack.code, ack.reason) == ("AE", "no visit 'V1'[2J|") and clean(ack)


def test_a_refusal_by_the_hall_is_an_application_error_with_its_reason():
    hall = Hall(errors.NotInFlow("no department '0101' (no [[stage]] lists it in `his`)"))
    [ack] = send(adt_a04(), hall=hall)
    assert (ack.code, ack.msa(2), ack.error) == ("AE", "ADT0001", "207")
    assert ack.reason == "no department '0101' (no [[stage]] lists it in `his`)"
    assert len(hall.messages) == 1


@pytest.mark.parametrize("refusal, code", [(errors.UnknownPatient("no visit V1001"), "204"),
                                           (errors.UnknownDepartment("no department"), "204"),
                                           (errors.DuplicateMessage("control id reused"), "205")])
def test_refusals_carry_their_hl7_error_code(refusal, code):
    [ack] = send(adt_a11(), hall=Hall(refusal))
    assert (ack.code, ack.error, ack.reason) == ("AE", code, str(refusal))


def test_a_hall_slower_than_10_s_is_busy_and_the_resend_is_accepted(monkeypatch):
    monkeypatch.setattr(adapter_module, "DELIVER_SECONDS", 0.1)
    hall, message = Hall(delay=0.5), adt_a04()
    [ack] = send(message, hall=hall)
    assert (ack.code, ack.reason, ack.error) == ("AE", "the hall is busy; send it again", "206")
    hall.delay = 0
    [ack] = send(message, hall=hall)   # applied meanwhile or not: the hall applies it once
    assert ack.code == "AA"
    assert hall.messages[0].digest == hall.messages[1].digest


def test_a_fault_of_the_box_is_an_application_error():
    [ack] = send(adt_a04(), hall=Hall(RuntimeError("disk full")))
    assert (ack.code, ack.reason) == ("AE", "the hall could not apply it")


# -- the transport ---------------------------------------------------------------------------

def test_garbage_before_a_block_is_dropped():
    hall = Hall()
    [ack] = serve(lambda port: raw(port, b"\x00\xffnoise\r\n" + block(adt_a04())), hall)
    assert ack.code == "AA" and len(hall.messages) == 1


def test_two_messages_in_one_write_are_answered_in_order():
    hall = Hall()
    acks = serve(lambda port: raw(port, block(adt_a04(control="M1")) + block(adt_a11()),
                                  answers=2), hall)
    assert [(a.code, a.msa(2)) for a in acks] == [("AA", "M1"), ("AA", "ADT0002")]
    assert [m.kind for m in hall.messages] == ["register", "cancel"]


def test_a_block_split_over_writes_is_read_whole():
    data = block(adt_a04())
    chunks = [data[:1], data[1:9], data[9:40], data[40:-1], data[-1:]]
    [ack] = serve(lambda port: raw(port, *chunks, pause=0.02))
    assert ack.code == "AA"


@pytest.mark.parametrize("size", [70_000, 1_000_000])
def test_a_message_over_64_kib_is_rejected_and_the_next_one_read(size):
    hall = Hall()
    huge = adt_a04(control="BIG") + "\rNTE|1||" + "x" * size
    acks = send(huge, adt_a04(control="NEXT"), hall=hall)
    assert [(a.code, a.msa(2)) for a in acks] == [("AR", "BIG"), ("AA", "NEXT")]
    assert acks[0].reason == "the message is longer than 64 KiB"
    assert [m.control for m in hall.messages] == ["NEXT"]


def test_a_ninth_connection_is_closed_and_the_eight_keep_working(caplog):
    async def scenario(port):
        clients = [await open_hl7_connection("127.0.0.1", port) for _ in range(8)]
        for n, (reader, writer) in enumerate(clients):
            writer.writeblock(adt_a04(control=f"C{n}").encode())
            assert Ack(await asyncio.wait_for(reader.readblock(), 2)).code == "AA"
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await asyncio.wait_for(reader.read(), 2) == b""   # closed at once
        writer.close()
        reader, writer = clients[0]
        writer.writeblock(adt_a11().encode())
        assert Ack(await asyncio.wait_for(reader.readblock(), 2)).code == "AA"
        writer.close()
        await asyncio.sleep(0.05)   # one left: room for another
        try:
            return await exchange(port, adt_a04(control="AFTER"))
        finally:
            for _, writer in clients[1:]:
                writer.close()

    [ack] = serve(scenario)
    assert ack.code == "AA"
    assert "HL7: refused 127.0.0.1: 8 connections are open" in caplog.text


def test_only_the_listed_senders_may_connect(caplog):
    async def scenario(port):
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert await asyncio.wait_for(reader.read(), 2) == b""
            writer.close()

    hall = Hall()
    serve(scenario, hall, senders=("10.1.2.3",))
    assert hall.messages == []
    assert caplog.text.count("HL7: refused 127.0.0.1: not one of [his] senders") == 1
    [ack] = send(adt_a04(), senders=("10.1.2.3", "127.0.0.1"))
    assert ack.code == "AA"


def test_a_silent_connection_is_closed(monkeypatch):
    monkeypatch.setattr(adapter_module, "IDLE_SECONDS", 0.2)

    async def scenario(port):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x0bMSH|^~\\&|HIS")   # and then nothing
        try:
            return await asyncio.wait_for(reader.read(), 2)
        finally:
            writer.close()

    assert serve(scenario) == b""


def test_the_log_has_one_line_per_message_and_no_name(caplog):
    caplog.set_level(logging.INFO, logger="firmware.his.hl7")
    send(adt_a04(), replace_field(adt_a04(control="BAD"), "PV1", 19, ""),
         hall=Hall())
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("HL7 'ADT")]
    assert lines == ["HL7 'ADT^A04^ADT_A01' 'ADT0001': AA",
                     "HL7 'ADT^A04^ADT_A01' 'BAD': AR (PV1-19 (visit number) is empty)"]
    assert "张" not in caplog.text and "三" not in caplog.text


def test_the_port_is_closed_when_the_adapter_stops():
    async def main():
        adapter = Hl7Adapter(HisConfig("hl7", address="127.0.0.1", port=0), ZONE, Hall().deliver)
        task = asyncio.create_task(adapter.run())
        while adapter.port is None:
            await asyncio.sleep(0.001)
        reader, writer = await asyncio.open_connection("127.0.0.1", adapter.port)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert await asyncio.wait_for(reader.read(), 2) == b""   # the connection too
        writer.close()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", adapter.port)

    asyncio.run(main())


def test_build_chooses_the_adapter():
    adapter = his.build(HisConfig("hl7"), ZONE, Hall().deliver)
    assert type(adapter).__name__ == "Hl7Adapter"


# -- the [his] table -------------------------------------------------------------------------

def read(text: str) -> HisConfig | None:
    return read_his(Table(tomllib.loads(text).get("his", {}), "hall.toml", "[his]"))


def test_no_his_table_is_no_his():
    assert read("[hall]\nname = 'x'") is None


def test_the_hl7_defaults():
    assert read('[his]\nadapter = "hl7"') == \
        HisConfig("hl7", "0.0.0.0", 2575, "UTF-8", (), "QUEUE", "HALL")


def test_every_hl7_option():
    config = read('[his]\nadapter = "hl7"\naddress = "192.168.1.20"\nport = 6661\n'
                  'charset = "GB18030"\nsenders = ["192.168.1.5", "FE80::1"]\n'
                  'application = "QMS"\nfacility = "OPD-1"')
    assert config == HisConfig("hl7", "192.168.1.20", 6661, "GB18030",
                               ("192.168.1.5", "fe80::1"), "QMS", "OPD-1")


@pytest.mark.parametrize("options, error", [
    ("", "option 'adapter' is required"),
    ('adapter = "mllp"', "option 'adapter' must be \"hl7\" or \"sql\", got 'mllp'"),
    ('adapter = "hl7"\nport = 104', "option 'port' must be 1024 to 65535"),
    ('adapter = "hl7"\nport = "2575"', "option 'port' must be int"),
    ('adapter = "hl7"\ncharset = "latin-1"', "option 'charset' must be \"UTF-8\" or \"GB18030\""),
    ('adapter = "hl7"\naddress = "his.local"', "option 'address' must be an IPv4 or IPv6"),
    ('adapter = "hl7"\nsenders = ["10.0.0.300"]', "option 'senders' must list up to 32 IPv4"),
    ('adapter = "hl7"\nsenders = "10.0.0.3"', "option 'senders' must be list"),
    ('adapter = "hl7"\napplication = "Q|S"', "option 'application' must be 1 to 20 letters"),
    ('adapter = "hl7"\nfacility = ""', "option 'facility' must be 1 to 20 letters"),
    ('adapter = "hl7"\nprot = 2575', "option 'prot' is not a valid option (did you mean 'port'?)"),
    ('adapter = "hl7"\nview = "his_queue"', "option 'view' applies to adapter = \"sql\" only"),
])
def test_a_bad_hl7_option_is_named_with_its_reason(options, error):
    with pytest.raises(ConfigError) as raised:
        read(f"[his]\n{options}\nx = 1" if options == "" else f"[his]\n{options}")
    assert str(raised.value).startswith(f"hall.toml: [his], {error}")


def test_the_technicians_tool_sends_a_file_of_messages_and_says_if_all_were_taken(tmp_path):
    """tools/hl7_send.py: messages one segment a line, apart by a blank line, as a technician
    types them; each ACK printed; exit status 1 when one was refused."""
    script = Path(__file__).parents[1] / "tools" / "hl7_send.py"
    file = tmp_path / "messages.hl7"
    file.write_text("\n".join(adt_a04().split("\r")) + "\n\n" +
                    "\n".join(adt_a04(control="ADT0002", visit="V2").split("\r")) + "\n")

    async def scenario(port: int):
        tool = await asyncio.create_subprocess_exec(
            sys.executable, str(script), "--port", str(port), str(file),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await tool.communicate()
        return tool.returncode, out.decode(), err.decode()

    hall = Hall()
    code, out, err = serve(scenario, hall)
    assert (code, out.count("MSA|AA|")) == (0, 2) and [m.control for m in hall.messages] == \
        ["ADT0001", "ADT0002"]
    code, out, err = serve(scenario, Hall(errors.UnknownDepartment("no department '0101'")))
    assert code == 1 and "MSA|AE|ADT0001|no department '0101'" in out
