"""Announcement players. SimAudio prints each announcement instead of speaking it."""

from __future__ import annotations

from typing import TextIO


class SimAudio:
    def __init__(self, out: TextIO):
        self.out = out
        self.spoken: list[str] = []

    def announce(self, phrases: tuple[str, ...]) -> None:
        self.spoken.extend(phrases)
        print(f"[audio] {' / '.join(phrases)}", file=self.out)
