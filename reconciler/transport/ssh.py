"""`SshTransport`: commands on a server over one multiplexed asyncssh connection.

One connection per server, opened on first use (under a lock, so concurrent first commands share
it) and reused for every command: each command is a session channel on it. A dropped connection is
noticed (keepalives, or the session that fails to open) and reopened for the next command; a command
already running when the connection drops fails with `ConnectError` and is never re-run here.

What it trusts (the `--ssh-key` identity or asyncssh's defaults, public keys only; pinned
`hostKeys`, else the known hosts files) and the `HostKeyError` for an unknown or changed host key
are `ssh_trust.SshTrust`, a base of `SshTransport`.

Transient connect failures (refused, reset, unreachable, DNS, timeouts, dropped handshakes) are
retried with exponential backoff (`RetryPolicy`) before `ConnectError`; refused keys and host keys
never are.

The remote side parses the command line with the login user's shell; `quote_argv` single-quotes
every argument for a POSIX shell (sh, bash, dash, zsh), which a csh or fish login shell would not
understand.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import asyncssh
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from reconciler.transport.base import (
    AuthenticationError,
    CommandFailed,
    CommandResult,
    CommandTimeout,
    ConnectError,
    quote_argv,
)
from reconciler.transport.ssh_errors import (
    NegotiationError,
    RetryPolicy,
    _parse_host_keys,
    _Transient,
    classify_connect_error,
)
from reconciler.transport.ssh_process import SshProcess, _abort, _as_bytes
from reconciler.transport.ssh_trust import SshTrust

if TYPE_CHECKING:
    from reconciler.manifests.models import Server

__all__ = [
    "NegotiationError",
    "RetryPolicy",
    "SshProcess",
    "SshTransport",
    "classify_connect_error",
]


class SshTransport(SshTrust):
    """One server over SSH: see the module documentation."""

    def __init__(
        self,
        name: str,
        host: str,
        port: int = 22,
        user: str = "aegir",
        *,
        host_keys: Sequence[str] = (),
        known_hosts: str | Path | None = None,
        client_key: str | Path | None = None,
        connect_timeout: float = 10.0,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 (frozen: sharing it is harmless)
        max_sessions: int = 10,
        keepalive_interval: float = 15.0,
        keepalive_count_max: int = 3,
    ) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self._name = name
        self.host = host
        self.port = port
        self.user = user
        self._pinned = _parse_host_keys(name, host_keys)
        self.known_hosts = Path(known_hosts).expanduser() if known_hosts is not None else None
        self.client_key = Path(client_key).expanduser() if client_key is not None else None
        self.connect_timeout = connect_timeout
        self.retry = retry
        self.max_sessions = max_sessions
        self.keepalive_interval = keepalive_interval
        self.keepalive_count_max = keepalive_count_max
        self._conn: asyncssh.SSHClientConnection | None = None
        self._lock = asyncio.Lock()
        self._sessions = asyncio.Semaphore(max_sessions)
        self._streams: set[SshProcess] = set()
        self.connect_attempts = 0
        """Connection attempts made so far (the host key probes not counted)."""
        self.connections_opened = 0
        """Connections successfully opened so far (1 while nothing dropped)."""

    @classmethod
    def from_server(
        cls,
        server: Server,
        *,
        ssh_key: str | Path | None = None,
        known_hosts: str | Path | None = None,
        **options: object,
    ) -> SshTransport:
        """The transport of a `transport: ssh` Server manifest, with the global SSH options."""
        spec = server.spec
        if spec.transport != "ssh" or spec.host is None:
            raise ValueError(f"server {server.name} is not an ssh server")
        return cls(
            server.name,
            spec.host,
            spec.port,
            spec.user,
            host_keys=spec.host_keys,
            known_hosts=known_hosts,
            client_key=ssh_key,
            **options,  # type: ignore[arg-type]
        )

    # ------------------------------------------------------------------ the interface

    @property
    def server(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"SshTransport({self._name!r}, {self.address!r})"

    async def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float | None = None,
        check: bool = False,
    ) -> CommandResult:
        command = quote_argv(argv)
        async with self._sessions:
            proc = await self._open_process(command)
            try:
                # stdin gets the input (if any) and then its end, always: asyncssh's
                # communicate() sends no EOF without input, and `cat` would wait forever
                if input:
                    proc.stdin.write(input)
                proc.stdin.write_eof()
                stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout)
            except TimeoutError:
                await _abort(proc)
                raise CommandTimeout(
                    self._name,
                    f"no exit after {timeout:g} s; the session was killed and closed",
                    command=command,
                    hint="raise the timeout, or look on the server for what hangs",
                ) from None
            except (asyncssh.Error, OSError) as exc:
                await _abort(proc)
                raise self._lost(command, exc) from exc
            finally:
                if proc.returncode is None:  # cancelled (or failed): leave nothing running
                    with contextlib.suppress(Exception):
                        proc.send_signal("KILL")
                proc.close()
            result = self._result(argv, command, proc, _as_bytes(stdout), _as_bytes(stderr))
        if check and not result.ok:
            raise CommandFailed(result)
        return result

    async def stream(self, argv: Sequence[str]) -> SshProcess:
        command = quote_argv(argv)
        await self._sessions.acquire()
        try:
            proc = await self._open_process(command)
        except BaseException:
            self._sessions.release()
            raise
        process = SshProcess(self, argv, command, proc)
        self._streams.add(process)
        return process

    async def close(self) -> None:
        """Close the connection (and any stream still open); the next command opens a new one."""
        async with self._lock:
            for process in list(self._streams):
                await process.abort()
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()
                with contextlib.suppress(Exception):
                    await conn.wait_closed()

    async def __aenter__(self) -> SshTransport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ sessions

    async def _open_process(self, command: str) -> asyncssh.SSHClientProcess[bytes]:
        """A session running `command`: on the open connection, or on a new one if it dropped."""
        for attempt in (1, 2):
            conn = await self._connection()
            try:
                return await conn.create_process(command, encoding=None)
            except (asyncssh.Error, OSError) as exc:
                # The command never started: when the connection turns out to be dead, open a new
                # one and try once more; otherwise (the server refused the session) give up.
                if attempt == 2 or not conn.is_closed():
                    raise self._lost(command, exc, started=False) from exc
        raise AssertionError("unreachable")

    def _lost(self, command: str, exc: BaseException, *, started: bool = True) -> ConnectError:
        _, reason = classify_connect_error(exc)
        what = "the connection dropped while the command ran" if started else "no session"
        return ConnectError(
            self._name,
            f"{what} ({self.address}): {reason}",
            command=command,
            hint="the command may or may not have run; retry once the server is reachable"
            if started
            else "retry once the server is reachable",
        )

    def _result(
        self,
        argv: Sequence[str],
        command: str,
        proc: asyncssh.SSHClientProcess[bytes],
        stdout: bytes,
        stderr: bytes,
    ) -> CommandResult:
        status = proc.returncode  # negative: killed by that signal
        if status is None:
            raise ConnectError(
                self._name,
                f"the session ended without an exit status ({self.address})",
                command=command,
                hint="the connection probably dropped; the command may or may not have run",
            )
        return CommandResult(self._name, tuple(argv), status, stdout, stderr)

    # ------------------------------------------------------------------ the connection

    async def connection(self) -> asyncssh.SSHClientConnection:
        """The open connection (opened now if needed): for tests and diagnostics."""
        return await self._connection()

    async def _connection(self) -> asyncssh.SSHClientConnection:
        conn = self._conn
        if conn is not None and not conn.is_closed():
            return conn
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return self._conn
            if self._conn is not None:  # dropped: forget it, open a new one
                old, self._conn = self._conn, None
                old.close()
                with contextlib.suppress(Exception):
                    await old.wait_closed()
            self._conn = await self._connect()
            self.connections_opened += 1
            return self._conn

    async def _connect(self) -> asyncssh.SSHClientConnection:
        """Connect with retries: a connection, or ConnectError / a permanent error."""
        policy = self.retry
        started = time.monotonic()
        reasons: list[str] = []

        def _note(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Transient):
                reasons.append(exc.reason)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.attempts),
            wait=wait_exponential(multiplier=policy.initial, max=policy.maximum),
            retry=retry_if_exception_type(_Transient),
            after=_note,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._connect_once()
        except _Transient as exc:
            if not reasons or reasons[-1] != exc.reason:
                reasons.append(exc.reason)
            tried = ", ".join(dict.fromkeys(reasons))
            raise ConnectError(
                self._name,
                f"cannot connect to {self.address}: {exc.reason} "
                f"({policy.attempts} attempt{'s' if policy.attempts != 1 else ''} in "
                f"{time.monotonic() - started:.1f} s, connect timeout {self.connect_timeout:g} s; "
                f"seen: {tried})",
                hint="check that the server is up, that sshd listens on that port and that "
                "no firewall is in the way",
            ) from None
        raise AssertionError("unreachable")

    async def _connect_once(self) -> asyncssh.SSHClientConnection:
        options = self._connect_options()
        self.connect_attempts += 1
        try:
            # connect_timeout bounds it all: name resolution, TCP, key exchange, authentication
            return await asyncssh.connect(self.host, self.port, **options)
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            kind, reason = classify_connect_error(exc)
            if kind == "host_key":
                raise await self._host_key_error() from None
            if kind == "auth":
                raise AuthenticationError(
                    self._name,
                    f"{self.address} refused our key: {reason}",
                    hint=self._auth_hint(),
                ) from None
            if kind == "negotiation":
                raise NegotiationError(
                    self._name,
                    f"no agreement with {self.address}: {reason}",
                    hint="the server's sshd may be too old or restricted to algorithms "
                    "this client does not offer",
                ) from None
            raise _Transient(reason) from None
