"""SSH failures sorted into what may be retried and what may not; the retry policy; key lines.

Used by `ssh.SshTransport`: connect errors are classified as transient (refused, reset, timeouts,
DNS), host key, authentication or negotiation failures; only transient ones are retried, with
exponential backoff (`RetryPolicy`, applied through tenacity).
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import asyncssh

from reconciler.errors import PermanentError
from reconciler.transport.base import HostKeyError

__all__ = ["ErrorKind", "NegotiationError", "RetryPolicy", "classify_connect_error"]


class NegotiationError(PermanentError):
    """The server and we share no protocol version or algorithm: retrying will not help."""

    def __init__(self, server: str, message: str, *, hint: str = "") -> None:
        super().__init__(f"{server}: {message}", hint=hint)
        self.server = server


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a transient connect failure is retried.

    `attempts` connection attempts in all; the waits between them are `initial`, then doubling,
    each at most `maximum` seconds (0.2, 0.4, 0.8 s with the defaults).
    """

    attempts: int = 4
    initial: float = 0.2
    maximum: float = 5.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.initial < 0 or self.maximum < 0:
            raise ValueError("RetryPolicy waits must not be negative")


ErrorKind = Literal["transient", "host_key", "auth", "negotiation"]


def classify_connect_error(exc: BaseException) -> tuple[ErrorKind, str]:
    """What kind of failure a connect attempt's exception is, and a short reason for people.

    `transient` failures may go away (network, timeouts, a dropped handshake); the others will not.
    """
    if isinstance(exc, asyncssh.HostKeyNotVerifiable):
        return "host_key", f"host key not verifiable: {exc.reason}"
    if isinstance(exc, asyncssh.PermissionDenied):
        return "auth", f"permission denied (publickey): {exc.reason}"
    if isinstance(exc, asyncssh.KeyImportError):
        return "auth", f"the client key cannot be loaded: {exc}"
    if isinstance(exc, asyncssh.ConnectionLost | asyncssh.MACError | asyncssh.ProtocolError):
        return "transient", f"connection lost during the handshake: {exc.reason}"
    if isinstance(exc, asyncssh.DisconnectError):
        # KeyExchangeFailed, ProtocolNotSupported, CompressionError, IllegalUserName, ...
        return "negotiation", f"the server disconnected: {exc.reason}"
    if isinstance(exc, TimeoutError):  # also asyncio.TimeoutError and socket.timeout
        return "transient", "timed out"
    if isinstance(exc, socket.gaierror):
        return "transient", f"cannot resolve the host name: {exc.strerror}"
    if isinstance(exc, ConnectionRefusedError):
        return "transient", "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "transient", "connection reset"
    if isinstance(exc, OSError):
        return "transient", exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, asyncssh.ChannelOpenError):
        return "transient", f"cannot open a session: {exc.reason}"
    return "transient", f"{type(exc).__name__}: {exc}"


class _Transient(Exception):
    """One connect attempt failed in a way worth retrying (internal to the retry loop)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _parse_host_keys(server: str, lines: Sequence[str]) -> list[asyncssh.SSHKey]:
    keys = []
    for line in lines:
        try:
            keys.append(asyncssh.import_public_key(line.strip()))
        except (asyncssh.KeyImportError, ValueError) as exc:
            raise HostKeyError(
                server,
                f"pinned host key {line[:40]!r}... is not a public key ({exc})",
                hint="hostKeys entries are lines like 'ssh-ed25519 AAAAC3Nza...' "
                "(ssh-keyscan -t ed25519 HOST prints them)",
            ) from None
    return keys


def _key_line(key: asyncssh.SSHKey) -> str:
    """`ssh-ed25519 AAAA...`: the key as a `hostKeys` entry (without a comment)."""
    parts = key.export_public_key("openssh").decode("ascii").split()
    return f"{parts[0]} {parts[1]}"
