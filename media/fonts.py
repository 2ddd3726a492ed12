"""Bitmap fonts for Chinese and Latin text on paper and LEDs (GNU Unifont, Debian fonts-unifont)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

UNIFONT = Path("/usr/share/fonts/opentype/unifont/unifont.otf")


class FontMissing(RuntimeError):
    pass


@lru_cache(maxsize=None)
def unifont(size: int) -> ImageFont.FreeTypeFont:
    """Unifont at `size` px: crisp at multiples of 16, covers Chinese and Latin."""
    try:
        return ImageFont.truetype(str(UNIFONT), size)
    except OSError as exc:
        raise FontMissing(f"{UNIFONT}: {exc} (install the Debian package fonts-unifont)") from exc


def text_width(text: str, size: int) -> int:
    return int(unifont(size).getlength(text))


def text_image(text: str, size: int, width: int) -> Image.Image:
    """`text` in black on a white 1-bit strip `width` dots wide, centred."""
    image = Image.new("1", (width, size), 1)
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"
    draw.text(((width - text_width(text, size)) // 2, 0), text, font=unifont(size), fill=0)
    return image
