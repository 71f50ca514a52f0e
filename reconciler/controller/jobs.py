"""Scheduled work on a site besides the plan: `drush core:cron`, and scheduled backups with their
retention.

Each job is a small step run on the site's web server under the site's lock (so it never runs
while an action edits the site there), found where the last observe saw the site. Each is
recorded in the journal as a one-action run (trigger `cron` or `backup`) whose object kind is
`Cron` or `Backup`, so that the site's own last action (`lastAction`, its health) is not taken
over by them, and `Store.last_action("Cron", site)` is the site's `lastCron`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from reconciler.actions.backup import backup_steps
from reconciler.actions.context import SiteContext, observed_site_context
from reconciler.actions.restore import prune_step
from reconciler.actions.script import Step, lock_name, q
from reconciler.apply.contexts import all_facts
from reconciler.apply.runner import ActionOutcome, run_steps
from reconciler.drivers.backup import new_backup_id, parse_backup_id
from reconciler.journal.model import Store
from reconciler.manifests.manifestset import ManifestSet
from reconciler.observe.models import ObservedServer
from reconciler.plan.retention import Dated, apply_retention
from reconciler.transport.base import Transport

__all__ = [
    "CRON_TIMEOUT",
    "JobResult",
    "Located",
    "cron_step",
    "locate",
    "record_job",
    "run_backup",
    "run_cron",
]

CRON_TIMEOUT = 3600.0
"""Seconds one `drush core:cron` may take."""

RunSteps = Callable[[Sequence[Step], Mapping[str, Transport]], Awaitable[ActionOutcome]]


@dataclass(frozen=True)
class Located:
    """A declared site where the last observe found it, on its declared platform."""

    ctx: SiteContext
    server: ObservedServer
    core_version: str | None
    driver: str | None


@dataclass(frozen=True)
class JobResult:
    ok: bool
    error: str | None = None
    transient: bool = False
    detail: str = ""


def locate(manifests: ManifestSet, observed: Sequence[ObservedServer], name: str) -> Located | None:
    """Where `name` is, when it is declared present and sits on its declared platform on a
    reachable server (a site being moved or not installed yet has no cron to run)."""
    site = manifests.sites.get(name)
    if site is None or site.spec.state != "present":
        return None
    for server in observed:
        if not server.reachable or server.name not in manifests.servers:
            continue
        found = server.site(name)
        if found is None:
            continue
        codebase, seen = found
        if codebase.name != site.spec.platform:
            return None
        db = seen.database
        ctx = observed_site_context(
            manifests,
            all_facts(manifests, list(observed)),
            server.name,
            codebase.path,
            codebase.docroot,
            codebase.name,
            name,
            db.name if db else None,
            db.username if db else None,
        )
        return Located(ctx, server, codebase.core_version, db.driver if db else None)
    return None


def cron_step(ctx: SiteContext) -> Step:
    """`drush core:cron` for the site, under its lock; exit 0 decides (the drush contract)."""
    return Step(
        name="core:cron",
        script=q(*ctx.drush.cron()),
        on="web",
        lock=lock_name("site", ctx.name),
        timeout=CRON_TIMEOUT,
    )


def record_job(
    store: Store | None,
    revision: str,
    kind: str,
    object_kind: str,
    name: str,
    server: str,
) -> Callable[[JobResult], None]:
    """Record the start of a job now; returns what records its end."""
    if store is None:
        return lambda result: None
    run = store.begin_run(revision, json.dumps({"revision": revision, "actions": []}), kind)
    row = store.record_action_start(run, f"{kind}:{name}", kind, object_kind, name, server)

    def end(result: JobResult) -> None:
        store.record_action_end(row, "succeeded" if result.ok else "failed", result.error)
        store.end_run(run, "succeeded" if result.ok else "failed")

    return end


def _result(outcome: ActionOutcome, detail: str = "") -> JobResult:
    return JobResult(outcome.ok, outcome.error, outcome.transient, detail)


async def run_cron(located: Located, transport: Transport, run: RunSteps = run_steps) -> JobResult:
    outcome = await run([cron_step(located.ctx)], {"web": transport})
    return _result(outcome)


async def run_backup(
    manifests: ManifestSet,
    observed: Sequence[ObservedServer],
    located: Located,
    transports: Mapping[str, Transport],
    now: datetime,
    run: RunSteps = run_steps,
) -> JobResult:
    """Take a backup of the site, then prune its backups by its `backups.keep`.

    Retention judges the backups the last observe listed on every server plus the new one:
    pruning from part of the backups never removes one that all of them would keep (a backup
    that is not the newest of its period among some backups is not the newest among all)."""
    name = located.ctx.name
    site = manifests.sites[name]
    existing = [b.id for server in observed for b in server.backups if b.site == name]
    backup_id = new_backup_id(name, now, existing)
    steps = backup_steps(located.ctx, backup_id, located.core_version, driver=located.driver)
    outcome = await run(steps, {"web": transports[located.server.name]})
    if not outcome.ok or site.spec.backups is None:
        return _result(outcome, backup_id)
    dated = [Dated(backup_id, now)]
    paths: dict[str, list[tuple[str, str]]] = {}
    for server in observed:
        for backup in server.backups:
            if backup.site != name:
                continue
            try:
                owner, when = parse_backup_id(backup.id)
            except ValueError:
                continue
            if owner == name:
                dated.append(Dated(backup.id, when))
                paths.setdefault(server.name, []).append((backup.id, backup.path))
    pruned = set(apply_retention(dated, site.spec.backups.keep, now).pruned)
    errors = []
    for server_name, entries in paths.items():
        doomed = [path for backup_id_, path in entries if backup_id_ in pruned]
        transport = transports.get(server_name)
        if not doomed or transport is None:
            continue
        removed = await run([prune_step(name, doomed)], {"web": transport})
        if not removed.ok:
            errors.append(f"pruning on {server_name}: {removed.error}")
    detail = f"{backup_id}, {len(pruned)} pruned"
    if errors:
        return JobResult(False, f"backup {backup_id} taken; " + "; ".join(errors), False, detail)
    return JobResult(True, None, False, detail)
