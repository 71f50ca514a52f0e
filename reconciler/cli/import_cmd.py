"""`reconciler import SERVER [--out DIR]`: Platform and Site manifests for what a server holds
that git does not declare yet.

The server must be declared (a committed Server manifest). It is observed (and so is any other
declared server whose database a site found there uses, for its database listing); what to
import is `reconciler.plan.importing`'s. The manifests it writes are checked together with the
ones already in git before anything is written, as `validate` would check them once committed.

Output: with `--out DIR`, one file per object (`platform-<name>.yaml`, `site-<name>.yaml`), an
existing file is never overwritten (nothing is written then), and the paths written are printed;
without it, the documents are printed as one YAML stream. `--format json` prints the whole result
instead. A summary goes to stderr: what was imported, what could not be and why, and the
`site.verify` actions the plan will hold once the manifests are committed.

Exit code: 0 when everything undeclared on the server was imported, or there was nothing to
import; 1 when the server is not declared or could not be observed (nothing is written), when a
file exists already, or when something could not be imported (the rest is still written).
"""

from __future__ import annotations

import asyncio
import json
import os
import posixpath
from datetime import UTC, datetime
from pathlib import Path

import click

from reconciler.cli.options import GlobalOptions, format_option, global_options, pass_globals
from reconciler.errors import ReconcilerError, SourceError
from reconciler.manifests.loader import check_files
from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.source import ManifestFile, read_manifest_files
from reconciler.observe.gather import observe_server, probe_request
from reconciler.observe.models import ObservedServer
from reconciler.plan.importing import (
    ImportResult,
    database_servers_needed,
    import_json,
    import_server,
)
from reconciler.transport import Transports

__all__ = ["import_cmd"]


async def _observe(
    opts: GlobalOptions, manifests: ManifestSet, name: str
) -> dict[str, ObservedServer]:
    """The server, then the other servers holding databases its undeclared sites name."""
    async with Transports(
        dict(manifests.servers), ssh_key=opts.ssh_key, known_hosts=opts.known_hosts
    ) as transports:

        async def one(server: str) -> ObservedServer:
            declared = manifests.servers[server]
            request = probe_request(manifests, declared)
            return await observe_server(transports[server], declared, request)

        seen = await one(name)
        found = {name: seen}
        if seen.reachable and seen.error is None:
            others = database_servers_needed(manifests, name, seen)
            for other in await asyncio.gather(*(one(s) for s in others)):
                found[other.name] = other
        return found


def _load(opts: GlobalOptions) -> tuple[str, list[ManifestFile], ManifestSet]:
    spec = opts.source()
    revision, files = read_manifest_files(spec)
    if not files:
        raise SourceError(
            f"no *.yaml or *.yml files in {spec.repo} at {revision[:12]}",
            hint="commit a Server manifest for the server first, then import its sites",
        )
    return revision, files, check_files(revision, files).require()


def _check(revision: str, files: list[ManifestFile], result: ImportResult, prefix: str) -> None:
    """Refuse to write manifests that would not validate beside the ones in git."""
    added = [
        ManifestFile(posixpath.join(prefix, "imported", d.file_name), d.text.encode())
        for d in result.documents
    ]
    checked = check_files(revision, [*files, *added])
    if checked.errors:
        shown = "; ".join(p.render() for p in checked.errors[:5])
        raise ReconcilerError(
            f"the imported manifests would not be valid beside the ones in git: {shown}",
            hint="nothing was written; this is a bug of import: please report it",
        )


def _write(out: Path, result: ImportResult) -> dict[str, str]:
    existing = [out / d.file_name for d in result.documents if (out / d.file_name).exists()]
    if existing:
        raise ReconcilerError(
            f"{existing[0]} already exists"
            + (f" (and {len(existing) - 1} more)" if len(existing) > 1 else "")
            + "; nothing was written",
            hint="import never overwrites a file: move it away, or import into another directory",
        )
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    for document in result.documents:
        path = out / document.file_name
        with open(path, "x", encoding="utf-8") as handle:
            handle.write(document.text)
        os.chmod(path, 0o644)
        written[document.file_name] = str(path)
    return written


def _summary(result: ImportResult, seen: ObservedServer, where: str) -> list[str]:
    lines: list[str] = []
    platforms = sum(1 for d in result.documents if d.kind == "Platform")
    sites = len(result.documents) - platforms
    if result.documents:
        lines.append(
            f"Imported from {result.server}: {platforms} platform{'s' * (platforms != 1)}, "
            f"{sites} site{'s' * (sites != 1)} ({where})."
        )
        lines += [f"  {d.summary}" for d in result.documents]
    elif not result.refused:
        lines.append(
            f"Nothing to import from {result.server}: every codebase and site on it is "
            "declared in git."
        )
    if result.refused:
        lines.append(f"Not importable ({len(result.refused)}):")
        lines += [f"  {f.kind} {f.name} ({f.path}): {f.reason}" for f in result.refused]
    if result.skipped:
        lines.append(f"Skipped ({len(result.skipped)}):")
        lines += [f"  {f.kind} {f.name} ({f.path}): {f.reason}" for f in result.skipped]
    notes = [*seen.problems, *result.notes]
    if notes:
        lines.append("Notes:")
        lines += [f"  {note}" for note in notes]
    if result.documents:
        if result.plan:
            lines.append("Once they are committed, the plan holds for them (drift repairs):")
            lines += [f"  {a.kind} {a.object_name}: {a.reason}" for a in result.plan]
        else:
            lines.append("Once they are committed, the plan holds nothing for them.")
    return lines


@click.command("import")
@click.argument("server_name", metavar="SERVER")
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory to write one manifest file per object into (never overwriting a file); "
    "default: print them.",
)
@format_option("yaml", "json")
@global_options
@pass_globals
def import_cmd(opts: GlobalOptions, server_name: str, out: Path | None, output_format: str) -> int:
    """Write Platform (source: existing) and Site manifests for what SERVER holds that git does
    not declare yet, adopting each site's database and user.

    Exit code: 0 everything found was imported (or nothing was undeclared); 1 the server is not
    declared or could not be observed, a file exists already, or something could not be imported
    (the rest is still written; the reason says what to do).
    """
    revision, files, manifests = _load(opts)
    if server_name not in manifests.servers:
        declared = ", ".join(sorted(manifests.servers)[:10]) or "none"
        raise ReconcilerError(
            f"Server {server_name} is not declared in git at {revision[:12]} "
            f"(declared: {declared})",
            hint="commit a Server manifest for it first (import writes Platform and Site "
            "manifests only), then run import again",
        )
    observed = asyncio.run(_observe(opts, manifests, server_name))
    seen = observed[server_name]
    if not seen.reachable or seen.error is not None:
        click.echo(f"error: server {server_name} could not be observed: {seen.error}", err=True)
        click.echo("  hint: check it with `reconciler observe`; nothing was written", err=True)
        return 1
    result = import_server(manifests, observed, server_name, now=datetime.now(UTC))
    _check(revision, files, result, opts.path)
    written = _write(out, result) if out is not None and result.documents else {}
    if output_format == "json":
        click.echo(json.dumps(import_json(result, written), indent=2))
    elif out is not None:
        for path in written.values():
            click.echo(path)
    elif result.documents:
        click.echo("---\n".join(d.text for d in result.documents), nl=False)
    where = f"written to {out}" if out is not None else "printed on stdout"
    for line in _summary(result, seen, where):
        click.echo(line, err=True)
    return 1 if result.refused else 0
