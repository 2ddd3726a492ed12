"""What the wall display shows: the latest calls as lines, and those lines as an LED frame.

A line is 16 LEDs high (two module rows) and drawn with Unifont, so Chinese is legible. A
display only 8 LEDs high gets 8-LED lines in luma's CP437 font: Latin letters, digits and the
arrow only (any other character shows as '?'). A line wider than the display scrolls.
"""

from __future__ import annotations

from PIL import Image, ImageDraw

from media.fonts import unifont
from queue_core import Ticket

GAP = 16  # LEDs between the end of a scrolling line and its next pass


def wall_lines(last_calls: tuple[Ticket, ...], rows: int = 4) -> list[str]:
    """One 'A012 → 3' line per recently called ticket (its latest counter only)."""
    lines: dict[str, str] = {}
    for ticket in last_calls:
        lines.setdefault(ticket.label, f"{ticket.label} → {ticket.counter}")
    return list(lines.values())[:rows]


def line_height(display_height: int) -> int:
    return 16 if display_height >= 16 else 8


def _cp437(text: str) -> str:
    return "".join("\x1a" if c == "→" else c if ord(c) < 128 else "?" for c in text)


def line_width(text: str, height: int) -> int:
    if height == 16:
        return int(unifont(16).getlength(text))
    from luma.core.legacy import textsize
    from luma.core.legacy.font import CP437_FONT, proportional

    return textsize(_cp437(text), font=proportional(CP437_FONT))[0]


def wall_frame(lines: list[str], width: int, height: int, offsets: list[int]) -> Image.Image:
    """The frame for `lines`, one per line band; line i shifted left by offsets[i] if it scrolls."""
    frame = Image.new("1", (width, height), 0)
    draw = ImageDraw.Draw(frame)
    draw.fontmode = "1"
    band = line_height(height)
    for row, (text, offset) in enumerate(zip(lines[:height // band], offsets)):
        size = line_width(text, band)
        starts = [(width - size) // 2] if size <= width else \
            [-(offset % (size + GAP)), size + GAP - offset % (size + GAP)]
        for x in starts:
            if band == 16:
                draw.text((x, row * band), text, font=unifont(16), fill=1)
            else:
                from luma.core.legacy import text as legacy_text
                from luma.core.legacy.font import CP437_FONT, proportional

                legacy_text(draw, (x, row * band), _cp437(text), fill=1,
                            font=proportional(CP437_FONT))
    return frame


def led_picture(frame: Image.Image, pitch: int = 8) -> Image.Image:
    """The frame as it looks on the wall: a red dot per lit LED, a dark one per unlit LED."""
    picture = Image.new("RGB", (frame.width * pitch, frame.height * pitch), (16, 16, 16))
    draw = ImageDraw.Draw(picture)
    for y in range(frame.height):
        for x in range(frame.width):
            colour = (255, 40, 20) if frame.getpixel((x, y)) else (50, 16, 16)
            draw.ellipse((x * pitch + 1, y * pitch + 1, (x + 1) * pitch - 2, (y + 1) * pitch - 2),
                         fill=colour)
    return picture
