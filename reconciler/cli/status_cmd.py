"""`reconciler status`: every site and platform, declared against observed, with its health, the
reasons of its drift (the pending plan's), the last action the journal recorded, and statistics:
the sizes of each site's files, private files and database, the modules and themes enabled on each
site and those in each platform's codebase (`reconciler.observe.stats`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import click

from reconciler.apply.health import Health, check_health
from reconciler.cli.options import GlobalOptions, format_option, global_options, pass_globals
from reconciler.journal.model import LastAction, RetryState, Store
from reconciler.journal.store import open_store
from reconciler.manifests.loader import load_manifests
from reconciler.manifests.manifestset import ManifestSet
from reconciler.observe.gather import observe_all
from reconciler.observe.models import ObservedServer
from reconciler.observe.stats import Stats, database_sizes, gather_stats
from reconciler.observe.sync import ObjectStatus, StatusReport, compute_status
from reconciler.plan import Plan, PlanRefused, make_plan, plan_json
from reconciler.transport import Transports

__all__ = ["StatusView", "add_stats", "gather_status", "read_journal", "status", "status_json"]


@dataclass
class StatusView:
    """What `status` shows: the sync report, health, drift reasons, last actions, the plan."""

    report: StatusReport
    health: dict[str, Health] = field(default_factory=dict)
    plan: Plan | None = None
    last: dict[tuple[str, str], LastAction] = field(default_factory=dict)
    retry: dict[str, RetryState] = field(default_factory=dict)
    """Sites in backoff after transient failures (the controller's), by name."""
    cron: dict[str, LastAction] = field(default_factory=dict)
    """The last `drush core:cron` the controller ran, by site name."""
    stats: Stats = field(default_factory=Stats)
    """Modules of sites and platforms, SQLite sizes (`add_stats`)."""
    database_bytes: dict[str, int] = field(default_factory=dict)
    """The size of each site's database, by site name, where known (`add_stats`)."""

    def reasons(self, name: str) -> str:
        if self.plan is None:
            return ""
        return "; ".join(
            f"{a.kind}: {a.reason}" for a in self.plan.actions if a.object_name == name
        )

    def health_of(self, row: ObjectStatus) -> str | None:
        last = self.last.get((row.kind, row.name))
        if last is not None and last.result == "running":
            return "Progressing"
        if last is not None and last.result == "failed":
            return "Failed"
        if row.kind == "Site":
            found = self.health.get(row.name)
            return found.state if found is not None else None
        return "Healthy" if row.sync in ("Synced", "OutOfSync") else None

    def reason_of(self, row: ObjectStatus) -> str:
        parts = [row.reason] if row.reason else []
        planned = self.reasons(row.name)
        if planned and planned not in parts:
            parts.append(planned)
        found = self.health.get(row.name)
        if found is not None and found.reason:
            parts.append(found.reason)
        last = self.last.get((row.kind, row.name))
        if last is not None and last.result == "failed" and last.error:
            parts.append(f"last {last.kind} failed: {last.error}")
        return "; ".join(parts)


def _last_json(last: LastAction | None) -> dict[str, str | None] | None:
    return last.to_json() if last is not None else None


def _cron_json(last: LastAction | None) -> dict[str, str | None] | None:
    return None if last is None else {"at": last.at, "result": last.result, "error": last.error}


def _site_json(view: StatusView, row: ObjectStatus) -> dict[str, object]:
    site = row.site
    return {
        "name": row.name,
        "server": row.server,
        "platform": row.platform,
        "coreVersion": row.core_version,
        "sync": row.sync,
        "health": view.health_of(row),
        "reason": view.reason_of(row),
        "lastAction": _last_json(view.last.get(("Site", row.name))),
        "lastCron": _cron_json(view.cron.get(row.name)),
        "retry": view.retry[row.name].to_json() if row.name in view.retry else None,
        "stats": {
            "filesBytes": site.files_bytes if site else None,
            "privateBytes": site.private_bytes if site else None,
            "databaseBytes": view.database_bytes.get(row.name) if site else None,
        },
        "modules": view.stats.site_modules.get(row.name),
    }


def status_json(view: StatusView | StatusReport) -> dict[str, object]:
    if isinstance(view, StatusReport):
        view = StatusView(view)
    report = view.report
    return {
        "revision": report.revision,
        "sites": [_site_json(view, row) for row in report.sites],
        "platforms": [
            {
                "name": row.name,
                "server": row.server,
                "coreVersion": row.core_version,
                "sync": row.sync,
                "health": view.health_of(row),
                "reason": view.reason_of(row),
                "lastAction": _last_json(view.last.get(("Platform", row.name))),
                "modules": view.stats.platform_modules.get(row.name),
            }
            for row in report.platforms
        ],
        "unmanaged": [
            {"kind": row.kind, "name": row.name, "server": row.server, "path": row.observed_path}
            for row in report.unmanaged
        ],
        "servers": [
            {"name": s.name, "reachable": s.reachable, "error": s.error} for s in report.servers
        ],
        "pendingPlan": plan_json(view.plan) if view.plan is not None else None,
    }


def _table(view: StatusView) -> list[str]:
    report = view.report
    rows = [*report.platforms, *report.sites, *report.unmanaged]
    header = ("KIND", "NAME", "SERVER", "PLATFORM", "CORE", "SYNC", "HEALTH", "REASON")
    cells = [header] + [
        (
            r.kind,
            r.name,
            r.server or "-",
            r.platform or "-",
            r.core_version or "-",
            r.sync,
            view.health_of(r) or "-",
            view.reason_of(r),
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in cells
    ]


async def gather_status(
    opts: GlobalOptions, manifests: ManifestSet, store: Store | None, *, modules: bool = True
) -> StatusView:
    """Observe, check health, plan, and read the journal's last actions; with `modules`, also
    the statistics that cost commands (each site's `pm:list`, each platform's inventory: only
    the JSON document shows them; the database sizes come with the observation)."""
    async with Transports(
        dict(manifests.servers), ssh_key=opts.ssh_key, known_hosts=opts.known_hosts
    ) as pool:
        transports = {name: pool[name] for name in pool}
        observed = await observe_all(manifests, transports)
        health, stats = await asyncio.gather(
            check_health(manifests, observed, transports, settle=0),
            gather_stats(manifests, observed, transports) if modules else _no_stats(),
        )
    report = compute_status(manifests, observed)
    try:
        plan: Plan | None = make_plan(manifests, observed, max_deletes=1_000_000)
    except PlanRefused as refused:  # pragma: no cover - max_deletes is not a limit here
        plan = refused.plan
    view = StatusView(report, health, plan)
    add_stats(view, manifests, observed, stats)
    if store is not None:
        read_journal(view, store)
    return view


async def _no_stats() -> Stats:
    return Stats()


def add_stats(
    view: StatusView, manifests: ManifestSet, observed: Sequence[ObservedServer], stats: Stats
) -> None:
    """Give `view` the statistics: `stats` as gathered, and the database sizes from the
    observed database listings (cheap: no command runs)."""
    view.stats = stats
    view.database_bytes = database_sizes(manifests, observed, stats)


def read_journal(view: StatusView, store: Store) -> None:
    """Fill `view` with what the journal says of its objects: the last action of each, and of
    each site its backoff (`Site/<name>` in the retry table) and its last cron run (the
    controller's `Cron` actions)."""
    report = view.report
    for row in (*report.sites, *report.platforms):
        last = store.last_action(row.kind, row.name)
        if last is not None:
            view.last[(row.kind, row.name)] = last
    for row in report.sites:
        retry = store.retry_state(f"Site/{row.name}")
        if retry is not None:
            view.retry[row.name] = retry
        cron = store.last_action("Cron", row.name)
        if cron is not None:
            view.cron[row.name] = cron


def show_status(view: StatusView, output_format: str) -> None:
    if output_format == "json":
        click.echo(json.dumps(status_json(view), indent=2))
        return
    for line in _table(view):
        click.echo(line.rstrip())
    for server in view.report.servers:
        if not server.reachable:
            click.echo(f"server {server.name}: unreachable: {server.error}")


@click.command()
@format_option("text", "json")
@global_options
@pass_globals
def status(opts: GlobalOptions, output_format: str) -> int:
    """Every site and platform: sync (Synced, OutOfSync, Missing, Unmanaged), health (Healthy,
    Degraded, Failed, Progressing), the reasons of drift, and the last action."""
    manifests = load_manifests(opts.source()).require()
    store = open_store(opts.state)
    try:
        modules = output_format == "json"
        view = asyncio.run(gather_status(opts, manifests, store, modules=modules))
    finally:
        store.close()
    show_status(view, output_format)
    return 0
