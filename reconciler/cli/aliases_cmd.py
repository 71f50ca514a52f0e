"""`reconciler aliases [--out DIR]`: drush site alias files, one `<server>.site.yml` per server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from reconciler.cli.observing import load_and_observe
from reconciler.cli.options import GlobalOptions, format_option, global_options, pass_globals
from reconciler.drivers.aliases import alias_files, homes_needed, render_aliases
from reconciler.errors import ReconcilerError
from reconciler.manifests.loader import load_manifests

__all__ = ["aliases"]


@click.command()
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory to write `<server>.site.yml` files into; default: print them.",
)
@format_option("yaml", "json")
@global_options
@pass_globals
def aliases(opts: GlobalOptions, out: Path | None, output_format: str) -> int:
    """Write drush site alias files for every site (`drush @SERVER.SITE_WITH_UNDERSCORES`)."""
    manifests = load_manifests(opts.source()).require()
    homes: dict[str, str] = {}
    needed = homes_needed(manifests)
    if needed:  # a `~/` docroot: only observe can tell the login user's home
        manifests, observed = load_and_observe(opts)
        homes = {s.name: s.home for s in observed if s.home is not None}
        missing = sorted(needed - homes.keys())
        if missing:
            raise ReconcilerError(
                f"cannot resolve '~/' paths on {', '.join(missing)}: the server was not observed",
                hint="check that the server is reachable (`reconciler observe`)",
            )
    rendered = render_aliases(manifests, homes)
    if output_format == "json":
        click.echo(json.dumps(rendered, indent=2, sort_keys=True))
        return 0
    files = alias_files(rendered)
    if out is None:
        for name, text in files.items():
            click.echo(f"# {name}\n{text}", nl=False)
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = out / name
        path.write_text(text, encoding="utf-8")
        os.chmod(path, 0o644)
        click.echo(str(path))
    return 0
