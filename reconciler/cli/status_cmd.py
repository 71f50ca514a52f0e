"""`reconciler status`: every site and platform, declared against observed."""

from __future__ import annotations

import json

import click

from reconciler.cli.observing import load_and_observe
from reconciler.cli.options import GlobalOptions, format_option, global_options, pass_globals
from reconciler.observe.sync import ObjectStatus, StatusReport, compute_status

__all__ = ["status", "status_json"]


def _site_json(row: ObjectStatus) -> dict[str, object]:
    site = row.site
    return {
        "name": row.name,
        "server": row.server,
        "platform": row.platform,
        "coreVersion": row.core_version,
        "sync": row.sync,
        "health": None,
        "reason": row.reason,
        "lastAction": None,
        "lastCron": None,
        "retry": None,
        "stats": {
            "filesBytes": site.files_bytes if site else None,
            "privateBytes": site.private_bytes if site else None,
            "databaseBytes": None,
        },
    }


def status_json(report: StatusReport) -> dict[str, object]:
    return {
        "revision": report.revision,
        "sites": [_site_json(row) for row in report.sites],
        "platforms": [
            {
                "name": row.name,
                "server": row.server,
                "coreVersion": row.core_version,
                "sync": row.sync,
                "health": None,
                "reason": row.reason,
                "modules": [],
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
        "pendingPlan": None,
    }


def _table(rows: list[ObjectStatus]) -> list[str]:
    header = ("KIND", "NAME", "SERVER", "PLATFORM", "CORE", "SYNC", "REASON")
    cells = [header] + [
        (
            r.kind,
            r.name,
            r.server or "-",
            r.platform or "-",
            r.core_version or "-",
            r.sync,
            r.reason or "",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    return [
        "  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in cells
    ]


@click.command()
@format_option("text", "json")
@global_options
@pass_globals
def status(opts: GlobalOptions, output_format: str) -> int:
    """Every site and platform: declared against observed (Synced, OutOfSync, Missing...)."""
    manifests, servers = load_and_observe(opts)
    report = compute_status(manifests, servers)
    if output_format == "json":
        click.echo(json.dumps(status_json(report), indent=2))
        return 0
    rows = [*report.platforms, *report.sites, *report.unmanaged]
    for line in _table(rows):
        click.echo(line.rstrip())
    for server in report.servers:
        if not server.reachable:
            click.echo(f"server {server.name}: unreachable: {server.error}")
    return 0
