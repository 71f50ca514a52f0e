"""Observe every declared server at once: one probe per server, one query per database server.

The only I/O of the observe layer. Servers are observed in parallel; one that cannot be reached
is reported with the reason while the others are still observed. Cost grows with servers, not
with sites.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping

from reconciler.drivers.mysql import LISTING_SQL, client_argv, parse_listing
from reconciler.errors import ReconcilerError
from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.models import Server
from reconciler.observe.models import ObservedDbServer, ObservedServer
from reconciler.observe.probe import ProbeRequest, parse_probe, probe_command
from reconciler.transport.base import Transport

__all__ = ["PROBE_TIMEOUT", "observe_all", "observe_server", "probe_request"]

PROBE_TIMEOUT = 300.0


def probe_request(manifests: ManifestSet, server: Server) -> ProbeRequest:
    spec = server.spec
    declared = {
        platform.name: (manifests.platform_path(platform), platform.spec.docroot)
        for platform in manifests.platforms.values()
        if platform.spec.server == server.name
    }
    http = spec.services.http
    vhost_dir = http.vhost_dir if http is not None and http.type != "none" else ""
    return ProbeRequest(
        platforms_root=spec.paths.platforms,
        backups_root=spec.paths.backups,
        vhost_dir=vhost_dir,
        declared=declared,
    )


async def _list_databases(transport: Transport, server: Server) -> ObservedDbServer | None:
    db = server.spec.services.db
    if db is None or db.type == "sqlite":
        return None
    try:
        result = await transport.run(
            client_argv(db.admin_defaults_file, LISTING_SQL), timeout=PROBE_TIMEOUT
        )
    except ReconcilerError as exc:
        return ObservedDbServer(error=str(exc))
    if not result.ok:
        detail = result.err.strip().splitlines()[-1:] or [f"exit {result.exit_status}"]
        return ObservedDbServer(error=f"database listing failed: {detail[0]}")
    return parse_listing(result.out)


async def observe_server(
    transport: Transport, server: Server, request: ProbeRequest
) -> ObservedServer:
    """Probe one server (and list its databases); never raises for the server's own faults."""
    argv, script = probe_command(request)
    listing = asyncio.ensure_future(_list_databases(transport, server))
    try:
        result = await transport.run(argv, input=script, timeout=PROBE_TIMEOUT)
    except ReconcilerError as exc:
        listing.cancel()
        await asyncio.gather(listing, return_exceptions=True)
        return ObservedServer(name=server.name, reachable=False, error=str(exc))
    observed = parse_probe(server.name, request, result.stdout)
    if not result.ok and observed.error is None:
        observed = dataclasses.replace(
            observed, error=f"the probe exited {result.exit_status}: {result.err.strip()[-300:]}"
        )
    database_server = await listing
    if database_server is not None:
        observed = dataclasses.replace(observed, database_server=database_server)
    return observed


async def observe_all(
    manifests: ManifestSet, transports: Mapping[str, Transport]
) -> list[ObservedServer]:
    """Every declared server, observed in parallel, in the manifests' order of names."""
    names = sorted(manifests.servers)
    results = await asyncio.gather(
        *(
            observe_server(
                transports[name],
                manifests.servers[name],
                probe_request(manifests, manifests.servers[name]),
            )
            for name in names
        )
    )
    return list(results)
