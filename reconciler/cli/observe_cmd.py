"""`reconciler observe`: the observed state of every declared server."""

from __future__ import annotations

import json

import click

from reconciler.cli.observing import load_and_observe
from reconciler.cli.options import GlobalOptions, format_option, global_options, pass_globals
from reconciler.observe.models import ObservedServer

__all__ = ["observe", "observe_json", "render_observe_text"]


def observe_json(servers: list[ObservedServer]) -> dict[str, object]:
    return {"servers": [server.as_json() for server in servers]}


def render_observe_text(servers: list[ObservedServer]) -> str:
    lines: list[str] = []
    for server in servers:
        if not server.reachable:
            lines.append(f"{server.name}: UNREACHABLE: {server.error}")
            continue
        sites = sum(len(p.sites) for p in server.platforms)
        codebases = sum(1 for p in server.platforms if p.exists)
        lines.append(
            f"{server.name}: {codebases} codebases, {sites} sites, "
            f"{len(server.vhosts)} vhosts, {len(server.backups)} backups"
            + (f" (login {server.user})" if server.user else "")
        )
        if server.error:
            lines.append(f"  error: {server.error}")
        for problem in server.problems:
            lines.append(f"  note: {problem}")
        for platform in server.platforms:
            label = platform.name or "(not declared)"
            if not platform.exists:
                lines.append(f"  {label}: no Drupal codebase at {platform.path}")
                continue
            lines.append(
                f"  {label}: {platform.path} (docroot {platform.docroot}, core "
                f"{platform.core_version or '?'})"
            )
            for site in platform.sites:
                db = site.database
                where = f"{db.driver} {db.name}" if db is not None else "no database settings"
                modes = site.modes
                lines.append(
                    f"    {site.name}: {where}; modes dir {modes.site_dir} settings "
                    f"{modes.settings} files {modes.files} private {modes.private}; "
                    f"files {site.files_bytes} B"
                    + (f"; {site.settings_error}" if site.settings_error else "")
                )
        database_server = server.database_server
        if database_server is not None:
            if database_server.error:
                lines.append(f"  databases: {database_server.error}")
            else:
                lines.append(
                    f"  databases: {len(database_server.databases)}, "
                    f"users: {len(database_server.users)}"
                )
    return "\n".join(lines)


@click.command()
@format_option("text", "json")
@global_options
@pass_globals
def observe(opts: GlobalOptions, output_format: str) -> int:
    """Gather the observed state of every declared server (exit 1 if any could not be observed)."""
    _, servers = load_and_observe(opts)
    if output_format == "json":
        click.echo(json.dumps(observe_json(servers), indent=2))
    else:
        click.echo(render_observe_text(servers))
    return 0 if all(s.reachable and s.error is None for s in servers) else 1
