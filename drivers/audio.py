"""Announcements: played from clips through pygame.mixer, or printed on a terminal.

The player runs on its own thread: announcements queue and never overlap, and the loop never
waits for one. A clip that cannot be played is skipped (and reported once, to the loop); a
mixer that cannot start leaves the hall silent but running.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Callable, TextIO

from drivers.events import Announcing, DeviceFault
from drivers.worker import Worker
from media.speech import Announcement

log = logging.getLogger(__name__)

RATE = 22050
BACKLOG = 3    # calls waiting to be said before it is reported (once, until it clears)
PLAYED = 100   # announcements remembered in `played`


class Announcer(Worker):
    """Speaks announcements from WAV clips in `clips` (see media.speech for the names).

    A call takes seconds to say, and calls can come faster: what waits is only the newest call
    of each counter, in the order they came, and a call that no longer stands (the customer
    came, the ticket was finished or moved) is withdrawn before it is said.
    Example: Announcer(Path("/data/clips"), 0.8, post, time.time).announce(3, announcement)
    `played` records (clip names, start, end) of the latest announcements, perf_counter seconds.
    """

    def __init__(self, clips: Path, volume: float, post: Callable[[object], None],
                 clock: Callable[[], float]):
        self.clips, self.volume, self.post, self.clock = clips, volume, post, clock
        self.played: deque[tuple[tuple[str, ...], float, float]] = deque(maxlen=PLAYED)
        self._sounds: dict[str, object] = {}
        self._missing: set[str] = set()
        self._pygame = None
        self._waiting: dict[int, Announcement] = {}   # counter -> its newest call, oldest first
        self._lock = threading.Lock()
        self._behind = False   # a backlog was reported, and has not cleared since
        self._fresh = False    # the clips changed: what was loaded is dropped
        super().__init__("audio")

    def announce(self, counter: int, announcement: Announcement) -> None:
        with self._lock:
            replaced = self._waiting.pop(counter, None) is not None
            self._waiting[counter] = announcement
            if len(self._waiting) > BACKLOG and not self._behind:
                self._behind = True
                log.warning("audio: %d calls wait to be said; only each counter's newest is",
                            len(self._waiting))
        if not replaced:
            self.submit(counter)   # one job a waiting counter: the queue stays as short

    def withdraw(self, counter: int) -> None:
        """The counter's call no longer stands: not said, if it is still waiting."""
        with self._lock:
            self._waiting.pop(counter, None)

    def use_clips(self, clips: Path) -> None:
        """Say the next announcements from the clips now in `clips` (a stick installed some)."""
        with self._lock:
            self.clips, self._fresh = clips, True

    def start_up(self) -> None:
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        try:
            import pygame

            pygame.mixer.pre_init(RATE, -16, 1)
            pygame.mixer.init()
            self._pygame = pygame
        except Exception as exc:  # no sound device, no SDL: silent, not fatal
            log.error("audio: cannot start the mixer, announcements are silent: %s", exc)

    def handle(self, counter: int) -> None:
        with self._lock:
            if not self._waiting:
                return
            announcement = self._waiting.pop(next(iter(self._waiting)))   # the oldest
            self._behind = self._behind and len(self._waiting) > 0
            if self._fresh:
                self._sounds.clear()
                self._missing.clear()
                self._fresh = False
        self.post(Announcing(counter, announcement.label, self.clock()))   # (silent or not)
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
    """Announcements on a terminal: prints each one's words, said at once."""

    def __init__(self, out: TextIO, post: Callable[[Announcing], None] = lambda event: None,
                 clock: Callable[[], float] = time.time):
        self.out, self.post, self.clock = out, post, clock
        self.spoken: list[str] = []

    def announce(self, counter: int, announcement: Announcement) -> None:
        self.spoken.extend(announcement.text)
        self.post(Announcing(counter, announcement.label, self.clock()))
        print(f"[audio] {' / '.join(announcement.text)}", file=self.out)

    def withdraw(self, counter: int) -> None:
        pass

    def use_clips(self, clips: Path) -> None:
        pass

    def close(self) -> None:
        pass
