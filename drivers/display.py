"""Wall displays. SimDisplay prints the display's lines whenever they change."""

from __future__ import annotations

from typing import TextIO


class SimDisplay:
    def __init__(self, out: TextIO):
        self.out = out
        self.lines: list[str] = []

    def show(self, lines: list[str]) -> None:
        if lines != self.lines:
            self.lines = list(lines)
            print(f"[wall] {' | '.join(lines) or '(blank)'}", file=self.out)
