"""The playlist's texts on the wall LED display while it shows no call: each for its own
seconds, in turn, on the monotonic clock (a step of the wall clock does not cut one short)."""

from __future__ import annotations

from queue_core.playlist import Item


class WallNotices:
    """Example: notices = WallNotices(devices.display); once a second:
    notices.step(playlist.showing(db, config, now), time.monotonic())"""

    def __init__(self, display):
        self.display = display
        self.current: Item | None = None
        self.until = 0.0

    def step(self, items: list[Item], monotonic: float) -> None:
        texts = [item for item in items if item.kind == "text"]
        if not texts:
            self.current = None
            self.display.idle(None)
            return
        if self.current in texts and monotonic < self.until:
            return
        at = texts.index(self.current) if self.current in texts else -1
        self.current = texts[(at + 1) % len(texts)]
        self.until = monotonic + self.current.seconds
        self.display.idle(self.current.text)
