"""`SshProcess`: a command with streams over an SSH session, for large data both ways."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import asyncssh

from reconciler.transport.base import CommandResult, CommandTimeout

if TYPE_CHECKING:
    from reconciler.transport.ssh import SshTransport

__all__ = ["STDERR_KEEP", "SshProcess"]

STDERR_KEEP = 1 << 20
"""How much of a streamed command's stderr is kept (its tail): stderr is for messages."""


def _as_bytes(data: bytes | str | None) -> bytes:
    if data is None:
        return b""
    return data.encode() if isinstance(data, str) else data


async def _abort(proc: asyncssh.SSHClientProcess[bytes]) -> None:
    """Kill the remote command (a signal request; sshd delivers it) and close its session."""
    with contextlib.suppress(Exception):
        proc.send_signal("KILL")
    proc.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(proc.wait_closed(), 5)


class SshProcess:
    """A streamed remote command (`SshTransport.stream`): the `Process` protocol.

    stdout is read by the caller in chunks; stderr is drained in the background (its last
    `STDERR_KEEP` bytes kept) so that a chatty stderr never stalls the channel. `write` raises
    BrokenPipeError when the command no longer reads (as a local pipe does), ConnectError when
    the connection dropped. Use as
    `async with` (or call `abort()`) to be sure the session is closed on every path.
    """

    def __init__(
        self,
        transport: SshTransport,
        argv: Sequence[str],
        command: str,
        proc: asyncssh.SSHClientProcess[bytes],
    ) -> None:
        self._transport = transport
        self._argv = tuple(argv)
        self.command = command
        self._proc = proc
        self._stderr = bytearray()
        self._stderr_task = asyncio.ensure_future(self._drain_stderr())
        self._released = False

    async def _drain_stderr(self) -> None:
        while chunk := await self._proc.stderr.read(65536):
            self._stderr += chunk
            if len(self._stderr) > 2 * STDERR_KEEP:
                del self._stderr[:-STDERR_KEEP]

    async def write(self, data: bytes) -> None:
        try:
            self._proc.stdin.write(data)
            await self._proc.stdin.drain()
        except BrokenPipeError:
            # the channel forgets its connection once closed: ask the transport's own one
            conn = self._transport._conn
            if conn is None or conn.is_closed():
                raise self._transport._lost(self.command, ConnectionResetError()) from None
            raise  # the command stopped reading (exited): as with a local pipe
        except (asyncssh.Error, OSError) as exc:
            raise self._transport._lost(self.command, exc) from exc

    async def close_stdin(self) -> None:
        with contextlib.suppress(asyncssh.Error, OSError):
            self._proc.stdin.write_eof()

    async def read(self, size: int = 65536) -> bytes:
        try:
            return await self._proc.stdout.read(size)
        except (asyncssh.Error, OSError) as exc:
            raise self._transport._lost(self.command, exc) from exc

    async def wait(self, timeout: float | None = None) -> CommandResult:
        try:
            rest = await asyncio.wait_for(self._finish(), timeout)
        except TimeoutError:
            await self.abort()
            raise CommandTimeout(
                self._transport.server,
                f"no exit after {timeout:g} s; the session was killed and closed",
                command=self.command,
            ) from None
        except (asyncssh.Error, OSError) as exc:
            await self.abort()
            raise self._transport._lost(self.command, exc) from exc
        finally:
            self._release()
        return self._transport._result(
            self._argv, self.command, self._proc, rest, bytes(self._stderr[-STDERR_KEEP:])
        )

    async def _finish(self) -> bytes:
        with contextlib.suppress(asyncssh.Error, OSError):
            self._proc.stdin.write_eof()
        rest = await self._proc.stdout.read()
        await self._stderr_task
        await self._proc.wait_closed()
        return rest

    async def abort(self) -> None:
        """Kill the command and close its session (idempotent)."""
        if not self._released:
            await _abort(self._proc)
        self._stderr_task.cancel()
        with contextlib.suppress(BaseException):
            await self._stderr_task
        self._release()

    def _release(self) -> None:
        if not self._released:
            self._released = True
            self._transport._streams.discard(self)
            self._transport._sessions.release()
            self._proc.close()

    async def __aenter__(self) -> SshProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.abort()
