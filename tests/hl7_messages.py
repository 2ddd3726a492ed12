"""HL7 v2.5 test messages as an HIS sends them: built and validated strictly by hl7apy (every
segment, field and required child checked against the standard), plus raw text for broken
ones and MLLP framing."""

from __future__ import annotations

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message

VT, FS_CR = b"\x0b", b"\x1c\r"
UTF8, GB18030 = "UNICODE UTF-8", "GB 18030-2000"   # MSH-18, HL7 table 0211


def _message(structure: str, kind: str, control: str, charset: str | None) -> Message:
    m = Message(structure, version="2.5", validation_level=VALIDATION_LEVEL.STRICT)
    m.msh.msh_3 = "HIS"
    m.msh.msh_4 = "RIVERSIDE"
    m.msh.msh_5 = "QUEUE"
    m.msh.msh_6 = "HALL"
    m.msh.msh_9 = f"{kind}^{structure}"
    m.msh.msh_10 = control
    m.msh.msh_11 = "P"
    if charset:
        m.msh.msh_18 = charset
    return m


def _text(m: Message) -> str:
    m.validate()   # raises on anything the standard does not allow
    return m.to_er7()


def adt_a04(control: str = "ADT0001", patient: str = "P1001", family: str = "张",
            given: str = "三", department: str = "0101", doctor: str | None = "D01",
            visit: str = "V1001", admission: str | None = None,
            charset: str | None = UTF8) -> str:
    """Register a patient (ADT^A04, structure ADT_A01)."""
    m = _message("ADT_A01", "ADT^A04", control, charset)
    m.evn.evn_2 = "20261124090000"
    m.pid.pid_3 = f"{patient}^^^RIVERSIDE^PI"
    m.pid.pid_5 = f"{family}^{given}"
    m.pv1.pv1_2 = "O"
    m.pv1.pv1_3 = f"{department}^^^RIVERSIDE"
    if admission:
        m.pv1.pv1_4 = admission
    if doctor:
        m.pv1.pv1_7 = f"{doctor}^Zhao^Lei"
    m.pv1.pv1_19 = visit
    return _text(m)


def adt_a11(control: str = "ADT0002", patient: str = "P1001", visit: str = "V1001",
            charset: str | None = UTF8) -> str:
    """Cancel a visit (ADT^A11, structure ADT_A09)."""
    m = _message("ADT_A09", "ADT^A11", control, charset)
    m.evn.evn_2 = "20261124091000"
    m.pid.pid_3 = f"{patient}^^^RIVERSIDE^PI"
    m.pid.pid_5 = "张^三"
    m.pv1.pv1_2 = "O"
    m.pv1.pv1_19 = visit
    return _text(m)


def siu_s12(control: str = "SIU0001", appointment: str = "APT0001", filler: str = "F0001",
            patient: str = "P2002", family: str = "李", given: str = "四",
            department: str | None = "0201", doctor: str | None = "D04",
            start: str = "20261124103000", charset: str | None = UTF8) -> str:
    """Book an appointment (SIU^S12): SCH-1 the placer's id, SCH-11.4 and AIS-4 its start,
    AIL-3 the department, AIP-3 the doctor."""
    m = _message("SIU_S12", "SIU^S12", control, charset)
    if appointment:
        m.sch.sch_1 = f"{appointment}^HIS"
    m.sch.sch_2 = f"{filler}^HIS"
    m.sch.sch_6 = "NEW"
    m.sch.sch_11 = f"^^^{start}"
    m.sch.sch_16 = "N01^Nurse"
    m.sch.sch_20 = "N01^Nurse"
    m.sch.sch_25 = "Booked"
    patient_group = m.add_group("SIU_S12_PATIENT")
    patient_group.pid.pid_3 = f"{patient}^^^RIVERSIDE^PI"
    patient_group.pid.pid_5 = f"{family}^{given}"
    resources = m.add_group("SIU_S12_RESOURCES")
    resources.rgs.rgs_1 = "1"
    service = resources.add_group("SIU_S12_SERVICE")
    service.ais.ais_1 = "1"
    service.ais.ais_3 = "CONSULT^Outpatient consultation"
    service.ais.ais_4 = start
    if department:
        location = resources.add_group("SIU_S12_LOCATION_RESOURCE")
        location.ail.ail_1 = "1"
        location.ail.ail_3 = f"{department}^^^RIVERSIDE"
    if doctor:
        person = resources.add_group("SIU_S12_PERSONNEL_RESOURCE")
        person.aip.aip_1 = "1"
        person.aip.aip_3 = f"{doctor}^Li^Ming"
    return _text(m)


def orm_o01(control: str = "ORM0001", patient: str = "P1001", visit: str = "V1001",
            status: tuple[str, str] = ("SC", "CM"), charset: str | None = UTF8) -> str:
    """The pharmacy's order message (ORM^O01): ORC-1 order control, ORC-5 order status;
    SC with CM is a prescription dispensed, ready to collect."""
    m = _message("ORM_O01", "ORM^O01", control, charset)
    m.msh.msh_3 = "PHARMACY"
    patient_group = m.add_group("ORM_O01_PATIENT")
    patient_group.pid.pid_3 = f"{patient}^^^RIVERSIDE^PI"
    patient_group.pid.pid_5 = "张^三"
    visit_group = patient_group.add_group("ORM_O01_PATIENT_VISIT")
    visit_group.pv1.pv1_2 = "O"
    visit_group.pv1.pv1_19 = visit
    order = m.add_group("ORM_O01_ORDER")
    order.orc.orc_1, order.orc.orc_5 = status
    order.orc.orc_2 = "RX20261124001"
    return _text(m)


def segments(*lines: str) -> str:
    """A raw message (for broken ones): its segments ended by <CR>."""
    return "".join(line + "\r" for line in lines)


def replace_field(text: str, segment: str, field: int, value: str) -> str:
    """`text` with field `field` of its first `segment` set to `value` (raw, unchecked)."""
    lines = text.split("\r")
    for n, line in enumerate(lines):
        if line.startswith(segment):
            fields = line.split("|")
            index = field - 1 if segment == "MSH" else field   # MSH-1 is the separator itself
            fields += [""] * (index + 1 - len(fields))
            fields[index] = value
            lines[n] = "|".join(fields)
            break
    return "\r".join(lines)


def drop_segment(text: str, segment: str) -> str:
    return "\r".join(line for line in text.split("\r") if not line.startswith(segment))


def block(text: str | bytes, encoding: str = "utf-8") -> bytes:
    """`text` framed as one MLLP block."""
    data = text.encode(encoding) if isinstance(text, str) else text
    return VT + data + FS_CR
