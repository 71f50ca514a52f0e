"""`reconciler backup SITE` (take one now) and `reconciler backups SITE [--prune]` (list them;
apply the site's retention now).

`backup` observes the declared servers, finds the site where it is, and takes the backup on that
server under the site's lock (`reconciler.actions.backup`); it prints the new entry. `backups`
lists `<paths.backups>/<site>/` on every declared server, because a moved or deleted site's
backups stay where they were (CONTRACT.md section 2); newest first.

`backups SITE --prune` applies the site's `backups.keep` now (`reconciler.plan.retention`) to
its backups on every declared server together, and removes the pruned tarballs with one script
per server under the site's lock. A site declared `state: absent` keeps its newest backup
whatever the policy says. A site without a `backups` policy, declared or not, has nothing to
apply: exit 1. Pruning with a server that could not be listed removes only what the listed
servers hold (safe: a backup that is not the newest of its period among some backups is not the
newest among all), then exits 1.

JSON (CONTRACT.md section 3): `backups SITE` prints `[{"id", "site", "time", "size", "platform",
"coreVersion", "server", "path"}]`, `backup SITE` the new entry, `backups SITE --prune`
`{"site", "keep", "removed": [entries], "kept": [entries with "reasons"]}`. Exit 1, with a
message naming the site and what to do, when the site is on no server, the backup fails, or
a server could not be listed or pruned (what was done is still printed).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import click

from reconciler.actions.backup import STEP_NAME, backup_steps
from reconciler.actions.context import ServerFacts
from reconciler.actions.restore import prune_step
from reconciler.apply.runner import ActionOutcome, run_steps
from reconciler.cli.locating import (
    Listed,
    Located,
    check_site_name,
    context_at,
    facts_of,
    fail,
    list_everywhere,
    list_on,
    locate,
    not_found,
    open_transports,
)
from reconciler.cli.observing import load_and_observe
from reconciler.cli.options import GlobalOptions, format_option, global_options, pass_globals
from reconciler.drivers.backup import BackupEntry, new_backup_id, parse_backup_id, parse_listing
from reconciler.errors import ReconcilerError
from reconciler.manifests.loader import load_manifests
from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.models import BackupKeep
from reconciler.plan.retention import Dated, Retention, apply_retention

__all__ = ["backup", "backups", "entry_json", "render_entries"]


def _now() -> datetime:
    """The time a new backup is named after, and retention counts back from (a function, so
    that tests can fix it)."""
    return datetime.now(UTC)


def entry_json(entry: BackupEntry, server: str) -> dict[str, Any]:
    return {**entry.as_json(), "server": server}


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


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
    return _table(table)


# ---------------------------------------------------------------------------------- backup


async def _take(
    opts: GlobalOptions,
    manifests: ManifestSet,
    located: Located,
    backup_id: str,
    facts: dict[str, ServerFacts],
) -> tuple[ActionOutcome, list[BackupEntry]]:
    server, platform, site = located
    ctx = context_at(manifests, facts, located)
    database = site.database
    steps = backup_steps(
        ctx,
        backup_id,
        platform.core_version,
        driver=database.driver if database and database.driver else None,
    )
    async with open_transports(opts, manifests) as transports:
        web = transports[server.name]
        outcome = await run_steps(steps, {"web": web})
        if not outcome.ok:
            return outcome, []
        result = outcome.results.get(STEP_NAME)
        entries = parse_listing(result.out) if result is not None else []
        if not any(e.id == backup_id for e in entries):  # skipped: it existed already
            entries = await list_on(web, ctx.web.backups, site.name)
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
    check_site_name(site)
    manifests, servers = load_and_observe(opts)
    located = locate(manifests, servers, site)
    if located is None:
        return not_found(site, servers, "backed up")
    server = located[0]
    existing = [b.id for b in server.backups if b.site == site]
    backup_id = new_backup_id(site, _now(), existing)
    facts = facts_of(manifests, servers)
    try:
        outcome, entries = asyncio.run(_take(opts, manifests, located, backup_id, facts))
    except ReconcilerError as exc:
        return fail(f"the backup of {site} on {server.name} failed: {exc.message}", exc.hint)
    if not outcome.ok or not entries:
        output = outcome.steps[-1].output if outcome.steps else ""
        if output:
            click.echo("\n".join("  " + line for line in output.splitlines()[-20:]), err=True)
        reason = outcome.error or "the new tarball was not found"
        return fail(
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


async def _list(opts: GlobalOptions, manifests: ManifestSet, site: str) -> list[Listed]:
    async with open_transports(opts, manifests) as transports:
        return await list_everywhere(manifests, transports, site)


def _listing_failures(listed: Sequence[Listed]) -> bool:
    failed = [item for item in listed if item.entries is None]
    for item in failed:
        click.echo(
            f"error: the backups on {item.server} could not be listed: {item.error}", err=True
        )
    if failed:
        click.echo("  hint: fix the connection to that server and run the command again", err=True)
    return bool(failed)


@click.command()
@click.argument("site")
@click.option(
    "--prune",
    is_flag=True,
    default=False,
    help="Apply the site's backups.keep now: remove the backups it does not keep.",
)
@format_option("text", "json")
@global_options
@pass_globals
def backups(opts: GlobalOptions, site: str, prune: bool, output_format: str) -> int:
    """List the backups of SITE on every declared server, newest first; with --prune, apply the
    site's retention (`backups.keep`) now and print what was removed and kept.

    A moved or deleted site's backups stay on the server they were taken on, so every server is
    asked. Exit 1 when a server could not be listed (the others are still printed), and for
    --prune when the site has no `backups` policy or a server could not be pruned.
    """
    check_site_name(site)
    manifests = load_manifests(opts.source()).require()
    if prune:
        return _prune(opts, manifests, site, output_format)
    listed = asyncio.run(_list(opts, manifests, site))
    rows = [(entry, item.server) for item in listed for entry in item.entries or []]
    rows.sort(key=lambda row: (row[0].sort_key(), row[1]), reverse=True)
    if output_format == "json":
        click.echo(json.dumps([entry_json(entry, name) for entry, name in rows], indent=2))
    elif rows:
        click.echo(render_entries(rows))
    else:
        click.echo(f"No backups of {site} on any declared server.")
    return 1 if _listing_failures(listed) else 0


# ---------------------------------------------------------------------------------- --prune


def _time_of(entry: BackupEntry, site: str) -> datetime | None:
    """The time retention judges a backup by: the one in its id, when the id is one of this
    site's backups; None (never pruned) for any other file."""
    try:
        owner, when = parse_backup_id(entry.id)
    except ValueError:
        return None
    return when if owner == site else None


