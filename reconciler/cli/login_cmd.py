"""`reconciler login SITE`: a one-time login link for the site's admin account.

The site's admin password is discarded at install (CONTRACT.md section 2); users get in with
`drush user:login`, run by the platform's own drush on the server where observe finds the site
(its declared platform's server first). drush builds the URL from `--uri=http://<site>`, so it
names the site's primary host; the link works once and for a limited time (Drupal: a day).

Output: the URL on stdout (`--format json`: `{"site", "url", "server"}`). Exit 1 with a message
when the site is not found or drush fails (its stderr is shown, secrets removed); drush's
stdout is not trusted on a failure (a PHP error may be printed there), so only a URL from an
exit 0 is printed.
"""

from __future__ import annotations

import asyncio
import json

import click

from reconciler.cli.locating import (
    check_site_name,
    context_at,
    facts_of,
    fail,
    locate,
    not_found,
    open_transports,
)
from reconciler.cli.observing import load_and_observe
from reconciler.cli.options import GlobalOptions, format_option, global_options, pass_globals
from reconciler.drivers.drush_output import DrushOutputError, parse_login_url, redact
from reconciler.errors import ReconcilerError
from reconciler.manifests.manifestset import ManifestSet
from reconciler.transport import CommandResult

__all__ = ["LOGIN_TIMEOUT", "login"]

LOGIN_TIMEOUT = 120.0


async def _run(
    opts: GlobalOptions, manifests: ManifestSet, server: str, argv: list[str]
) -> CommandResult:
    async with open_transports(opts, manifests) as transports:
        return await transports[server].run(argv, timeout=LOGIN_TIMEOUT)


def _tail(text: str, lines: int = 20) -> str:
    kept = redact(text, []).strip().splitlines()[-lines:]
    return "\n".join("  " + line for line in kept)


@click.command()
@click.argument("site")
@format_option("text", "json")
@global_options
@pass_globals
def login(opts: GlobalOptions, site: str, output_format: str) -> int:
    """Print a one-time login link for SITE's admin account (drush user:login).

    Runs the platform's drush on the server where the site is. Exit 1 when the site is not
    found or drush fails.
    """
    check_site_name(site)
    manifests, servers = load_and_observe(opts)
    located = locate(manifests, servers, site)
    if located is None:
        return not_found(site, servers, "logged in to")
    server = located[0].name
    ctx = context_at(manifests, facts_of(manifests, servers), located)
    try:
        result = asyncio.run(_run(opts, manifests, server, ctx.drush.user_login()))
    except ReconcilerError as exc:
        return fail(f"drush user:login for {site} on {server} failed: {exc.message}", exc.hint)
    try:
        url = parse_login_url(result.out, result.exit_status)
    except DrushOutputError:
        detail = _tail(result.err) or _tail(result.out)
        if detail:
            click.echo(detail, err=True)
        return fail(
            f"drush user:login for {site} on {server} failed (exit {result.exit_status}): "
            "no login link",
            "the output above says why; `reconciler status` shows whether the site is healthy "
            "(a site must be installed, its admin account active)",
        )
    if output_format == "json":
        click.echo(json.dumps({"site": site, "url": url, "server": server}, indent=2))
    else:
        click.echo(url)
    return 0
