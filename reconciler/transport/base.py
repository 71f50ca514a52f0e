"""The transport interface: the only way the reconciler touches the network or subprocesses.

Commands are argument lists, never strings: `quote_argv` turns them into one remote shell command
line in which every argument is single-quoted. A transport runs a command and returns its result,
or streams stdin/stdout for large data (dumps, tarballs). Errors are the project's own: transient
ones (connection refused or dropped, timeouts) may be retried, permanent ones (a host key that does
not match, authentication refused) may not. Every error names the server and the command.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from reconciler.errors import PermanentError, TransientError

__all__ = [
    "AuthenticationError",
    "CommandFailed",
    "CommandResult",
    "CommandTimeout",
    "ConnectError",
    "HostKeyError",
    "Process",
    "Transport",
    "TransportError",
    "quote_argv",
]


def quote_argv(argv: Sequence[str]) -> str:
    """One shell command line from an argument list; every argument quoted."""
    if not argv:
        raise ValueError("an empty command")
    return " ".join(shlex.quote(arg) for arg in argv)


@dataclass(frozen=True)
class CommandResult:
    server: str
    argv: tuple[str, ...]
    exit_status: int
    stdout: bytes
    stderr: bytes

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")


class TransportError(TransientError):
    """A command could not be run on a server (base of the transport's errors)."""

    def __init__(self, server: str, message: str, *, hint: str = "", command: str = "") -> None:
        where = f"{server}: {message}" + (f" (running {command})" if command else "")
        super().__init__(where, hint=hint)
        self.server = server
        self.command = command


class ConnectError(TransportError):
    """The server could not be reached (refused, unreachable, dropped): transient."""


class CommandTimeout(TransportError):
    """A command did not finish in time: transient."""


class HostKeyError(PermanentError):
    """The server's host key is unknown or changed: refused, never accepted silently."""

    def __init__(self, server: str, message: str, *, hint: str = "") -> None:
        super().__init__(f"{server}: {message}", hint=hint)
        self.server = server


class AuthenticationError(PermanentError):
    """The server refused our key."""

    def __init__(self, server: str, message: str, *, hint: str = "") -> None:
        super().__init__(f"{server}: {message}", hint=hint)
        self.server = server


class CommandFailed(PermanentError):
    """A command exited non-zero where success was required (`check=True`)."""

    def __init__(self, result: CommandResult) -> None:
        tail = result.err.strip().splitlines()[-5:]
        super().__init__(
            f"{result.server}: `{quote_argv(result.argv)}` exited {result.exit_status}"
            + (": " + " / ".join(tail) if tail else "")
        )
        self.result = result


class Process(Protocol):
    """A running command with streams, from `Transport.stream`."""

    async def write(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None: ...

    async def read(self, size: int = 65536) -> bytes:
        """Up to `size` bytes of stdout; b"" at its end."""
        ...

    async def wait(self, timeout: float | None = None) -> CommandResult:
        """The exit status and stderr (stdout as far as not read through `read`)."""
        ...

    async def abort(self) -> None:
        """Stop the command (kill it, close its session); idempotent."""
        ...


class Transport(Protocol):
    """One server: commands run there, one connection reused for all of them."""

    @property
    def server(self) -> str: ...

    async def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float | None = None,
        check: bool = False,
    ) -> CommandResult: ...

    async def stream(self, argv: Sequence[str]) -> Process: ...

    async def close(self) -> None: ...
