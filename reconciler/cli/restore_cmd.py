"""`reconciler restore SITE BACKUP_ID [--yes]`: put a site's database and files back in place
from one of its backups, after a safety backup.

Order (every step from `reconciler.actions`): the backup is found on any declared server (the
`backups` listing; nothing is changed when it is not there); on a TTY the user confirms unless
`--yes`; a tarball held on another server is streamed through the controller into
`<paths.backups>/<site>/` on the site's server; it is unpacked beside the site and its dump
checked (a damaged backup stops here, the site untouched); a safety backup of the site is taken
and its id printed at once; then the restore in place (`reconciler.actions.restore`): files
swapped in by rename, the database loaded, modes, `drush cache:rebuild`, the health check. Any
failure after the site was touched puts it back (the old files swapped back, the database
loaded from the safety backup) and says so; if even that fails, the message names the safety
backup to restore. settings.php is not touched: the site keeps its credentials.

A backup of another site is refused: restoring into another name is a clone (`cloneFrom`).
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import click

from reconciler.actions.backup import backup_steps
from reconciler.actions.context import SiteContext
from reconciler.actions.restore import FETCH_STEP, ROLLBACK_FAILED, fetch_transfer, restore_steps
from reconciler.apply.runner import ActionOutcome, AnyStep, StepHooks, StepOutcome, run_steps
from reconciler.cli.locating import (
    Listed,
    Located,
    check_site_name,
    context_at,
    facts_of,
    fail,
    list_everywhere,
    locate,
    not_found,
    open_transports,
)
from reconciler.cli.observing import load_and_observe
from reconciler.cli.options import GlobalOptions, format_option, global_options, pass_globals
from reconciler.drivers.backup import BackupEntry, backup_paths, new_backup_id, parse_backup_id
from reconciler.manifests.manifestset import ManifestSet

__all__ = ["restore"]

SAFETY_PREFIX = "safety backup "
_UNTOUCHED = {FETCH_STEP, "unpack"}
"""Steps whose failure leaves the site as it was (with the safety backup steps)."""


def _now() -> datetime:
    """The time the safety backup is named after (a function, so that tests can fix it)."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class Found:
    """The backup to restore: its entry and the server holding it."""

    entry: BackupEntry
    server: str


def _find(listed: list[Listed], backup_id: str, prefer: str) -> Found | None:
    hits = [
        Found(entry, item.server)
        for item in listed
        for entry in item.entries or []
        if entry.id == backup_id
    ]
    hits.sort(key=lambda hit: hit.server != prefer)
    return hits[0] if hits else None


def _database_sha256(entry: BackupEntry) -> str | None:
    database = (entry.manifest or {}).get("database")
    value = database.get("sha256") if isinstance(database, dict) else None
    return value if isinstance(value, str) and len(value) == 64 else None


def _confirm(site: str, server: str, found: Found, yes: bool) -> bool:
    if yes or not (sys.stdin.isatty() and sys.stdout.isatty()):
        return True
    taken = found.entry.as_json()["time"]
    return click.confirm(
        f"Restore {site} on {server} from {found.entry.id} (taken {taken}, held on "
        f"{found.server})? Its database, files/ and private/ are replaced; a safety backup is "
        "taken first.",
        default=False,
    )


def _steps(ctx: SiteContext, located: Located, found: Found, safety_id: str) -> list[AnyStep]:
    server, platform, site = located
    database = site.database
    safety = backup_steps(
        ctx,
        safety_id,
        platform.core_version,
        driver=database.driver if database and database.driver else None,
    )
    steps: list[AnyStep] = []
    if found.server == server.name:
        tarball = found.entry.path
    else:
        steps.append(fetch_transfer(ctx, found.entry.path))
        tarball = backup_paths(ctx.web.backups, found.entry.id).tarball
    steps += restore_steps(
        ctx,
        tarball=tarball,
        safety_tarball=backup_paths(ctx.web.backups, safety_id).tarball,
        database_sha256=_database_sha256(found.entry),
        safety=[replace(s, name=SAFETY_PREFIX + safety_id) for s in safety],
    )
    return steps


class _Announce(StepHooks):
    """Prints the safety backup's id as soon as it is taken: the way back, shown at once."""

    def __init__(self, site: str) -> None:
        self.site = site
        self.taken: str | None = None

    async def ended(self, token: object, outcome: StepOutcome) -> None:
        if outcome.name.startswith(SAFETY_PREFIX) and outcome.status != "failed":
            self.taken = outcome.name.removeprefix(SAFETY_PREFIX)
            click.echo(
                f"Safety backup of {self.site} before the restore: {self.taken} "
                f"(to go back: reconciler restore {self.site} {self.taken})",
                err=True,
            )


@dataclass
class Result:
    code: int
    document: dict[str, Any]


