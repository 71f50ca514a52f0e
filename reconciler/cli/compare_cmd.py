"""`reconciler compare PLATFORM_A PLATFORM_B`: the modules and themes that differ between two
platforms' codebases, before an upgrade.

Each platform's codebase (`ManifestSet.platform_path`; `~/` is the login user's home there) is
listed on its declared server through that server's transport; the versions are read from the
`*.info.yml` files (`reconciler.drivers.extensions`). Output: a table of the differences (added,
removed, version changed) or, with `--format json`, `[{"name", "type", "a", "b"}]` (`null` where
the extension is absent). Exit 0; 1 when a platform is not declared or its codebase is not on its
server.
"""

from __future__ import annotations

import asyncio
import json

import click

from reconciler.cli.locating import fail, open_transports
from reconciler.cli.options import GlobalOptions, format_option, global_options, pass_globals
from reconciler.drivers.extensions import (
    MISSING_EXIT,
    Difference,
    Extension,
    compare_extensions,
    listing_argv,
    parse_listing,
)
from reconciler.errors import ReconcilerError
from reconciler.manifests.loader import load_manifests
from reconciler.manifests.manifestset import ManifestSet

__all__ = ["LIST_TIMEOUT", "compare"]

LIST_TIMEOUT = 120.0


async def _inventories(
    opts: GlobalOptions, manifests: ManifestSet, names: list[str]
) -> list[dict[str, Extension]]:
    async with open_transports(opts, manifests) as transports:

        async def one(name: str) -> dict[str, Extension]:
            platform = manifests.platforms[name]
            server = platform.spec.server
            root = manifests.platform_path(platform)
            result = await transports[server].run(listing_argv(root), timeout=LIST_TIMEOUT)
            if result.exit_status == MISSING_EXIT:
                raise ReconcilerError(
                    f"platform {name}: no codebase at {root} on server {server}",
                    hint="`reconciler plan` shows whether it still has to be built",
                )
            if not result.ok:
                detail = (result.err.strip().splitlines() or [f"exit {result.exit_status}"])[-1]
                raise ReconcilerError(f"platform {name}: listing {root} on {server}: {detail}")
            return parse_listing(result.out)

        return list(await asyncio.gather(*(one(n) for n in names)))


def _table(diffs: list[Difference]) -> str:
    rows = [("NAME", "TYPE", "CHANGE", "A", "B")]
    rows += [(d.name, d.type, d.change, d.a or "-", d.b or "-") for d in diffs]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


@click.command()
@click.argument("platform_a")
@click.argument("platform_b")
@format_option("text", "json")
@global_options
@pass_globals
def compare(opts: GlobalOptions, platform_a: str, platform_b: str, output_format: str) -> int:
    """List the modules and themes whose versions differ between PLATFORM_A and PLATFORM_B.

    Versions are read from the `*.info.yml` files of each platform's codebase on its server.
    Exit 1 when a platform is not declared or its codebase is not there.
    """
    manifests = load_manifests(opts.source()).require()
    for name in (platform_a, platform_b):
        if name not in manifests.platforms:
            declared = ", ".join(sorted(manifests.platforms)) or "none"
            return fail(f"platform {name} is not declared", f"declared platforms: {declared}")
    try:
        a, b = asyncio.run(_inventories(opts, manifests, [platform_a, platform_b]))
    except ReconcilerError as exc:
        return fail(exc.message, exc.hint)
    diffs = compare_extensions(a, b)
    if output_format == "json":
        click.echo(json.dumps([d.to_json() for d in diffs], indent=2))
    elif not diffs:
        click.echo(f"No differences in modules and themes between {platform_a} and {platform_b}.")
    else:
        click.echo(f"Modules and themes: A = {platform_a}, B = {platform_b}")
        click.echo(_table(diffs))
    return 0
