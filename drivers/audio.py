"""Announcements: played from clips through pygame.mixer, or printed on a terminal.

The player runs on its own thread: announcements queue and never overlap, and the loop never
waits for one. A clip that cannot be played is skipped (and reported once, to the loop); a
mixer that cannot start leaves the hall silent but running.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Callable, TextIO

from drivers.events import DeviceFault
from drivers.worker import Worker
from media.speech import Announcement

log = logging.getLogger(__name__)

RATE = 22050


class Announcer(Worker):
    """Speaks announcements from WAV clips in `clips` (see media.speech for the names).

    Example: Announcer(Path("/data/clips"), 0.8).announce(call_announcement("A012", 3, ("zh",)))
    `played` records (clip names, start, end) of each announcement, in perf_counter seconds.
    """

    def __init__(self, clips: Path, volume: float, post: Callable[[DeviceFault], None],
                 clock: Callable[[], float]):
        self.clips, self.volume, self.post, self.clock = clips, volume, post, clock
        self.played: list[tuple[tuple[str, ...], float, float]] = []
        self._sounds: dict[str, object] = {}
        self._missing: set[str] = set()
        self._pygame = None
        super().__init__("audio")

    def announce(self, announcement: Announcement) -> None:
        self.submit(announcement)

    def start_up(self) -> None:
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        try:
            import pygame

            pygame.mixer.pre_init(RATE, -16, 1)
            pygame.mixer.init()
            self._pygame = pygame
        except Exception as exc:  # no sound device, no SDL: silent, not fatal
            log.error("audio: cannot start the mixer, announcements are silent: %s", exc)

    def handle(self, announcement: Announcement) -> None:
        parts = [s for s in map(self._sound, announcement.clips) if s]
        if not parts:
            return
        # One sound made of all the clips: no gap between them, and nothing can come between.
        sound = self._pygame.mixer.Sound(buffer=b"".join(part.get_raw() for part in parts))
        sound.set_volume(self.volume)
        start = time.perf_counter()
        channel = sound.play()
        while channel is not None and channel.get_busy():
            time.sleep(0.01)
        self.played.append((announcement.clips, start, time.perf_counter()))

    def _sound(self, name: str):
        if self._pygame and name not in self._sounds and name not in self._missing:
            try:
                self._sounds[name] = self._pygame.mixer.Sound(str(self.clips / f"{name}.wav"))
            except (self._pygame.error, OSError) as exc:   # missing, empty, not a WAV
                self._missing.add(name)
                self.post(DeviceFault("audio", f"clip {name} cannot be played ({exc});"
                                      " announcements go on without it", self.clock()))
        return self._sounds.get(name)


class SimAudio:
    """Announcements on a terminal: prints each one's words."""

    def __init__(self, out: TextIO):
        self.out = out
        self.spoken: list[str] = []

    def announce(self, announcement: Announcement) -> None:
        self.spoken.extend(announcement.text)
        print(f"[audio] {' / '.join(announcement.text)}", file=self.out)

    def close(self) -> None:
        pass
