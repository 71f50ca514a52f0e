"""`SshTransport`: commands on a server over one multiplexed asyncssh connection.

One connection per server, opened on first use (under a lock, so concurrent first commands share
it) and reused for every command: each command is a session channel on it. A dropped connection is
noticed (keepalives, or the session that fails to open) and reopened for the next command; a command
already running when the connection drops fails with `ConnectError` and is never re-run here.

Trust, strictly:

* identity: the `--ssh-key` file when given (and nothing else), otherwise asyncssh's defaults
  (the keys in ~/.ssh and the agent). Public-key authentication only: no password, no
  keyboard-interactive, no GSSAPI, no host-based.
* host keys: the manifest's pinned `hostKeys` when there are any (exactly those, for this host and
  port); otherwise the `--known-hosts` file, otherwise ~/.ssh/known_hosts (and
  /etc/ssh/ssh_known_hosts when present). A missing file trusts nothing. An unknown or changed key
  is refused with `HostKeyError`, whose message has the fingerprint of the key the server presented
  (fetched by a separate key-exchange-only probe that authenticates nothing and runs nothing) and
  whose hint is the exact line to pin it with. ~/.ssh/config is not read: the manifest says where
  to go.

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
    HostKeyError,
    quote_argv,
)
from reconciler.transport.ssh_errors import (
    NegotiationError,
    RetryPolicy,
    _key_line,
    _parse_host_keys,
    _Transient,
    classify_connect_error,
)
from reconciler.transport.ssh_process import SshProcess, _abort, _as_bytes

if TYPE_CHECKING:
    from reconciler.manifests.models import Server

__all__ = [
    "NegotiationError",
    "RetryPolicy",
    "SshProcess",
    "SshTransport",
    "classify_connect_error",
]

_GLOBAL_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")


class SshTransport:
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

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

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

    def _trusted_hosts(self) -> asyncssh.SSHKnownHosts | list[str] | bytes:
        if self._pinned:
            pattern = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
            lines = "".join(f"{pattern} {_key_line(key)}\n" for key in self._pinned)
            return asyncssh.import_known_hosts(lines)
        files = self._known_hosts_files()
        return [str(f) for f in files] if files else b""

    def _known_hosts_files(self) -> list[Path]:
        if self.known_hosts is not None:
            return [self.known_hosts] if self.known_hosts.is_file() else []
        files = [Path("~/.ssh/known_hosts").expanduser(), _GLOBAL_KNOWN_HOSTS]
        return [f for f in files if f.is_file()]

    def _connect_options(self) -> dict[str, object]:
        if self.client_key is not None:
            # Read the key here so that a missing or unreadable file is a permanent error.
            try:
                key = asyncssh.read_private_key(self.client_key)
            except (OSError, asyncssh.KeyImportError) as exc:
                raise AuthenticationError(
                    self._name,
                    f"the SSH key {self.client_key} cannot be used: {exc}",
                    hint="pass --ssh-key with a readable private key without a passphrase "
                    "(or leave it out to use ~/.ssh and the agent)",
                ) from None
            keys: dict[str, object] = {"client_keys": [key], "agent_path": None}
        else:
            keys = {}  # asyncssh's defaults: ~/.ssh/id_* and the agent (SSH_AUTH_SOCK)
        return {
            **keys,
            "username": self.user,
            "known_hosts": self._trusted_hosts(),
            "config": [],  # not ~/.ssh/config: the manifest says where to go
            "password_auth": False,
            "kbdint_auth": False,
            "gss_auth": False,
            "host_based_auth": False,
            "preferred_auth": "publickey",
            "connect_timeout": self.connect_timeout,
            "keepalive_interval": self.keepalive_interval,
            "keepalive_count_max": self.keepalive_count_max,
        }

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

    def _auth_hint(self) -> str:
        key = (
            f"the key {self.client_key} (--ssh-key)"
            if self.client_key
            else "your ~/.ssh keys or the agent's"
        )
        return (
            f"add the public half of {key} to ~{self.user}/.ssh/authorized_keys on the server, "
            "or pass --ssh-key with the right key; passwords are never used"
        )

    async def _presented_key(self) -> asyncssh.SSHKey | None:
        """The host key the server presents: key exchange only, nothing authenticated or run."""
        algs = sorted({key.get_algorithm() for key in self._pinned}) if self._pinned else ()
        try:
            return await asyncio.wait_for(
                asyncssh.get_server_host_key(
                    self.host, self.port, server_host_key_algs=algs, config=[]
                ),
                self.connect_timeout,
            )
        except (asyncssh.Error, OSError, TimeoutError):
            return None

    async def _host_key_error(self) -> HostKeyError:
        key = await self._presented_key()
        pattern = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        if self._pinned:
            trust = "does not match the manifest's pinned hostKeys"
            pinned = ", ".join(key.get_fingerprint("sha256") for key in self._pinned)
            trust += f" ({pinned})"
        else:
            files = self._known_hosts_files()
            if not files:
                where = str(self.known_hosts or "~/.ssh/known_hosts")
                trust = f"is unknown: {where} does not exist, so no host key is trusted"
            else:
                known = asyncssh.read_known_hosts([str(f) for f in files])
                listed = known.match(self.host, self.host, self.port)[0]
                names = ", ".join(str(f) for f in files)
                trust = (
                    f"has CHANGED: {names} lists another key for it (possibly an attack)"
                    if listed
                    else f"is unknown: not in {names}"
                )
        if key is None:
            return HostKeyError(
                self._name,
                f"the host key of {self.address} {trust}; a second look at the key failed",
                hint="check the key on the server "
                "(ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) "
                "and pin it in the Server manifest's hostKeys",
            )
        line = _key_line(key)
        known_file = str(self.known_hosts or "~/.ssh/known_hosts")
        return HostKeyError(
            self._name,
            f"the host key of {self.address} {trust}; the server presented "
            f"{key.get_algorithm()} {key.get_fingerprint('sha256')}. Nothing was run.",
            hint="if that is the server's real key (compare with `ssh-keygen -lf "
            "/etc/ssh/ssh_host_ed25519_key.pub` on its console), pin it in the Server manifest: "
            f'`hostKeys: ["{line}"]`, or add this line to {known_file}: `{pattern} {line}`',
        )
