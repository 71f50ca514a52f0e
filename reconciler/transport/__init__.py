"""How the reconciler reaches servers: `transport_for` one server, `Transports` for all of them.

`base` is the interface (`Transport`, `Process`, `CommandResult`, the errors, `quote_argv`);
`ssh` and `local` implement it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.transport.base import (
    AuthenticationError,
    CommandFailed,
    CommandResult,
    CommandTimeout,
    ConnectError,
    HostKeyError,
    Process,
    Transport,
    TransportError,
    quote_argv,
)
from reconciler.transport.local import LocalProcess, LocalTransport
from reconciler.transport.ssh import (
    NegotiationError,
    RetryPolicy,
    SshProcess,
    SshTransport,
    classify_connect_error,
)

if TYPE_CHECKING:
    from reconciler.manifests.models import Server

__all__ = [
    "AuthenticationError",
    "CommandFailed",
    "CommandResult",
    "CommandTimeout",
    "ConnectError",
    "HostKeyError",
    "LocalProcess",
    "LocalTransport",
    "NegotiationError",
    "Process",
    "RetryPolicy",
    "SshProcess",
    "SshTransport",
    "Transport",
    "TransportError",
    "Transports",
    "classify_connect_error",
    "quote_argv",
    "transport_for",
]


def transport_for(
    server: Server,
    *,
    ssh_key: str | Path | None = None,
    known_hosts: str | Path | None = None,
) -> Transport:
    """The transport of one Server manifest; `ssh_key`/`known_hosts` are the global options."""
    if server.spec.transport == "local":
        return LocalTransport(server.name)
    return SshTransport.from_server(server, ssh_key=ssh_key, known_hosts=known_hosts)


class Transports:
    """One transport per server name, made on first use; `async with` closes them all.

    Connections are opened lazily by the transports themselves, so asking for a server's transport
    costs nothing until a command runs there.
    """

    def __init__(
        self,
        servers: dict[str, Server] | list[Server] | tuple[Server, ...] = (),
        *,
        ssh_key: str | Path | None = None,
        known_hosts: str | Path | None = None,
    ) -> None:
        self._servers = dict(servers) if isinstance(servers, dict) else {s.name: s for s in servers}
        self.ssh_key = ssh_key
        self.known_hosts = known_hosts
        self._transports: dict[str, Transport] = {}
        self._retired: list[Transport] = []  # replaced by add(); closed with the rest

    def add(self, server: Server) -> None:
        """Declare (or re-declare) a server; a changed declaration gets a new transport."""
        old = self._servers.get(server.name)
        self._servers[server.name] = server
        if old is not None and old != server and server.name in self._transports:
            self._retired.append(self._transports.pop(server.name))

    def get(self, name: str) -> Transport:
        """The transport of the server called `name` (KeyError when it is not declared)."""
        transport = self._transports.get(name)
        if transport is None:
            transport = transport_for(
                self._servers[name], ssh_key=self.ssh_key, known_hosts=self.known_hosts
            )
            self._transports[name] = transport
        return transport

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        return name in self._servers

    def __iter__(self) -> Iterator[str]:
        return iter(self._servers)

    def __len__(self) -> int:
        return len(self._servers)

    async def close(self) -> None:
        """Close every transport made so far (in parallel); errors while closing are ignored."""
        transports = [*self._transports.values(), *self._retired]
        self._transports.clear()
        self._retired.clear()
        await asyncio.gather(*(t.close() for t in transports), return_exceptions=True)

    async def __aenter__(self) -> Transports:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
