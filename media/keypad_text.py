"""What a teller keypad's display shows: two lines of 16 characters, words never cut."""

from __future__ import annotations

WIDTH = 16


def keypad_lines(text: str) -> tuple[str, str]:
    """`text` as the display's two lines: its own two lines (split at a newline), or one line's
    words wrapped onto both. A word that no longer fits is left out, never cut (only a single
    word longer than a whole line is)."""
    given = text.split("\n")
    if len(given) == 1:
        given = _wrap(text.split(), 2)
    lines = [" ".join(_wrap(line.split(), 1)[:1]) for line in given[:2]]
    return (lines + ["", ""])[0], (lines + ["", ""])[1]


def _wrap(words: list[str], count: int) -> list[str]:
    lines: list[str] = []
    for word in words:
        if lines and len(lines[-1]) + 1 + len(word) <= WIDTH:
            lines[-1] += " " + word
        elif len(lines) < count:
            lines.append(word[:WIDTH])
        else:
            break
    return lines
