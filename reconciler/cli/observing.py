"""What `observe`, `status` (and later `plan`) share: read the manifests, observe their servers."""

from __future__ import annotations

import asyncio

from reconciler.cli.options import GlobalOptions
from reconciler.manifests.loader import load_manifests
from reconciler.manifests.manifestset import ManifestSet
from reconciler.observe.gather import observe_all
from reconciler.observe.models import ObservedServer
from reconciler.transport import Transports

__all__ = ["load_and_observe"]


async def _observe(opts: GlobalOptions, manifests: ManifestSet) -> list[ObservedServer]:
    async with Transports(
        dict(manifests.servers), ssh_key=opts.ssh_key, known_hosts=opts.known_hosts
    ) as transports:
        return await observe_all(manifests, {name: transports[name] for name in transports})


def load_and_observe(opts: GlobalOptions) -> tuple[ManifestSet, list[ObservedServer]]:
    """The valid manifest set at the revision asked for, and every declared server observed."""
    manifests = load_manifests(opts.source()).require()
    return manifests, asyncio.run(_observe(opts, manifests))
