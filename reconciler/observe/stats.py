"""Statistics and inventories for `reconciler status` beyond what observe reads every pass: the
enabled modules and themes of each site (`drush pm:list`), the modules and themes of each
platform's codebase (its `*.info.yml` files), and the size of SQLite databases.

`gather_stats` is the I/O: per site one `drush pm:list`, per platform one listing of its codebase,
per server one `find` for all its SQLite files; at most the server's `concurrency` commands at
once per server. It costs a PHP process per site, so the controller runs it at its start and at
each resync only, in the background, and shows what it last gathered (`Engine.stats`); the
one-shot `status` runs it every time.

`database_sizes` is pure and cheap: the MariaDB/MySQL sizes come from the listing that observe
already makes on every database server (one query per server, `mysql.LISTING_SQL`: the sum of
`DATA_LENGTH + INDEX_LENGTH` of each schema's tables in `information_schema`), the SQLite ones
from `Stats.sqlite_bytes`.
"""

from __future__ import annotations

import asyncio
import posixpath
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import structlog

from reconciler.actions.context import SiteContext
from reconciler.apply.contexts import all_facts, seen_site_context
from reconciler.drivers import extensions, inventory
from reconciler.errors import ReconcilerError
from reconciler.manifests.manifestset import ManifestSet
from reconciler.observe.models import ObservedPlatform, ObservedServer, ObservedSite
from reconciler.plan.drift import database_home
from reconciler.transport.base import CommandResult, Transport

__all__ = [
    "COMMAND_TIMEOUT",
    "ModulesJson",
    "Stats",
    "StatsKeeper",
    "database_sizes",
    "gather_stats",
    "merged",
    "sqlite_path",
]

_log = structlog.get_logger(__name__)

COMMAND_TIMEOUT = 120.0

ModulesJson = list[dict[str, str | None]]
_T = TypeVar("_T")


@dataclass(frozen=True)
class Stats:
    """What `gather_stats` found. The module lists are kept as their JSON already (built once,
    shared by every status document published until the next gathering)."""

    site_modules: Mapping[str, ModulesJson] = field(default_factory=dict)
    """Enabled modules and themes by site name (absent: not asked, or drush failed)."""
    platform_modules: Mapping[str, ModulesJson] = field(default_factory=dict)
    """Modules and themes of each declared platform's codebase, by platform name."""
    sqlite_bytes: Mapping[str, int] = field(default_factory=dict)
    """The size of each SQLite site's database file, by site name."""


def sqlite_path(platform: ObservedPlatform, site: ObservedSite) -> str | None:
    """The absolute path of a site's SQLite file as its settings.php names it (a relative one is
    relative to the docroot, as Drupal reads it); None when it is no SQLite site or the name is
    computed at run time."""
    db = site.database
    if db is None or db.driver != "sqlite" or not db.name or {"*", "database"} & set(db.dynamic):
        return None
    if db.name.startswith("/"):
        return posixpath.normpath(db.name)
    docroot = platform.docroot or "."
    root = platform.path if docroot == "." else posixpath.join(platform.path, docroot)
    return posixpath.normpath(posixpath.join(root, db.name))


def database_sizes(
    manifests: ManifestSet, observed: Sequence[ObservedServer], stats: Stats
) -> dict[str, int]:
    """The size in bytes of each declared site's database, by site name, where it is known: the
    site was found, and its MariaDB/MySQL database is listed on the server that holds it (as
    `plan.drift.database_home` locates it), or its SQLite file was measured. Pure."""
    by_name = {server.name: server for server in observed}
    sizes: dict[str, int] = {}
    for server in observed:
        if not server.reachable:
            continue
        for codebase in server.platforms:
            for seen in codebase.sites:
                site = manifests.sites.get(seen.name)
                if site is None or seen.name in sizes or seen.database is None:
                    continue
                if seen.database.driver == "sqlite":
                    if seen.name in stats.sqlite_bytes:
                        sizes[seen.name] = stats.sqlite_bytes[seen.name]
                    continue
                home = database_home(manifests, site, server.name, seen, by_name)
                if home is None or home.server is None or home.name is None:
                    continue
                holder = by_name.get(home.server)
                listing = holder.database_server if holder is not None else None
                if listing is not None and home.name in listing.databases:
                    sizes[seen.name] = listing.databases[home.name]
    return sizes


