"""The content of a printed ticket and its ESC/POS rendering.

Chinese is printed as 1-bit images (rendered with Unifont): python-escpos knows no GB18030 code
page, and an image prints the same on every printer. Latin text, the big number and the QR code
(native, GS ( k) are printer commands.
"""

from __future__ import annotations

from dataclasses import dataclass

from media.fonts import text_image
from queue_core import HallConfig, Issued
from queue_core.hall_time import local


@dataclass(frozen=True)
class TicketConfig:
    """The hall's own lines on every ticket, and what its QR code holds."""

    header: tuple[str, ...] = ()
    footer: tuple[str, ...] = ()
    qr: str = "{day}/{label}"   # may also use {service}; e.g. "https://bank.example/q/{label}"


@dataclass(frozen=True)
class TicketLayout:
    day: str
    hall: str
    hall_zh: str
    label: str
    service_en: str
    service_zh: str
    ahead: int
    issued: str
    vip: bool
    qr: str
    header: tuple[str, ...] = ()
    footer: tuple[str, ...] = ()


def ticket_layout(hall: HallConfig, ticket_config: TicketConfig, issued: Issued) -> TicketLayout:
    ticket = issued.ticket
    service = hall.service(ticket.service)
    return TicketLayout(
        day=ticket.day, hall=hall.name, hall_zh=hall.name_zh, label=ticket.label,
        service_en=service.name_en, service_zh=service.name_zh, ahead=issued.ahead,
        issued=local(ticket.issued_at, hall).strftime("%Y-%m-%d %H:%M"),
        vip=ticket.vip, header=ticket_config.header, footer=ticket_config.footer,
        qr=ticket_config.qr.format(day=ticket.day, label=ticket.label, service=ticket.service))


def ticket_escpos(layout: TicketLayout, width: int) -> bytes:
    """The ticket as the ESC/POS bytes for a printer `width` dots wide, ending with a cut."""
    from escpos.printer import Dummy  # heavy import (~0.5 s): only when the first ticket prints

    p = Dummy()
    p.profile.profile_data["media"]["width"]["pixels"] = width  # else image() prints a warning
    p.hw("INIT")
    p.set(align="center")
    for line in layout.header:
        _line(p, line, width)
    if layout.hall_zh:
        p.image(text_image(layout.hall_zh, 32, width))
    p.textln(layout.hall)
    p.ln()
    p.set(align="center", custom_size=True, width=4, height=4)
    p.textln(layout.label)
    p.set_with_default(align="center", bold=True)
    if layout.vip:
        p.textln("VIP")
    p.image(text_image(layout.service_zh, 32, width))
    p.textln(layout.service_en)
    p.set_with_default(align="center")
    p.image(text_image(f"您前面还有 {layout.ahead} 人", 32, width))
    p.textln(f"{layout.ahead} ahead of you")
    p.textln(layout.issued)
    p.qr(layout.qr, native=True, size=6)
    for line in layout.footer:
        _line(p, line, width)
    p.cut()
    return p.output


@dataclass(frozen=True)
class NoteLayout:
    """A slip that is no ticket (the back office's setup code): its text big, a few lines, and
    a QR code; `label` names the print job."""

    day: str
    label: str
    big: str
    lines: tuple[str, ...]
    qr: str


def note_escpos(layout: NoteLayout, width: int) -> bytes:
    from escpos.printer import Dummy

    p = Dummy()
    p.profile.profile_data["media"]["width"]["pixels"] = width
    p.hw("INIT")
    p.set(align="center")
    for line in layout.lines:
        _line(p, line, width)
    p.set(align="center", custom_size=True, width=2, height=2)
    p.textln(layout.big)
    p.set_with_default(align="center")
    p.qr(layout.qr, native=True, size=6)
    p.cut()
    return p.output


def _line(p, text: str, width: int) -> None:
    """A free text line: printer text if plain ASCII, else an image."""
    if text.isascii():
        p.textln(text)
    else:
        p.image(text_image(text, 32, width))
