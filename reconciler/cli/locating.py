"""What the per-site commands share (`backup`, `backups`, `restore`, `login`): finding a site
where observe saw it, its context there, the listing of its backups on every declared server,
and the error messages for both.

A site is looked for on its declared platform's server first, then on any server that holds it
(an undeclared site, or one whose move is under way). Backups are listed on every declared
server: a deleted or moved site's backups stay where they were (CONTRACT.md section 2).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import click

from reconciler.actions.context import (
    ServerFacts,
    SiteContext,
)
from reconciler.apply.contexts import all_facts, seen_site_context
from reconciler.cli.options import GlobalOptions
from reconciler.drivers.backup import BackupEntry, list_script, parse_listing
from reconciler.errors import ReconcilerError
from reconciler.manifests.manifestset import ManifestSet
from reconciler.observe.models import ObservedPlatform, ObservedServer, ObservedSite
from reconciler.transport import Transport, Transports

__all__ = [
    "LIST_TIMEOUT",
    "Listed",
    "Located",
    "check_site_name",
    "context_at",
    "facts_of",
    "fail",
    "list_everywhere",
    "list_on",
    "locate",
    "not_found",
    "open_transports",
]

LIST_TIMEOUT = 600.0
Located = tuple[ObservedServer, ObservedPlatform, ObservedSite]


@dataclass(frozen=True)
class Listed:
    """The backups of one site on one declared server (`entries` None: it could not be listed,
    `error` says why)."""

    server: str
    entries: list[BackupEntry] | None
    error: str | None = None


def fail(message: str, hint: str = "") -> int:
    """Print an error (and a hint) on stderr; the exit code 1."""
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"  hint: {hint}", err=True)
    return 1


def check_site_name(site: str) -> None:
    """Refuse a SITE argument that could not name a site directory."""
    if not site or "/" in site or site in (".", "..") or site.startswith("-"):
        raise click.BadParameter(f"not a site name: {site!r}", param_hint="SITE")


def open_transports(opts: GlobalOptions, manifests: ManifestSet) -> Transports:
    """Transports to every declared server, with the command line's SSH options."""
    return Transports(dict(manifests.servers), ssh_key=opts.ssh_key, known_hosts=opts.known_hosts)


def locate(manifests: ManifestSet, servers: Sequence[ObservedServer], site: str) -> Located | None:
    """Where `site` is: on its declared platform's server when it is there, else the first
    server (in declaration order) that holds it."""
    found = [(s, *hit) for s in servers if s.reachable and (hit := s.site(site)) is not None]
    declared = manifests.sites.get(site)
    platform = manifests.platforms.get(declared.spec.platform) if declared is not None else None
    if platform is not None:
        found.sort(key=lambda hit: hit[0].name != platform.spec.server)
    return found[0] if found else None


def not_found(site: str, servers: Sequence[ObservedServer], what: str) -> int:
    """Exit 1 for a site observe found nowhere; `what` is the command's verb ("backed up")."""
    looked = ", ".join(s.name for s in servers if s.reachable) or "none reachable"
    down = [f"{s.name} ({s.error})" for s in servers if not s.reachable]
    message = f"site {site} was not found on any declared server (looked on: {looked})"
    if down:
        message += "; not observed: " + "; ".join(down)
        hint = "fix the connection to the servers not observed and run the command again"
    else:
        hint = (
            "check the name (`reconciler observe` lists the sites on each server); "
            f"a site can be {what} once it is installed"
        )
    return fail(message, hint)


def facts_of(manifests: ManifestSet, servers: Sequence[ObservedServer]) -> dict[str, ServerFacts]:
    """Every declared server with its login user and home as observe saw them."""
    return all_facts(manifests, list(servers))


def context_at(
    manifests: ManifestSet, facts: dict[str, ServerFacts], located: Located
) -> SiteContext:
    """The site's context where it was found (its declared names when it is declared)."""
    server, platform, site = located
    return seen_site_context(manifests, facts, server.name, platform, site.name, site)


async def list_on(transport: Transport, root: str, site: str) -> list[BackupEntry]:
    """The backups of `site` under `root` on one server; ReconcilerError when it cannot list."""
    result = await transport.run(
        ["sh", "-s"], input=list_script(root, site).encode(), timeout=LIST_TIMEOUT
    )
    if not result.ok:
        detail = (result.err.strip().splitlines() or [f"exit {result.exit_status}"])[-1]
        raise ReconcilerError(f"{transport.server}: listing the backups failed: {detail}")
    return parse_listing(result.out)


async def list_everywhere(
    manifests: ManifestSet, transports: Transports, site: str
) -> list[Listed]:
    """The backups of `site` on every declared server, in declaration order, listed at once."""

    async def one(name: str) -> Listed:
        root = manifests.servers[name].spec.paths.backups
        try:
            return Listed(name, await list_on(transports[name], root, site))
        except ReconcilerError as exc:
            return Listed(name, None, str(exc))

    return list(await asyncio.gather(*(one(name) for name in manifests.servers)))
