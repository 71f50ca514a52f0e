"""`LocalTransport`: commands on this host (`transport: local`, the embedded default).

The argument list is executed directly (no shell), so no quoting is involved at all. Each command
runs in its own session and process group, in the user's home directory (as over SSH, where commands
start in the login user's home); a timeout kills the whole group. An executable that cannot be found
or run gives exit status 127 or 126 with the reason on stderr, as a shell would, so that callers see
the same result from both transports.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from pathlib import Path

from reconciler.transport.base import CommandFailed, CommandResult, CommandTimeout, quote_argv

__all__ = ["LocalProcess", "LocalTransport"]

STDERR_KEEP = 1 << 20


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


class LocalTransport:
    """This host, through asyncio subprocesses."""

    def __init__(self, name: str = "local", *, cwd: str | Path | None = None) -> None:
        self._name = name
        self.cwd = Path(cwd) if cwd is not None else Path.home()
        self._streams: set[LocalProcess] = set()

    @property
    def server(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"LocalTransport({self._name!r})"

    async def _spawn(
        self, argv: Sequence[str], stdin: int
    ) -> asyncio.subprocess.Process | CommandResult:
        quote_argv(argv)  # the same refusal of an empty command as over SSH
        try:
            return await asyncio.create_subprocess_exec(
                *argv,
                stdin=stdin,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.cwd,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            status, reason = 127, "command not found" if exc.filename == argv[0] else str(exc)
        except PermissionError as exc:
            status, reason = 126, f"permission denied ({exc.strerror})"
        except OSError as exc:
            status, reason = 126, exc.strerror or str(exc)
        message = f"{argv[0]}: {reason}\n".encode()
        return CommandResult(self._name, tuple(argv), status, b"", message)

    async def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float | None = None,
        check: bool = False,
    ) -> CommandResult:
        proc = await self._spawn(argv, asyncio.subprocess.PIPE)
        if isinstance(proc, CommandResult):
            result = proc
        else:
            try:
                stdout, stderr = await asyncio.wait_for(proc.communicate(input or b""), timeout)
            except TimeoutError:
                _kill_group(proc)
                await proc.communicate()
                raise CommandTimeout(
                    self._name,
                    f"no exit after {timeout:g} s; its process group was killed",
                    command=quote_argv(argv),
                    hint="raise the timeout, or look for what hangs",
                ) from None
            except BaseException:  # cancelled: leave nothing running behind
                _kill_group(proc)
                await proc.wait()
                raise
            assert proc.returncode is not None
            result = CommandResult(self._name, tuple(argv), proc.returncode, stdout, stderr)
        if check and not result.ok:
            raise CommandFailed(result)
        return result

    async def stream(self, argv: Sequence[str]) -> LocalProcess:
        proc = await self._spawn(argv, asyncio.subprocess.PIPE)
        if isinstance(proc, CommandResult):
            return LocalProcess(self, argv, None, proc)
        process = LocalProcess(self, argv, proc, None)
        self._streams.add(process)
        return process

    async def close(self) -> None:
        """Kill any stream still running; there is no connection to close."""
        for process in list(self._streams):
            await process.abort()

    async def __aenter__(self) -> LocalTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class LocalProcess:
    """A streamed local command: the `Process` protocol."""

    def __init__(
        self,
        transport: LocalTransport,
        argv: Sequence[str],
        proc: asyncio.subprocess.Process | None,
        failed: CommandResult | None,
    ) -> None:
        self._transport = transport
        self._argv = tuple(argv)
        self._proc = proc
        self._failed = failed
        self._stderr = bytearray()
        self._stderr_task = asyncio.ensure_future(self._drain_stderr()) if proc else None

    async def _drain_stderr(self) -> None:
        assert self._proc is not None
        assert self._proc.stderr is not None
        while chunk := await self._proc.stderr.read(65536):
            self._stderr += chunk
            if len(self._stderr) > 2 * STDERR_KEEP:
                del self._stderr[:-STDERR_KEEP]

    async def write(self, data: bytes) -> None:
        if self._proc is None:
            raise BrokenPipeError(f"{self._argv[0]} did not start")
        assert self._proc.stdin is not None
        self._proc.stdin.write(data)
        await self._proc.stdin.drain()

    async def close_stdin(self) -> None:
        if self._proc is not None and self._proc.stdin is not None:
            stdin = self._proc.stdin
            if not stdin.is_closing():
                stdin.close()
            with contextlib.suppress(OSError):
                await stdin.wait_closed()

    async def read(self, size: int = 65536) -> bytes:
        if self._proc is None:
            return b""
        assert self._proc.stdout is not None
        return await self._proc.stdout.read(size)

    async def wait(self, timeout: float | None = None) -> CommandResult:
        if self._proc is None:
            assert self._failed is not None
            return self._failed
        proc = self._proc
        try:
            rest = await asyncio.wait_for(self._finish(proc), timeout)
        except TimeoutError:
            await self.abort()
            raise CommandTimeout(
                self._transport.server,
                f"no exit after {timeout:g} s; its process group was killed",
                command=quote_argv(self._argv),
            ) from None
        except BaseException:
            await self.abort()
            raise
        self._transport._streams.discard(self)
        assert proc.returncode is not None
        return CommandResult(
            self._transport.server,
            self._argv,
            proc.returncode,
            rest,
            bytes(self._stderr[-STDERR_KEEP:]),
        )

    async def _finish(self, proc: asyncio.subprocess.Process) -> bytes:
        await self.close_stdin()
        assert proc.stdout is not None
        assert self._stderr_task is not None
        rest = await proc.stdout.read()
        await self._stderr_task
        await proc.wait()
        return rest

    async def abort(self) -> None:
        """Kill the command's process group and reap it (idempotent)."""
        self._transport._streams.discard(self)
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            _kill_group(proc)
        with contextlib.suppress(OSError):
            await self.close_stdin()
        if self._stderr_task is not None:
            with contextlib.suppress(BaseException):
                await self._stderr_task
        assert proc.stdout is not None
        with contextlib.suppress(Exception):
            await proc.stdout.read()
        await proc.wait()

    async def __aenter__(self) -> LocalProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.abort()