async def _restore(
    opts: GlobalOptions,
    manifests: ManifestSet,
    located: Located,
    ctx: SiteContext,
    backup_id: str,
    yes: bool,
) -> Result:
    server = located[0]
    site = ctx.name
    doc: dict[str, Any] = {"site": site, "backup": backup_id, "server": server.name}
    async with open_transports(opts, manifests) as transports:
        listed = await list_everywhere(manifests, transports, site)
        found = _find(listed, backup_id, server.name)
        if found is None:
            looked = ", ".join(i.server for i in listed if i.entries is not None) or "none"
            down = [f"{i.server} ({i.error})" for i in listed if i.entries is None]
            message = f"backup {backup_id} of {site} was not found on any declared server "
            message += f"(looked on: {looked})"
            if down:
                message += "; not listed: " + "; ".join(down)
            return Result(
                fail(
                    message + "; nothing was changed",
                    f"`reconciler backups {site}` lists the backups of {site}",
                ),
                doc,
            )
        owner = (found.entry.manifest or {}).get("site")
        if owner not in (None, site):
            return Result(
                fail(
                    f"tarball {found.entry.path} on {found.server} holds a backup of {owner}, "
                    f"not of {site}; nothing was changed",
                    "restore it into its own site, or declare a new Site with `cloneFrom`",
                ),
                doc,
            )
        if not _confirm(site, server.name, found, yes):
            click.echo("Nothing restored.", err=True)
            return Result(1, doc)
        here = next((i.entries for i in listed if i.server == server.name), None) or []
        taken = [e.id for e in here] + [b.id for b in server.backups if b.site == site]
        safety_id = new_backup_id(site, _now(), taken)
        mapping = {"web": transports[server.name], "src": transports[found.server]}
        announce = _Announce(site)
        outcome = await run_steps(_steps(ctx, located, found, safety_id), mapping, announce)
    doc.update(heldOn=found.server, safetyBackup=announce.taken)
    if outcome.ok:
        doc["restored"] = True
        return Result(0, doc)
    return Result(_failed(outcome, doc, site, backup_id, safety_id), doc)


def _failed(
    outcome: ActionOutcome, doc: dict[str, Any], site: str, backup_id: str, safety_id: str
) -> int:
    step = outcome.steps[-1] if outcome.steps else None
    name = step.name if step is not None else "?"
    if step is not None and step.output:
        click.echo("\n".join("  " + line for line in step.output.splitlines()[-20:]), err=True)
    untouched = name.startswith(SAFETY_PREFIX) or name in _UNTOUCHED
    own_rollback_failed = step is not None and ROLLBACK_FAILED in step.output
    put_back = not untouched and outcome.undone and not own_rollback_failed
    doc.update(restored=False, error=outcome.error, failedStep=name, putBack=put_back)
    message = f"the restore of {site} from backup {backup_id} failed at step {name}: "
    message += outcome.error or "no reason given"
    if name == "unpack":
        state = "the site was not changed"
        hint = f"this backup cannot be restored as it is; `reconciler backups {site}` lists others"
    elif untouched:
        state = "the site was not changed"
        hint = f"fix the cause shown above and run `reconciler restore {site} {backup_id}` again"
    elif put_back:
        state = f"the site was put back as it was (its files, and its database from {safety_id})"
        hint = f"fix the cause shown above and run `reconciler restore {site} {backup_id}` again"
    elif outcome.transient:
        state = "the connection to the server was lost: the site may be half restored"
        hint = (
            f"run `reconciler restore {site} {backup_id}` again (it first puts back what was "
            f"moved), or go back with `reconciler restore {site} {safety_id} --yes`"
        )
    else:
        state = "putting the site back failed too: it may be half restored"
        hint = f"go back to the state before with `reconciler restore {site} {safety_id} --yes`"
    return fail(f"{message}; {state}", hint)


@click.command()
@click.argument("site")
@click.argument("backup_id", metavar="BACKUP_ID")
@click.option("--yes", "-y", is_flag=True, default=False, help="Do not ask for confirmation.")
@format_option("text", "json")
@global_options
@pass_globals
def restore(opts: GlobalOptions, site: str, backup_id: str, yes: bool, output_format: str) -> int:
    """Restore SITE in place from its backup BACKUP_ID: database, files/ and private/.

    A safety backup is taken first and its id printed (restore it to go back). The backup may be
    held on any declared server; one on another server is copied to the site's server first.
    settings.php is kept (the site keeps its credentials). Asks on a TTY unless --yes. Exit 1
    on any failure, saying what state the site is in.
    """
    check_site_name(site)
    try:
        owner, _ = parse_backup_id(backup_id)
    except ValueError:
        return fail(
            f"{backup_id!r} is not a backup id (<site>-YYYYMMDDTHHMMSSZ[-N]); nothing was changed",
            f"`reconciler backups {site}` lists the backups of {site}",
        )
    if owner != site:
        return fail(
            f"backup {backup_id} is a backup of {owner}, not of {site}: restoring it into "
            "another site would be a clone; nothing was changed",
            f"to copy {owner} into a new site, declare a new Site {site} with `cloneFrom: "
            f"{owner}`; to restore {owner} itself, run `reconciler restore {owner} {backup_id}`",
        )
    manifests, servers = load_and_observe(opts)
    located = locate(manifests, servers, site)
    if located is None:
        return not_found(site, servers, "restored")
    ctx = context_at(manifests, facts_of(manifests, servers), located)
    result = asyncio.run(_restore(opts, manifests, located, ctx, backup_id, yes))
    if output_format == "json" and "restored" in result.document:
        click.echo(json.dumps(result.document, indent=2))
    elif result.code == 0:
        click.echo(
            f"Restored {site} on {located[0].name} from {backup_id}. Safety backup taken "
            f"before: {result.document['safetyBackup']}."
        )
    return result.code
