"""`reconciler schema --out DIR`: one JSON Schema per kind."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.options import global_options
from reconciler.manifests.schema import write_schemas

__all__ = ["schema"]


@click.command()
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("schemas"),
    show_default=True,
    help="Directory to write the schemas into.",
)
@global_options
def schema(out: Path) -> int:
    """Write the JSON Schemas of Server, Platform and Site manifests."""
    for path in write_schemas(out):
        click.echo(str(path))
    return 0
