"""Announcements: played from clips through pygame.mixer, or printed on a terminal.

The player runs on its own thread: announcements queue and never overlap, and the loop never
waits for one. A missing clip is skipped (and reported once); a mixer that cannot start leaves
the hall silent but running.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from pathlib import Path
from typing import TextIO

from media.speech import Announcement

log = logging.getLogger(__name__)

RATE = 22050


class Announcer:
    """Speaks announcements from WAV clips in `clips` (see media.speech for the names).

    Example: Announcer(Path("/data/clips"), 0.8).announce(call_announcement("A012", 3, ("zh",)))
    `played` records (clip names, start, end) of each announcement, in perf_counter seconds.
    """

    def __init__(self, clips: Path, volume: float):
        self.clips, self.volume = clips, volume
        self.played: list[tuple[tuple[str, ...], float, float]] = []
        self._queue: queue.Queue[Announcement | None] = queue.Queue()
        self._sounds: dict[str, object] = {}
        self._missing: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="audio", daemon=True)
        self._thread.start()

    def announce(self, announcement: Announcement) -> None:
        self._queue.put(announcement)

    def wait_idle(self) -> None:
        self._queue.join()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        try:
            import pygame

            pygame.mixer.pre_init(RATE, -16, 1)
            pygame.mixer.init()
        except Exception as exc:  # no sound device, no SDL: silent, not fatal
            log.error("audio: cannot start the mixer, announcements are silent: %s", exc)
            pygame = None
        while True:
            announcement = self._queue.get()
            try:
                if announcement is None:
                    return
                if pygame is not None:
                    self._play(pygame, announcement)
            except Exception:
                log.exception("audio: announcement %s", announcement.text)
            finally:
                self._queue.task_done()

    def _play(self, pygame, announcement: Announcement) -> None:
        parts = [s for s in (self._sound(pygame, name) for name in announcement.clips) if s]
        if not parts:
            return
        sound = pygame.mixer.Sound(buffer=b"".join(part.get_raw() for part in parts))
        sound.set_volume(self.volume)
        start = time.perf_counter()
        channel = sound.play()
        while channel is not None and channel.get_busy():
            time.sleep(0.01)
        self.played.append((announcement.clips, start, time.perf_counter()))

    def _sound(self, pygame, name: str):
        if name not in self._sounds and name not in self._missing:
            try:
                self._sounds[name] = pygame.mixer.Sound(str(self.clips / f"{name}.wav"))
            except (pygame.error, FileNotFoundError) as exc:
                log.error("audio: clip %s missing: %s", name, exc)
                self._missing.add(name)
        return self._sounds.get(name)


class SimAudio:
    """Announcements on a terminal: prints each one's words."""

    def __init__(self, out: TextIO):
        self.out = out
        self.spoken: list[str] = []

    def announce(self, announcement: Announcement) -> None:
        self.spoken.extend(announcement.text)
        print(f"[audio] {' / '.join(announcement.text)}", file=self.out)

    def wait_idle(self) -> None:
        pass

    def close(self) -> None:
        pass
