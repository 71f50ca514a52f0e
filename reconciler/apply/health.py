"""Health of every declared site that is on its server, as CONTRACT.md defines it: `/` with the
site's Host header, requested on its web server through the transport, answers 200 (or 301), and
drush says `bootstrap: Successful`; a disabled site must answer 503 instead.

Checks run in parallel, at most the server's `concurrency` at once per server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reconciler.actions.web import SETTLE_SECONDS, health_step
from reconciler.apply.contexts import all_facts, seen_site_context
from reconciler.apply.runner import run_step
from reconciler.manifests.manifestset import ManifestSet
from reconciler.observe.models import ObservedServer
from reconciler.transport.base import Transport

__all__ = ["Health", "check_health"]


@dataclass(frozen=True)
class Health:
    state: str
    """`Healthy` or `Degraded` (the reason says what failed)."""
    reason: str = ""


async def check_health(
    manifests: ManifestSet,
    observed: Sequence[ObservedServer],
    transports: Mapping[str, Transport],
    *,
    settle: float = SETTLE_SECONDS,
) -> dict[str, Health]:
    """The health of each declared site found on a reachable server, by site name. `settle`:
    how long a check waits for the wanted answers (`health_step`); 0 for a report of how
    things are now (`reconciler status`), which then never waits on a failing site."""
    facts = all_facts(manifests, list(observed))
    limits = {
        name: asyncio.Semaphore(server.spec.concurrency)
        for name, server in manifests.servers.items()
    }
    jobs: dict[str, asyncio.Task[Health]] = {}

    async def one(server: ObservedServer, name: str) -> Health:
        found = server.site(name)
        assert found is not None
        codebase, seen = found
        ctx = seen_site_context(manifests, facts, server.name, codebase, name, seen)
        site = manifests.sites[name]
        step = health_step(ctx, disabled=site.spec.state == "disabled", settle=settle)
        transport = transports.get(server.name)
        if transport is None:
            return Health("Degraded", f"no transport to {server.name}")
        async with limits.get(server.name) or asyncio.Semaphore(1):
            result, _ = await run_step(step, {"web": transport})
        if result.status == "failed":
            return Health("Degraded", result.error or "the health check failed")
        return Health("Healthy")

    for server in observed:
        if not server.reachable or server.name not in manifests.servers:
            continue
        for codebase in server.platforms:
            for seen in codebase.sites:
                site = manifests.sites.get(seen.name)
                if site is None or site.spec.state == "absent" or seen.name in jobs:
                    continue
                jobs[seen.name] = asyncio.create_task(one(server, seen.name))
    return {name: await job for name, job in jobs.items()}
