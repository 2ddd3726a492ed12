"""A device's own thread: it takes jobs one at a time, in order, so the loop never waits."""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

log = logging.getLogger(__name__)


class Worker:
    """Runs `start_up()` once, then `handle(job)` for each submitted job, and `idle()` after
    every `idle_interval` seconds without one. An exception in a job is logged, not fatal."""

    def __init__(self, name: str, idle_interval: float | None = None):
        self.idle_interval = idle_interval
        self._jobs: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Any) -> None:
        self._jobs.put(job)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Whether every submitted job has been handled, waiting up to `timeout` seconds."""
        done = self._jobs.all_tasks_done
        with done:
            return done.wait_for(lambda: not self._jobs.unfinished_tasks, timeout)

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=5)   # a device hung in a job is left to the exit

    def start_up(self) -> None:
        pass

    def handle(self, job: Any) -> None:
        raise NotImplementedError

    def idle(self) -> None:
        pass

    def _run(self) -> None:
        try:
            self.start_up()
        except Exception:   # the jobs still come, and each reports its own failure
            log.exception("%s: start-up failed", self._thread.name)
        while True:
            try:
                job = self._jobs.get(timeout=self.idle_interval)
            except queue.Empty:
                self.idle()
                continue
            try:
                if job is None:
                    return
                self.handle(job)
            except Exception:
                log.exception("%s: job %r failed", self._thread.name, job)
            finally:
                self._jobs.task_done()