async def gather_stats(
    manifests: ManifestSet,
    observed: Sequence[ObservedServer],
    transports: Mapping[str, Transport],
    only: frozenset[str] | None = None,
) -> Stats:
    """Ask every reachable server for its sites' modules (only those called `only`, when
    given), its platforms' inventories and its SQLite files' sizes, at most the server's
    `concurrency` commands at once; never raises for a server's or a site's own faults (what
    could not be had is left out)."""
    facts = all_facts(manifests, list(observed))
    limits = {
        name: asyncio.Semaphore(server.spec.concurrency)
        for name, server in manifests.servers.items()
    }
    reachable = {
        server.name: server
        for server in observed
        if server.reachable and server.name in limits and server.name in transports
    }

    async def run(server: str, argv: list[str], stdin: bytes | None = None) -> CommandResult:
        async with limits[server]:
            return await transports[server].run(argv, input=stdin, timeout=COMMAND_TIMEOUT)

    async def site_modules(server: str, ctx: SiteContext) -> ModulesJson | None:
        try:
            result = await run(server, ctx.drush.pm_list())
            found = inventory.enabled_modules(result.out, result.exit_status)
        except (ReconcilerError, ValueError) as exc:
            _log.info("no module list", site=ctx.name, server=server, error=str(exc))
            return None
        return inventory.modules_json(found)

    async def platform_modules(name: str, server: str, root: str) -> ModulesJson | None:
        try:
            result = await run(server, extensions.listing_argv(root))
        except ReconcilerError as exc:
            _log.info("no module list", platform=name, server=server, error=str(exc))
            return None
        if not result.ok:
            _log.info("no module list", platform=name, server=server, error=result.err[-300:])
            return None
        return inventory.modules_json(
            inventory.codebase_modules(extensions.parse_listing(result.out))
        )

    async def sqlite_sizes(server: str, paths: dict[str, str]) -> dict[str, int]:
        try:
            stdin = inventory.sizes_input(sorted(set(paths.values())))
            result = await run(server, inventory.sizes_argv(), stdin)
        except (ReconcilerError, ValueError) as exc:
            _log.info("no database file sizes", server=server, error=str(exc))
            return {}
        found = inventory.parse_sizes(result.stdout)
        return {site: found[path] for site, path in paths.items() if path in found}

    async with asyncio.TaskGroup() as group:
        platforms = {
            name: group.create_task(platform_modules(name, server, root))
            for name, server, root in _platform_roots(manifests, reachable)
        }
        sites: dict[str, asyncio.Task[ModulesJson | None]] = {}
        files: dict[str, dict[str, str]] = {}
        for server, codebase, seen in _declared_sites(manifests, reachable):
            if only is not None and seen.name not in only:
                continue
            ctx = seen_site_context(manifests, facts, server, codebase, seen.name, seen)
            sites[seen.name] = group.create_task(site_modules(server, ctx))
            path = sqlite_path(codebase, seen)
            if path is not None:
                files.setdefault(server, {})[seen.name] = path
        sizes = [group.create_task(sqlite_sizes(server, paths)) for server, paths in files.items()]
    return Stats(
        site_modules=_answered(sites),
        platform_modules=_answered(platforms),
        sqlite_bytes={site: size for job in sizes for site, size in job.result().items()},
    )


class StatsKeeper:
    """The statistics of a long-running process (the controller): `refresh` gathers them in the
    background (unless a gathering still runs) and calls `done` once they are in; `stats` is
    the last complete gathering meanwhile."""

    def __init__(self, done: Callable[[], None] = lambda: None) -> None:
        self.stats = Stats()
        self.done = done
        self._task: asyncio.Task[None] | None = None

    def refresh(
        self,
        manifests: ManifestSet,
        observed: Sequence[ObservedServer],
        transports: Mapping[str, Transport],
        only: frozenset[str] | None = None,
    ) -> asyncio.Task[None] | None:
        """Start a gathering — of everything, or of the sites called `only` (those an action
        just finished on) and every platform's inventory, merged into the last one; the task
        (for the owner to cancel at its end), or None when the previous one still runs."""
        if self._task is not None and not self._task.done():
            return None
        self._task = asyncio.create_task(self._gather(manifests, observed, transports, only))
        return self._task

    async def _gather(
        self,
        manifests: ManifestSet,
        observed: Sequence[ObservedServer],
        transports: Mapping[str, Transport],
        only: frozenset[str] | None,
    ) -> None:
        try:
            found = await gather_stats(manifests, observed, transports, only)
        except Exception:  # a bug must not take the controller down with it
            _log.exception("statistics not gathered")
            return
        self.stats = found if only is None else merged(self.stats, found, only)
        self.done()


def merged(old: Stats, new: Stats, sites: frozenset[str]) -> Stats:
    """`old` with what `new` found of `sites` (a site not answering now is dropped) and `new`'s
    platform inventories."""

    def keep(table: Mapping[str, _T], fresh: Mapping[str, _T]) -> dict[str, _T]:
        return {**{k: v for k, v in table.items() if k not in sites}, **fresh}

    return Stats(
        site_modules=keep(old.site_modules, new.site_modules),
        platform_modules=new.platform_modules,
        sqlite_bytes=keep(old.sqlite_bytes, new.sqlite_bytes),
    )


def _answered(jobs: Mapping[str, asyncio.Task[ModulesJson | None]]) -> dict[str, ModulesJson]:
    answered = {}
    for name, job in jobs.items():
        found = job.result()
        if found is not None:
            answered[name] = found
    return answered


def _platform_roots(
    manifests: ManifestSet, reachable: Mapping[str, ObservedServer]
) -> list[tuple[str, str, str]]:
    """(platform, server, codebase path) of every declared platform found on its server."""
    roots = []
    for name in sorted(manifests.platforms):
        platform = manifests.platforms[name]
        server = reachable.get(platform.spec.server)
        if server is None or platform.spec.state == "absent":
            continue
        seen = next((p for p in server.platforms if p.name == name), None)
        if seen is not None and seen.exists:
            roots.append((name, server.name, seen.path))
    return roots


def _declared_sites(
    manifests: ManifestSet, reachable: Mapping[str, ObservedServer]
) -> list[tuple[str, ObservedPlatform, ObservedSite]]:
    """(server, codebase, site) of every declared site found, once each (where first found)."""
    found: dict[str, tuple[str, ObservedPlatform, ObservedSite]] = {}
    for server in reachable.values():
        for codebase in server.platforms:
            for seen in codebase.sites:
                site = manifests.sites.get(seen.name)
                if site is None or site.spec.state == "absent" or seen.name in found:
                    continue
                found[seen.name] = (server.name, codebase, seen)
    return [found[name] for name in sorted(found)]
