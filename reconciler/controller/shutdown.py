"""Graceful stop: once asked to stop, no new step starts; running steps finish.

`StopGate.before_step` is the apply engine's hook, awaited before each step. After `stop()`, it
never returns: the action waits there, between two steps, its journal rows as they are (the
action `running`, its finished steps `done`, the next one not started). `wait_quiet` returns
once every action that started is either finished or waiting there; the controller then cancels
them. The journal then reads exactly as after a SIGKILL between two steps, so the next start
resumes those actions the same way (their steps' checks skip what was done): one path for both,
and nothing undone that the next start would only have to do again.

Scheduled jobs (cron, backups) are one step each: they `enter()` before starting, which is
refused once stopping, and count as running until they `leave()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

__all__ = ["StopGate", "install_signal_handlers"]


class StopGate:
    """Counts running work and holds new steps once stopping."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self._running = 0
        self._waiting = 0
        self._changed = asyncio.Event()

    @property
    def running(self) -> int:
        """Actions and jobs started and not finished (waiting ones included)."""
        return self._running

    @property
    def waiting(self) -> int:
        """Actions held before their next step."""
        return self._waiting

    def stop(self) -> None:
        self.stopping.set()
        self._changed.set()

    def enter(self) -> bool:
        """An action or job starts; False (and nothing counted) once stopping."""
        if self.stopping.is_set():
            return False
        self._running += 1
        return True

    def enter_anyway(self) -> None:
        """An action the apply engine started (it reaches `before_step` before any step)."""
        self._running += 1

    def leave(self) -> None:
        self._running -= 1
        self._changed.set()

    async def before_step(self, index: int, step: object) -> None:
        """The apply engine's hook: returns at once, or never once stopping (until cancelled)."""
        if not self.stopping.is_set():
            return
        self._waiting += 1
        self._changed.set()
        try:
            await asyncio.Future()  # until the controller cancels the action
        finally:
            self._waiting -= 1

    async def wait_quiet(self, timeout: float) -> bool:
        """Wait until nothing runs a step (all finished or waiting); False after `timeout`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._running > self._waiting:
            self._changed.clear()
            left = deadline - loop.time()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return True


def install_signal_handlers(stop: Callable[[], None]) -> Callable[[], None]:
    """Call `stop` on SIGTERM and SIGINT; returns what removes the handlers."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)

    def remove() -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)

    return remove
