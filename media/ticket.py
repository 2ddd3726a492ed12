"""The content of a printed ticket, and its plain-text form."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from queue_core import HallConfig, Issued


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


def ticket_layout(config: HallConfig, issued: Issued) -> TicketLayout:
    ticket = issued.ticket
    service = config.service(ticket.service)
    return TicketLayout(
        day=ticket.day, hall=config.name, hall_zh=config.name_zh, label=ticket.label,
        service_en=service.name_en, service_zh=service.name_zh, ahead=issued.ahead,
        issued=datetime.fromtimestamp(ticket.issued_at).strftime("%Y-%m-%d %H:%M"),
        vip=ticket.vip, qr=f"{ticket.day}/{ticket.label}")


def ticket_text(layout: TicketLayout) -> str:
    number = f"    {layout.label}" + ("  VIP" if layout.vip else "")
    lines = [layout.hall_zh, layout.hall, "", number, "",
             f"{layout.service_zh} {layout.service_en}",
             f"您前面还有 {layout.ahead} 人 / {layout.ahead} ahead of you",
             layout.issued, f"[QR {layout.qr}]"]
    return "\n".join(lines) + "\n"
