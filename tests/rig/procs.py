"""Daemons by pidfile, port waits and the rig's cross-session locks.

Owns no fixture; :mod:`rig.hosts` and :mod:`rig.web` use it. A daemon is
"ours" only when the PID in its pidfile is alive and ``/proc/PID/cmdline``
names the config file we gave it; only such PIDs are ever signalled (never
pkill/killall).

Several pytest sessions may share the rig (the base dir is a constant):
each session holds a shared lock on ``BASE/.users.lock`` while it runs, and
the daemons are stopped only by the last session to leave.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO


def daemon_pid(pidfile: Path, config: Path) -> int | None:
    """The live PID from *pidfile* if its command line names *config*."""
    try:
        text = pidfile.read_text().strip()
    except OSError:
        return None
    if not text.isdigit():
        return None
    pid = int(text)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    if str(config).encode() not in cmdline:
        return None
    return pid


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for(what: str, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``predicate()`` every 20 ms until true, else raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"rig: timed out waiting for {what}")
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie still answers kill(0); look at its state
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_daemon(pidfile: Path, config: Path, sig: int = signal.SIGTERM) -> None:
    """Signal our daemon (if running) and wait until it is gone."""
    pid = daemon_pid(pidfile, config)
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    try:
        wait_for(f"pid {pid} to exit", lambda: not alive(pid), timeout=10)
    except TimeoutError:
        if daemon_pid(pidfile, config) == pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        pidfile.unlink()


def children(pid: int) -> set[int]:
    """PIDs whose parent is *pid* (e.g. nginx workers of a master)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.add(int(entry.name))
    return found


@contextlib.contextmanager
def flocked(path: Path, mode: int) -> Iterator[IO[bytes]]:
    """Hold ``flock(mode)`` on *path* for the duration of the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as fh:
        fcntl.flock(fh.fileno(), mode)
        try:
            yield fh
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class SessionLease:
    """This session's share of the rig; the last session out stops it.

    ``start.lock`` (exclusive) serialises starting and stopping;
    ``users.lock`` is held shared by every session using the rig.
    """

    def __init__(self, base: Path) -> None:
        self._start = base / ".start.lock"
        self._users = base / ".users.lock"
        self._users_fh: IO[bytes] | None = None
        self._start_fh: IO[bytes] | None = None

    @contextlib.contextmanager
    def starting(self) -> Iterator[None]:
        """Enter the rig: exclusive start lock, then a shared users lock."""
        with flocked(self._start, fcntl.LOCK_EX):
            fh = self._users.open("ab")
            fcntl.flock(fh.fileno(), fcntl.LOCK_SH)
            self._users_fh = fh
            yield

    def leave(self) -> bool:
        """Drop our share; True when no other session uses the rig.

        When True, the caller must stop the daemons before calling
        :meth:`done` (the start lock is still held until then).
        """
        assert self._users_fh is not None
        start_fh = self._start_fh = self._start.open("ab")
        fcntl.flock(start_fh.fileno(), fcntl.LOCK_EX)
        fh = self._users_fh
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def done(self) -> None:
        if self._users_fh is not None:
            fcntl.flock(self._users_fh.fileno(), fcntl.LOCK_UN)
            self._users_fh.close()
            self._users_fh = None
        if self._start_fh is not None:
            fcntl.flock(self._start_fh.fileno(), fcntl.LOCK_UN)
            self._start_fh.close()
            self._start_fh = None
