"""Reading an ESC/POS byte stream back: decoded commands, and a PNG of the paper they make.

Covers the commands python-escpos emits for our tickets and status queries; anything else is
kept as an ("unknown", byte) op rather than guessed at.
"""

from __future__ import annotations

from PIL import Image, ImageDraw

from media.fonts import unifont

ESC, GS, DLE = 0x1B, 0x1D, 0x10
ALIGN = {0: "left", 1: "center", 2: "right", 48: "left", 49: "center", 50: "right"}
ONE_ARGUMENT_ESC = {ord(c): name for c, name in zip("!tE-{MG3", (
    "mode", "codepage", "bold", "underline", "upside_down", "font", "double_strike",
    "line_spacing"))}
ONE_ARGUMENT_GS = {ord("b"): "smoothing", ord("B"): "inverse"}


def decode(data: bytes) -> list[tuple]:
    """The stream as ops: ("init",) ("align", "center") ("size", w, h) ("text", "A012")
    ("newline",) ("image", PIL image) ("qr", payload, module_size) ("feed", n) ("cut",)
    ("query", n) (name, value) for other one-byte settings, ("unknown", byte)."""
    ops: list[tuple] = []
    qr_payload, qr_size = b"", 3
    i = 0
    while i < len(data):
        b, nxt = data[i], data[i + 1] if i + 1 < len(data) else None
        if b == ESC and nxt == ord("@"):
            ops.append(("init",))
            i += 2
        elif b == ESC and nxt == ord("a"):
            ops.append(("align", ALIGN.get(data[i + 2], "left")))
            i += 3
        elif b == ESC and nxt == ord("d"):
            ops.append(("feed", data[i + 2]))
            i += 3
        elif b == ESC and nxt == ord("2"):
            ops.append(("line_spacing", None))
            i += 2
        elif b == ESC and nxt in ONE_ARGUMENT_ESC:
            ops.append((ONE_ARGUMENT_ESC[nxt], data[i + 2]))
            i += 3
        elif b == GS and nxt == ord("!"):
            ops.append(("size", (data[i + 2] >> 4) + 1, (data[i + 2] & 0x0F) + 1))
            i += 3
        elif b == GS and nxt in ONE_ARGUMENT_GS:
            ops.append((ONE_ARGUMENT_GS[nxt], data[i + 2]))
            i += 3
        elif b == GS and nxt == ord("V"):
            ops.append(("cut",))
            i += 4 if data[i + 2] in (65, 66) else 3
        elif b == GS and data[i + 1:i + 3] == b"v0":
            width_bytes = data[i + 4] | data[i + 5] << 8
            height = data[i + 6] | data[i + 7] << 8
            raster = data[i + 8:i + 8 + width_bytes * height]
            image = Image.frombytes("1", (width_bytes * 8, height), raster)
            ops.append(("image", Image.eval(image, lambda v: 255 - v).convert("1")))
            i += 8 + width_bytes * height
        elif b == GS and data[i + 1:i + 3] == b"(k":
            length = data[i + 3] | data[i + 4] << 8
            cn, fn, args = data[i + 5], data[i + 6], data[i + 7:i + 5 + length]
            if cn == 49 and fn == 67:
                qr_size = args[0]
            elif cn == 49 and fn == 80:
                qr_payload = args[1:]
            elif cn == 49 and fn == 81:
                ops.append(("qr", qr_payload.decode("utf-8"), qr_size))
            i += 5 + length
        elif b == DLE and nxt == 0x04:
            ops.append(("query", data[i + 2]))
            i += 3
        elif b == 0x0A:
            ops.append(("newline",))
            i += 1
        elif b >= 0x20:
            end = i
            while end < len(data) and data[end] >= 0x20 and data[end] not in (ESC, GS, DLE):
                end += 1
            ops.append(("text", data[i:end].decode("cp437")))
            i = end
        else:
            ops.append(("unknown", b))
            i += 1
    return ops


def text_lines(ops: list[tuple]) -> list[str]:
    """The printed text, one string a printed line (images and codes left out)."""
    lines, current = [], ""
    for op in ops:
        if op[0] == "text":
            current += op[1]
        elif op[0] == "newline":
            lines.append(current)
            current = ""
    return lines + ([current] if current else [])


def paper(ops: list[tuple], width: int) -> Image.Image:
    """What the printer puts on paper, as a 1-bit image `width` dots wide (a preview)."""
    import qrcode

    pieces: list[tuple[Image.Image, str]] = []
    align, size, line, bold = "left", (1, 1), "", False

    def put_text() -> None:
        font = unifont(24 * size[1])
        image = Image.new("1", (max(1, int(font.getlength(line) * size[0] / size[1])) + bold,
                                24 * size[1]), 1)
        draw = ImageDraw.Draw(image)
        draw.fontmode = "1"
        for shift in range(1 + bold):   # emphasized: each dot struck again one dot on
            draw.text((shift, 0), line, font=font, fill=0)
        pieces.append((image, align))

    for op in ops:
        if op[0] == "align":
            align = op[1]
        elif op[0] == "size":
            size = op[1:]
        elif op[0] in ("init", "mode"):
            size, bold = (1, 1), op[0] == "mode" and bool(op[1] & 0x08)
        elif op[0] == "bold":
            bold = bool(op[1])
        elif op[0] == "text":
            line += op[1]
        elif op[0] == "newline":
            put_text()
            line = ""
        elif op[0] == "image":
            pieces.append((op[1], align))
        elif op[0] == "qr":
            code = qrcode.QRCode(box_size=op[2], border=1)
            code.add_data(op[1])
            pieces.append((code.make_image().get_image().convert("1"), align))
        elif op[0] == "feed":
            pieces.append((Image.new("1", (1, 24 * op[1]), 1), "left"))
    page = Image.new("1", (width, sum(p.height for p, _ in pieces) or 1), 1)
    y = 0
    for piece, where in pieces:
        x = {"left": 0, "center": (width - piece.width) // 2, "right": width - piece.width}[where]
        page.paste(piece, (max(0, x), y))
        y += piece.height
    return page
