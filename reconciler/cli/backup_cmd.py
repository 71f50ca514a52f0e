"""`reconciler backup SITE` (take one now) and `reconciler backups SITE` (list them).

`backup` observes the declared servers, finds the site where it is, and takes the backup on that
server under the site's lock (`reconciler.actions.backup`); it prints the new entry. `backups`
lists `<paths.backups>/<site>/` on every declared server, because a moved or deleted site's
backups stay where they were (CONTRACT.md section 2); newest first.

JSON (CONTRACT.md section 3): `backups SITE` prints `[{"id", "site", "time", "size", "platform",
"coreVersion", "server", "path"}]`, `backup SITE` the new entry. Exit 1, with a message naming
the site and what to do, when the site is on no server, the backup fails, or (for `backups`) a
server could not be listed (what was listed is still printed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click

from reconciler.actions.backup import STEP_NAME, backup_steps
from reconciler.actions.context import ServerFacts, observed_site_context, server_facts
from reconciler.apply.runner import ActionOutcome, run_steps
from reconciler.cli.observing import load_and_observe
from reconciler.cli.options import GlobalOptions, format_option, global_options, pass_globals
from reconciler.drivers.backup import BackupEntry, list_script, new_backup_id, parse_listing
from reconciler.errors import ReconcilerError
from reconciler.manifests.loader import load_manifests
from reconciler.manifests.manifestset import ManifestSet
from reconciler.observe.models import ObservedPlatform, ObservedServer, ObservedSite
from reconciler.transport import Transport, Transports

__all__ = ["backup", "backups", "entry_json", "render_entries"]

LIST_TIMEOUT = 600.0
Located = tuple[ObservedServer, ObservedPlatform, ObservedSite]


def _now() -> datetime:
    """The time a new backup is named after (a function, so that tests can fix it)."""
    return datetime.now(UTC)


def _fail(message: str, hint: str = "") -> int:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"  hint: {hint}", err=True)
    return 1


def _check_site_name(site: str) -> None:
    if not site or "/" in site or site in (".", "..") or site.startswith("-"):
        raise click.BadParameter(f"not a site name: {site!r}", param_hint="SITE")


def entry_json(entry: BackupEntry, server: str) -> dict[str, Any]:
    return {**entry.as_json(), "server": server}


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def render_entries(rows: Sequence[tuple[BackupEntry, str]]) -> str:
    """A text table: id, time, size, server, platform, core version."""
    table = [("ID", "TIME", "SIZE", "SERVER", "PLATFORM", "CORE")]
    for entry, server in rows:
        data = entry.as_json()
        table.append(
            (
                entry.id,
                data["time"],
                _size(entry.size),
                server,
                entry.platform or "-",
                entry.core_version or "-",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


async def _list_on(transport: Transport, root: str, site: str) -> list[BackupEntry]:
    """The backups of `site` under `root` on one server; ReconcilerError when it cannot list."""
    result = await transport.run(
        ["sh", "-s"], input=list_script(root, site).encode(), timeout=LIST_TIMEOUT
    )
    if not result.ok:
        detail = (result.err.strip().splitlines() or [f"exit {result.exit_status}"])[-1]
        raise ReconcilerError(f"{transport.server}: listing the backups failed: {detail}")
    return parse_listing(result.out)


# ---------------------------------------------------------------------------------- backup


def _locate(manifests: ManifestSet, servers: Sequence[ObservedServer], site: str) -> Located | None:
    """Where `site` is: on its declared platform's server when it is there, else the first
    server (in declaration order) that holds it."""
    found = [(s, *hit) for s in servers if s.reachable and (hit := s.site(site)) is not None]
    declared = manifests.sites.get(site)
    platform = manifests.platforms.get(declared.spec.platform) if declared is not None else None
    if platform is not None:
        found.sort(key=lambda hit: hit[0].name != platform.spec.server)
    return found[0] if found else None


def _not_found(site: str, servers: Sequence[ObservedServer]) -> int:
    looked = ", ".join(s.name for s in servers if s.reachable) or "none reachable"
    down = [f"{s.name} ({s.error})" for s in servers if not s.reachable]
    message = f"site {site} was not found on any declared server (looked on: {looked})"
    if down:
        message += "; not observed: " + "; ".join(down)
        hint = "fix the connection to the servers not observed and run the backup again"
    else:
        hint = (
            "check the name (`reconciler observe` lists the sites on each server); "
            "a site can be backed up once it is installed"
        )
    return _fail(message, hint)


def _facts(manifests: ManifestSet, servers: Sequence[ObservedServer]) -> dict[str, ServerFacts]:
    observed = {s.name: s for s in servers}
    facts = {}
    for name, server in manifests.servers.items():
        seen = observed.get(name)
        facts[name] = server_facts(server, seen.user if seen else None, seen.home if seen else None)
    return facts


async def _take(
    opts: GlobalOptions,
    manifests: ManifestSet,
    located: Located,
    backup_id: str,
    facts: dict[str, ServerFacts],
) -> tuple[ActionOutcome, list[BackupEntry]]:
    server, platform, site = located
    database = site.database
    ctx = observed_site_context(
        manifests,
        facts,
        server.name,
        platform.path,
        platform.docroot,
        platform.name,
        site.name,
        database.name if database else None,
        database.username if database else None,
    )
    steps = backup_steps(
        ctx,
        backup_id,
        platform.core_version,
        driver=database.driver if database and database.driver else None,
    )
    async with Transports(
        dict(manifests.servers), ssh_key=opts.ssh_key, known_hosts=opts.known_hosts
    ) as transports:
        web = transports[server.name]
        mapping = {"web": web}
        if ctx.db is not None and ctx.db.name in transports:
            mapping["db"] = transports[ctx.db.name]
        outcome = await run_steps(steps, mapping)
        if not outcome.ok:
            return outcome, []
        result = outcome.results.get(STEP_NAME)
        entries = parse_listing(result.out) if result is not None else []
        if not any(e.id == backup_id for e in entries):  # skipped: it existed already
            entries = await _list_on(web, ctx.web.backups, site.name)
        return outcome, [e for e in entries if e.id == backup_id]


@click.command()
@click.argument("site")
@format_option("text", "json")
@global_options
@pass_globals
def backup(opts: GlobalOptions, site: str, output_format: str) -> int:
    """Take a backup of SITE now, on the server it is on; print the new backup.

    The tarball `<paths.backups>/<SITE>/<SITE>-<UTC time>[-N].tar.gz` holds manifest.json, the
    database dump (taken by the platform's drush with the site's own credentials) and the site
    directory. Exit 1 when the site is not found or the backup fails.
    """
    _check_site_name(site)
    manifests, servers = load_and_observe(opts)
    located = _locate(manifests, servers, site)
    if located is None:
        return _not_found(site, servers)
    server = located[0]
    existing = [b.id for b in server.backups if b.site == site]
    backup_id = new_backup_id(site, _now(), existing)
    facts = _facts(manifests, servers)
    try:
        outcome, entries = asyncio.run(_take(opts, manifests, located, backup_id, facts))
    except ReconcilerError as exc:
        return _fail(f"the backup of {site} on {server.name} failed: {exc.message}", exc.hint)
    if not outcome.ok or not entries:
        output = outcome.steps[-1].output if outcome.steps else ""
        if output:
            click.echo("\n".join("  " + line for line in output.splitlines()[-20:]), err=True)
        reason = outcome.error or "the new tarball was not found"
        return _fail(
            f"the backup of {site} on {server.name} failed: {reason}",
            "nothing of it was kept; fix the cause shown above and run `reconciler backup` again",
        )
    entry = entries[0]
    if output_format == "json":
        click.echo(json.dumps(entry_json(entry, server.name), indent=2))
    else:
        click.echo(
            f"Backup {entry.id} of {site} taken on {server.name} ({_size(entry.size)}): "
            f"{entry.path}"
        )
    return 0


# ---------------------------------------------------------------------------------- backups


async def _list_everywhere(
    opts: GlobalOptions, manifests: ManifestSet, site: str
) -> list[tuple[str, list[BackupEntry] | None, str | None]]:
    async with Transports(
        dict(manifests.servers), ssh_key=opts.ssh_key, known_hosts=opts.known_hosts
    ) as transports:

        async def one(name: str) -> tuple[str, list[BackupEntry] | None, str | None]:
            root = manifests.servers[name].spec.paths.backups
            try:
                return name, await _list_on(transports[name], root, site), None
            except ReconcilerError as exc:
                return name, None, str(exc)

        return list(await asyncio.gather(*(one(name) for name in manifests.servers)))


@click.command()
@click.argument("site")
@format_option("text", "json")
@global_options
@pass_globals
def backups(opts: GlobalOptions, site: str, output_format: str) -> int:
    """List the backups of SITE on every declared server, newest first.

    A moved or deleted site's backups stay on the server they were taken on, so every server is
    asked. Exit 1 when a server could not be listed (the others are still printed).
    """
    _check_site_name(site)
    manifests = load_manifests(opts.source()).require()
    listed = asyncio.run(_list_everywhere(opts, manifests, site))
    rows = [(entry, name) for name, entries, _ in listed for entry in entries or []]
    rows.sort(key=lambda row: (row[0].sort_key(), row[1]), reverse=True)
    if output_format == "json":
        click.echo(json.dumps([entry_json(entry, name) for entry, name in rows], indent=2))
    elif rows:
        click.echo(render_entries(rows))
    else:
        click.echo(f"No backups of {site} on any declared server.")
    failed = [(name, error) for name, entries, error in listed if entries is None]
    for name, error in failed:
        click.echo(f"error: the backups on {name} could not be listed: {error}", err=True)
    if failed:
        click.echo("  hint: fix the connection to that server and list again", err=True)
    return 1 if failed else 0
