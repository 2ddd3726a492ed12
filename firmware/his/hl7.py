"""HL7 v2 over MLLP: the HIS registers patients, cancels visits, books appointments and says
when a prescription is ready, and each message gets its acknowledgement.

The HIS connects to `[his] address:port` and sends each message in an MLLP block (<VT> message
<FS><CR>); the box answers each with an original-mode ACK, in order, on that connection.
Messages taken (fields as HL7 v2.3 to v2.8 place them; the first repetition of each; MSH-11
P or P^T, MSH-12.1 one of VERSIONS):

- ADT^A04 (register a patient) -> register: PID-3.1 patient id, PID-5 name (family name, then
  given name), PV1-3.1 department (point of care: a code a [[stage]] lists in `his`), PV1-7.1
  doctor (optional), PV1-19.1 visit number, PV1-4 admission type (optional: the lane).
- ADT^A11 (cancel admit/visit) -> cancel: PV1-19.1, PID-3.1.
- SIU^S12 (new appointment) -> appointment: SCH-1.1 (SCH-2.1 if empty) as the visit, PID-3.1,
  PID-5, AIL-3.1 (PV1-3.1 if none) department, AIP-3.1 doctor (optional), SCH-11.4 (AIS-4 if
  empty) the slot, as sent (optional).
- ORM^O01 with an ORC whose ORC-1 is SC (status changed) and ORC-5 CM (completed) -> ready: the
  pharmacy has dispensed it; PV1-19.1, PID-3.1. Any other ORM (a new order, another status) is
  answered AA "ignored: not a ready prescription": a pharmacy system sends the whole life of
  its orders on its interface, and an error answer would stall or alarm the HIS's queue for
  messages that are correct. RDE^O11 is not taken: it is the encoded prescription, sent when
  the doctor prescribes, before the patient has paid, so it can never mean "ready to collect".

The answer's MSA-1 is AR when the message is refused for its form and never reaches the hall:
not HL7 (no MSH first, bad separators), a segment without a valid id ([A-Z0-9]{3}), a second
MSH, no control id (MSH-10), MSH-11 other than P or P^T (training, debugging, an archive's or
a restore's message; empty), a version (MSH-12.1) not in VERSIONS, MSH-18 naming another
character set than `[his] charset` (empty and ASCII are taken), bytes that are not of that
character set, an unknown escape sequence, a message type or trigger not listed above, a
missing PID (PV1, SCH, ORC) or required field, a field with control characters or longer than
100 characters, or a message over 64 KiB. It is AE when the hall refused it (the QueueError's
reason: no such department, a control id reused for another message, no such patient...) or did
not answer within 10 s ("the hall is busy; send it again": it may still be applied, and its
resend is then answered AA, for the hall applies a control id once, comparing the digest of the
text, segment ends normalised and MSH-7 left out: a resend may be stamped anew). It is AA
otherwise, a resend of a message applied included. MSA-2 echoes MSH-10, MSA-3 says why, ERR-3
carries the code of HL7 table 0357. The ACK's MSH: our `application`/`facility`, the sender's
MSH-3/MSH-4 as receiver, the hall's local time (MSH-7), ACK^<trigger>^ACK, a fresh control id,
MSH-11 echoed when it is D, P or T (else P), MSH-12 when taken (else VERSION), MSH-18 the
site's character set; in the sender's separators. What is echoed is read (unescaped) and
escaped again, without control or invisible characters: nothing the HIS sent comes back as a
control, or as a separator it did not mean.

The input is untrusted: at most 8 connections at once (more are closed at once), from the
`senders` only when listed (others are closed; both logged at most once a minute per address),
a connection silent for 10 minutes is closed, and no bad message raises anything beyond its
answer. The log has one line per message: type, control id, answer, reason; never a name.
Values are read by this module, not python-hl7's accessors: their unescaping raises on some
escape sequences and logs field contents (a patient's name).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import re
import secrets
import string
import time
import unicodedata
from datetime import datetime

from hl7.mllp import start_hl7_server

from config.his import HisConfig
from config.table import HIDDEN, shown
from drivers.events import HisMessage
from firmware.his import KINDS, Deliver, unfit
from queue_core import errors
from queue_core.hall_time import zone as time_zone

log = logging.getLogger(__name__)

START, END = b"\x0b", b"\x1c\r"
MAX_MESSAGE = 64 * 1024   # bytes of one message
MAX_CONNECTIONS = 8
IDLE_SECONDS = 600.0      # a connection silent this long is closed
DELIVER_SECONDS = 10.0    # the hall's answer, at most; then AE "busy"
SEND_SECONDS = 10.0       # a sender that reads no answers this long is dropped
LOG_EVERY = 60.0          # seconds between two lines on one refused address
VERSION = "2.5"           # the ACK's MSH-12 when the message's is not one taken
VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2")
PROCESSING = {"D", "P", "T"}   # MSH-11.1 (table 0103) an ACK may echo; only P is taken
TYPES = {"ADT^A04": "register", "ADT^A11": "cancel", "SIU^S12": "appointment",
         "ORM^O01": "ready"}
# [his] charset: its MSH-18 (HL7 table 0211), Python's codec, and the MSH-18 names taken.
CHARSETS = {"UTF-8": ("UNICODE UTF-8", "utf-8", {"UNICODEUTF8", "UTF8"}),
            "GB18030": ("GB 18030-2000", "gb18030", {"GB180302000", "GB180302005", "GB18030"})}
ANY_CHARSET = {"", "ASCII"}   # (empty means ASCII, which either character set contains)
SEGMENT = re.compile(r"[A-Z0-9]{3}")
FORMATTING = re.compile(r"[HN]|\.(br|sp|fi|nf|in|ti|sk|ce)[+-]?[0-9]*")   # dropped
HEX = re.compile(r"X([0-9A-Fa-f]{2})+")
CODES = {100: "Segment sequence error", 101: "Required field missing", 102: "Data type error",
         200: "Unsupported message type", 201: "Unsupported event code",
         202: "Unsupported processing id", 203: "Unsupported version id",
         204: "Unknown key identifier", 205: "Duplicate key identifier",
         206: "Application record locked", 207: "Application internal error"}   # table 0357
LABELS = {"patient": "patient id", "name": "patient name", "department": "department",
          "doctor": "doctor", "visit": "visit number", "lane": "admission type",
          "slot": "appointment time"}


class Refused(Exception):
    """A message refused for its form (AR): `reason` for MSA-3, `code` of table 0357."""

    def __init__(self, reason: str, code: int = 100):
        super().__init__(reason)
        self.reason, self.code = reason, code


class Message:
    """One message's segments, split by its own separators; a segment's item n is its field n
    (MSH's too: item 1 is the field separator, 2 the encoding characters)."""

    def __init__(self, text: str, codec: str):
        lines = [line for line in re.split(r"\r\n|\r|\n", text) if line.strip()]
        if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 8:
            raise Refused("not an HL7 message: it must begin with an MSH segment")
        first, self.codec = lines[0], codec
        end = first.find(first[3], 4)
        signs = first[3:end] if end > 0 else ""
        if len(signs) not in (5, 6) or len(set(signs)) != len(signs) or \
                any(c not in string.punctuation for c in signs):
            raise Refused("MSH-1 and MSH-2 must be the separators: five distinct punctuation"
                          " signs")
        self.field, self.component, self.repetition, self.escape, self.subcomponent = signs[:5]
        self.segments: list[list[str]] = []
        for n, line in enumerate(lines, 1):
            if not SEGMENT.fullmatch(line[:3]) or line[3:4] not in ("", self.field):
                raise Refused(f"segment {n} has no valid segment id (3 capital letters or"
                              " digits, then the field separator)")
            if n > 1 and line[:3] == "MSH":
                raise Refused(f"segment {n} is a second MSH: one message per block")
            fields = line.split(self.field)
            self.segments.append(fields if n > 1 else [fields[0], self.field, *fields[1:]])

    @property
    def header(self) -> list[str]:
        return self.segments[0]

    def all(self, name: str) -> list[list[str]]:
        return [segment for segment in self.segments if segment[0] == name]

    def first(self, name: str) -> list[str] | None:
        return next(iter(self.all(name)), None)

    def value(self, segment: list[str] | None, field: int, component: int = 1) -> str:
        """The field's first repetition's `component` (its first subcomponent), unescaped;
        "" if absent or HL7's null ("")."""
        if segment is None or field >= len(segment):
            return ""
        raw = self.part(segment[field], component).split(self.subcomponent)[0]
        where = f"{segment[0]}-{field}"
        value = "" if raw == '""' else self._unescape(raw, where).strip()
        if (reason := unfit(value)) is not None:
            raise Refused(f"{where} {reason}", 102)
        return value

    def _unescape(self, raw: str, where: str) -> str:
        pieces = raw.split(self.escape)
        if len(pieces) % 2 == 0:
            raise Refused(f"{where} has an escape sequence that is not closed", 102)
        signs = {"F": self.field, "S": self.component, "T": self.subcomponent,
                 "R": self.repetition, "E": self.escape}
        text = []
        for n, piece in enumerate(pieces):
            if n % 2 == 0:
                text.append(piece)
            elif piece in signs:
                text.append(signs[piece])
            elif HEX.fullmatch(piece):
                try:
                    text.append(bytes.fromhex(piece[1:]).decode(self.codec))
                except UnicodeDecodeError:
                    raise Refused(f"{where} has hexadecimal bytes (\\X..\\) that are not"
                                  f" {self.codec}", 102) from None
            elif not FORMATTING.fullmatch(piece):
                raise Refused(f"{where} has an escape sequence this box does not read", 102)
        return "".join(text)

    def escaped(self, text: str) -> str:
        """`text` as a field of this message: its separators escaped, line ends as spaces,
        other control or invisible characters left out."""
        signs = {self.field: "F", self.component: "S", self.subcomponent: "T",
                 self.repetition: "R", self.escape: "E"}
        return "".join(f"{self.escape}{signs[c]}{self.escape}" if c in signs else
                       " " if c in "\r\n" else c for c in text
                       if c in "\r\n" or unicodedata.category(c) not in HIDDEN)

    def echo(self, raw: str, parts: bool = True) -> str:
        """A field of the sender's (`raw`, as sent) to send back: its first repetition, each
        component and subcomponent read and escaped again; `parts` False: the whole as one
        text (an ST: the control id), any separator in it escaped. An escape this box does
        not read is sent back as typed; control or invisible characters are left out, those
        an escape (\\X1B\\) stood for too."""
        if not parts:
            return self.escaped(self._read(raw))
        return self.component.join(
            self.subcomponent.join(self.escaped(self._read(piece))
                                   for piece in component.split(self.subcomponent))
            for component in raw.split(self.repetition)[0].split(self.component))

    def part(self, raw: str, component: int) -> str:
        """Component `component` of a raw field's first repetition, as sent ("" if none)."""
        parts = raw.split(self.repetition)[0].split(self.component)
        return parts[component - 1] if component <= len(parts) else ""

    def _read(self, raw: str) -> str:
        try:
            return self._unescape(raw, "")
        except Refused:
            return raw

    def digest(self) -> str:
        """The SHA-256 of the content, whatever ends its segments, and without MSH-7 (the
        time it was sent: an HIS's resend may stamp it anew, and is the same message)."""
        header = [*self.header] + [""] * (8 - len(self.header))
        header[7] = ""
        segments = [[header[0], *header[2:]], *self.segments[1:]]
        text = "\r".join(self.field.join(segment) for segment in segments)
        return hashlib.sha256(text.encode()).hexdigest()


PLAIN = Message("MSH|^~\\&|||||||||", "ascii")   # the answer's form to what is no message


class Hl7Adapter:
    """The box's HL7 listener: messages in, HisMessages to `deliver`, ACKs out.

    Example::

        adapter = Hl7Adapter(config.his, "Asia/Shanghai", appliance.his.deliver)
        await adapter.run()   # listens on [his] address:port until cancelled
    """

    def __init__(self, config: HisConfig, zone: str, deliver: Deliver):
        self.config, self.zone, self.deliver = config, time_zone(zone), deliver
        self.charset, self.codec, self.names = CHARSETS[config.charset]
        self.senders = {_host(address) for address in config.senders}
        self.port: int | None = None   # the port listened on, once started
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.Task] = set()
        self._warned: dict[tuple[str, str], float] = {}

    async def run(self) -> None:
        await self.start()
        try:
            await asyncio.get_running_loop().create_future()   # until cancelled
        finally:
            await self.close()

    async def start(self) -> None:
        """Listen (raises OSError if the address cannot be had: the loop retries)."""
        self._server = await start_hl7_server(self._connection, self.config.address,
                                              self.config.port, limit=MAX_MESSAGE)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("HL7 (MLLP) on %s:%d, %s", self.config.address, self.port, self.config.charset)
        if not self.senders:
            log.warning("HL7: any host of the network may send messages (no [his] senders)")

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = list(self._open)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # -- connections -------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer) -> None:
        peer = writer.get_extra_info("peername")
        host = _host(peer[0]) if peer else "?"
        if self.senders and host not in self.senders:
            self._warn(host, "HL7: refused %s: not one of [his] senders")
            writer.close()
            return
        if len(self._open) >= MAX_CONNECTIONS:
            self._warn(host, f"HL7: refused %s: {MAX_CONNECTIONS} connections are open")
            writer.close()
            return
        task = asyncio.current_task()
        self._open.add(task)
        log.info("HL7: %s connected", host)
        try:
            while (block := await self._read(reader)) is not None:
                writer.writeblock(await self._answer(*block))
                async with asyncio.timeout(SEND_SECONDS):
                    await writer.drain()
            log.info("HL7: %s disconnected", host)
        except TimeoutError:
            log.info("HL7: %s closed: silent, or not reading its answers", host)
        except (ConnectionError, OSError) as exc:
            log.info("HL7: %s: connection lost (%s)", host, exc)
        finally:
            self._open.discard(task)
            writer.close()

    async def _read(self, reader: asyncio.StreamReader) -> tuple[bytes, bool] | None:
        """The next block's bytes and whether they are whole (else the first MAX_MESSAGE,
        the rest read and dropped); None once the sender has closed. Bytes before a block's
        <VT> are dropped: line noise, or what is left of a block cut off."""
        async with asyncio.timeout(IDLE_SECONDS):
            try:
                data = await reader.readuntil(END)
                return data[data.rfind(START) + 1:-len(END)], True
            except asyncio.LimitOverrunError as exc:
                head = await reader.readexactly(exc.consumed)
            except asyncio.IncompleteReadError:
                return None
            while True:
                try:
                    await reader.readuntil(END)
                    return head[head.rfind(START) + 1:], False
                except asyncio.LimitOverrunError as exc:
                    await reader.readexactly(exc.consumed)
                except asyncio.IncompleteReadError:
                    return None

    def _warn(self, host: str, text: str) -> None:
        """`text` about `host`, unless said within LOG_EVERY seconds (a host retrying)."""
        now = time.monotonic()
        key = (host, text)
        if key in self._warned and now - self._warned[key] < LOG_EVERY:
            return
        self._warned = {k: t for k, t in self._warned.items() if now - t < LOG_EVERY}
        self._warned[key] = now
        log.warning(text, host)

    # -- messages ----------------------------------------------------------------------------

    async def _answer(self, data: bytes, whole: bool) -> bytes:
        """The ACK of one block's bytes."""
        text = data.decode(self.codec, "replace")
        header = None   # its MSH alone: what the ACK echoes, whatever follows
        try:
            header = Message(re.split("[\r\n]", text.lstrip("\r\n"))[0], self.codec)
            if not whole:
                raise Refused(f"the message is longer than {MAX_MESSAGE // 1024} KiB")
            message = Message(text, self.codec)
            kind, fields = self._check(message, data)
            msh = message.header
            source = f"hl7:{message.value(msh, 3)}^{message.value(msh, 4)}"
        except Refused as exc:
            return self._ack(header, "AR", exc.reason, exc.code)
        if kind is None:
            return self._ack(message, "AA", "ignored: not a ready prescription")
        his = HisMessage(kind, time.time(), fields, source, message.value(msh, 10),
                         message.digest())
        try:
            async with asyncio.timeout(DELIVER_SECONDS):
                await self.deliver(his)
        except TimeoutError:
            return self._ack(message, "AE", "the hall is busy; send it again", 206)
        except errors.QueueError as exc:
            code = 204 if isinstance(exc, LookupError) else \
                205 if isinstance(exc, errors.DuplicateMessage) else 207
            return self._ack(message, "AE", str(exc), code)
        except Exception:   # a fault of the box's, not the message's: the HIS may resend
            log.exception("HL7 %s: delivering it failed", shown(his.control))
            return self._ack(message, "AE", "the hall could not apply it", 207)
        return self._ack(message, "AA")

    def _check(self, m: Message, data: bytes) -> tuple[str | None, dict[str, str]]:
        """The kind and fields of a message this box takes (kind None: one it ignores);
        raises Refused saying what is wrong with it."""
        msh = m.header
        if not m.value(msh, 10):
            raise Refused("MSH-10 (message control id) is empty", 101)
        processing = msh[11] if len(msh) > 11 else ""
        if processing not in ("P", f"P{m.component}T"):   # not training, debugging, an
            # archive's (P^A) or a restore's (P^R): production, current (P, or P^T)
            raise Refused(f"MSH-11 is {shown(processing) if processing else 'empty'}: this box"
                          " is a live hall and takes production messages only (MSH-11 P or"
                          " P^T)", 202)
        if (version := m.value(msh, 12)) not in VERSIONS:
            raise Refused(f"MSH-12 (version id) is {shown(version) if version else 'empty'}:"
                          f" this box takes HL7 v2 {', '.join(VERSIONS)}", 203)
        declared = re.sub(r"[\s_-]", "", m.value(msh, 18).upper())
        if declared not in self.names | ANY_CHARSET:
            raise Refused(f"MSH-18 names the character set {shown(m.value(msh, 18))}; this box"
                          f" reads {self.charset} ([his] charset)", 102)
        try:
            data.decode(self.codec)
        except UnicodeDecodeError as exc:
            raise Refused(f"the message is not {self.charset}: byte {exc.start} cannot be"
                          f" read", 102) from None
        code, trigger = m.value(msh, 9, 1), m.value(msh, 9, 2)
        kind = TYPES.get(f"{code}^{trigger}")
        if kind is None:
            known = code in {t.split("^")[0] for t in TYPES}
            raise Refused(f"{shown(code + '^' + trigger)} is not a message this box takes"
                          f" ({', '.join(TYPES)})", 201 if known else 200)
        if kind == "ready" and not self._ready(m):
            return None, {}
        return kind, self._fields(m, kind)

    def _ready(self, m: Message) -> bool:
        orders = m.all("ORC")
        if not orders:
            raise Refused("the message has no ORC segment")
        return any(m.value(orc, 1) == "SC" and m.value(orc, 5) == "CM" for orc in orders)

    def _fields(self, m: Message, kind: str) -> dict[str, str]:
        needed = ("PID", "SCH") if kind == "appointment" else ("PID", "PV1")
        for name in needed:
            if m.first(name) is None:
                raise Refused(f"the message has no {name} segment")
        pid, pv1 = m.first("PID"), m.first("PV1")
        found = {"patient": ("PID-3", m.value(pid, 3)), "visit": ("PV1-19", m.value(pv1, 19))}
        if kind in ("register", "appointment"):
            family, given = m.value(pid, 5, 1), m.value(pid, 5, 2)
            found["name"] = ("PID-5", (family + (" " if (family + given).isascii() else "")
                                       + given).strip())
            found["department"] = ("PV1-3", m.value(pv1, 3))
        if kind == "register":
            found |= {"doctor": ("PV1-7", m.value(pv1, 7)), "lane": ("PV1-4", m.value(pv1, 4))}
        if kind == "appointment":
            sch = m.first("SCH")
            found["visit"] = ("SCH-1 or SCH-2", m.value(sch, 1) or m.value(sch, 2))
            found["department"] = ("AIL-3 or PV1-3", _any(m, "AIL", 3) or m.value(pv1, 3))
            found["doctor"] = ("AIP-3", _any(m, "AIP", 3))
            found["slot"] = ("SCH-11.4 or AIS-4", m.value(sch, 11, 4) or _any(m, "AIS", 4))
        required, optional = KINDS[kind]
        for key in ("patient", *required):
            if not found[key][1]:
                raise Refused(f"{found[key][0]} ({LABELS[key]}) is empty", 101)
        return {key: found[key][1] for key in ("patient", *required, *optional)
                if found[key][1]}

    def _ack(self, message: Message | None, code: str, reason: str = "",
             error: int | None = None) -> bytes:
        """The ACK (MSA-1 `code`) of `message` (None: bytes that are no message), logged."""
        m = message or PLAIN
        msh, c = m.header + [""] * 13, m.component   # the sender's fields, as sent
        trigger = m.echo(m.part(msh[9], 2), parts=False)
        processing, version = m.echo(msh[11]), m.echo(msh[12])
        header = [msh[2], m.escaped(self.config.application), m.escaped(self.config.facility),
                  m.echo(msh[3]), m.echo(msh[4]), datetime.now(self.zone).strftime("%Y%m%d%H%M%S"),
                  "", f"ACK{c}{trigger}{c}ACK", secrets.token_hex(10),
                  processing if m.part(processing, 1) in PROCESSING else "P",
                  version if m.part(version, 1) in VERSIONS else VERSION,
                  "", "", "", "", "", self.charset]
        segments = [["MSH", m.field.join(header)],
                    ["MSA", code, m.echo(msh[10], parts=False)] +
                    ([m.escaped(reason)] if reason else [])]
        if error is not None:
            segments.append(["ERR", "", "", f"{error}{c}{CODES[error]}{c}HL70357", "E"])
        log.info("HL7 %s %s: %s%s", shown(msh[9]), shown(msh[10]), code,
                 f" ({reason})" if reason else "")
        text = "".join(m.field.join(segment) + "\r" for segment in segments)
        return text.encode(self.codec, "replace")


def _any(m: Message, name: str, field: int) -> str:
    """Field `field` of the first `name` segment that has it (a resource group's)."""
    return next((v for segment in m.all(name) if (v := m.value(segment, field))), "")


def _host(address: str) -> str:
    """An address as the senders list has it (an IPv4 peer of an IPv6 socket as IPv4)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)
