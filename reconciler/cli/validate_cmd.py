"""`reconciler validate`: every problem of every manifest at one revision, in one run."""

from __future__ import annotations

import json

import click

from reconciler.cli.options import GlobalOptions, format_option, global_options, pass_globals
from reconciler.errors import SourceError
from reconciler.manifests.loader import LoadResult, load_manifests

__all__ = ["validate"]


def _short_rev(revision: str) -> str:
    commit, plus, rest = revision.partition("+")
    return commit[:12] + plus + rest


def _summary(result: LoadResult) -> str:
    manifests = result.manifests
    assert manifests is not None
    counts = manifests.counts()
    count = len(result.skipped_documents)
    skipped = f", {count} document(s) of other tools skipped" if count else ""
    return (
        f"Valid: {counts['servers']} servers, {counts['platforms']} platforms, "
        f"{counts['sites']} sites at {_short_rev(result.revision)}{skipped}."
    )


def _as_json(result: LoadResult) -> dict[str, object]:
    return {
        "valid": result.valid,
        "revision": result.revision,
        "errors": [p.as_json() for p in result.errors],
        "warnings": [p.as_json() for p in result.warnings],
        "skipped": result.skipped,
        "counts": result.manifests.counts() if result.manifests else None,
    }


@click.command()
@format_option("text", "json")
@global_options
@pass_globals
def validate(opts: GlobalOptions, output_format: str) -> int:
    """Parse and cross-check every manifest; exit 0 when valid, 1 otherwise."""
    try:
        result = load_manifests(opts.source())
    except SourceError as exc:
        if output_format != "json":
            raise
        problem = {
            "path": opts.repo,
            "line": 0,
            "column": 0,
            "message": exc.message,
            "hint": exc.hint,
        }
        payload = {
            "valid": False,
            "revision": None,
            "errors": [problem],
            "warnings": [],
            "skipped": [],
        }
        click.echo(json.dumps(payload, indent=2))
        return 1
    if output_format == "json":
        click.echo(json.dumps(_as_json(result), indent=2))
        return 0 if result.valid else 1
    for note in result.skipped_documents:
        click.echo(f"{note.path}:{note.line}:{note.column}: {note.message}")
    for warning in result.warnings:
        click.echo(warning.render().replace(": ", ": warning: ", 1))
    for error in result.errors:
        click.echo(error.render())
    if result.valid:
        click.echo(_summary(result))
        return 0
    files = len({e.path for e in result.errors})
    click.echo(f"{len(result.errors)} error(s) in {files} file(s).")
    return 1