async def _apply_retention(
    opts: GlobalOptions, manifests: ManifestSet, site: str, keep: BackupKeep, last_backup: bool
) -> tuple[list[Listed], Retention, dict[str, str | None]]:
    """List, decide, and remove the pruned tarballs (one step per server, in parallel). The
    third value maps each server where something was to be removed to its error (or None)."""
    async with open_transports(opts, manifests) as transports:
        listed = await list_everywhere(manifests, transports, site)
        dated = [
            Dated(entry.id, _time_of(entry, site))
            for item in listed
            for entry in item.entries or []
        ]
        retention = apply_retention(dated, keep, _now(), last_backup=last_backup)
        pruned = set(retention.pruned)

        async def remove(item: Listed) -> tuple[str, str | None]:
            paths = [e.path for e in item.entries or [] if e.id in pruned]
            outcome = await run_steps([prune_step(site, paths)], {"web": transports[item.server]})
            return item.server, outcome.error if not outcome.ok else None

        todo = [item for item in listed if any(e.id in pruned for e in item.entries or [])]
        results = dict(await asyncio.gather(*(remove(item) for item in todo)))
        return listed, retention, results


def _prune(opts: GlobalOptions, manifests: ManifestSet, site: str, output_format: str) -> int:
    declared = manifests.sites.get(site)
    example = "backups: {schedule: daily, keep: {daily: 7, weekly: 4, monthly: 6}}"
    if declared is None:
        return fail(
            f"site {site} is not declared in git, so it has no backups policy to apply; "
            "nothing was pruned",
            f"declare it (a deleted site with `state: absent`, which always keeps its newest "
            f"backup) with `{example}`, or remove its tarballs by hand",
        )
    policy = declared.spec.backups
    if policy is None:
        return fail(
            f"site {site} has no backups policy; nothing was pruned",
            f"add `{example}` to its spec (the newest backup of each of the last N days, "
            "ISO weeks and months is kept)",
        )
    last_backup = declared.spec.state == "absent"
    listed, retention, results = asyncio.run(
        _apply_retention(opts, manifests, site, policy.keep, last_backup)
    )
    removed: list[tuple[BackupEntry, str]] = []
    kept: list[tuple[BackupEntry, str, tuple[str, ...]]] = []
    pruned = set(retention.pruned)
    for item in listed:
        for entry in item.entries or []:
            if entry.id in retention.kept:
                kept.append((entry, item.server, retention.kept[entry.id]))
            elif entry.id in pruned and results.get(item.server) is None:
                removed.append((entry, item.server))
    removed.sort(key=lambda row: (row[0].sort_key(), row[1]), reverse=True)
    kept.sort(key=lambda row: (row[0].sort_key(), row[1]), reverse=True)
    keep = policy.keep
    if output_format == "json":
        document = {
            "site": site,
            "keep": {"daily": keep.daily, "weekly": keep.weekly, "monthly": keep.monthly},
            "removed": [entry_json(entry, server) for entry, server in removed],
            "kept": [
                {**entry_json(entry, server), "reasons": list(reasons)}
                for entry, server, reasons in kept
            ],
        }
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(
            f"Retention of {site} (keep daily {keep.daily}, weekly {keep.weekly}, "
            f"monthly {keep.monthly}): {len(removed)} removed, {len(kept)} kept."
        )
        rows: list[tuple[str, ...]] = [("", "ID", "SERVER", "WHY KEPT")]
        rows += [("removed", e.id, server, "-") for e, server in removed]
        rows += [("kept", e.id, server, ", ".join(why)) for e, server, why in kept]
        if len(rows) > 1:
            click.echo(_table(rows))
    failed = _listing_failures(listed)
    for server, error in results.items():
        if error is not None:
            failed = True
            fail(
                f"removing the pruned backups of {site} on {server} failed: {error}",
                "nothing else was changed there; fix the cause and run `backups --prune` again",
            )
    return 1 if failed else 0
