"""`reconciler demo`: the embedded default, converged on this machine.

From a clone of this repository: builds the STAND-IN platform (a small PHP codebase speaking
drush's contract, because Drupal itself cannot be downloaded in our test environment) into
`~/reconciler-demo/standin.git`, applies `examples/quickstart` (local transport, SQLite, PHP's
built-in web server) with the same engine as `apply`, prints the status and each site's address,
then leaves the controller running on the repository (`reconciler run --auto-apply --self-heal`
on the local path, watched: a commit changing `examples/quickstart` is converged at once) until
Ctrl-C or SIGTERM. `--no-controller` stops after the first convergence. Running it again
converges again: nothing is done twice.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from pathlib import Path

import click

from reconciler.actions.context import expand
from reconciler.cli.apply_cmd import run_apply
from reconciler.cli.options import GlobalOptions, global_options, pass_globals
from reconciler.cli.run_cmd import announce_line, run_controller
from reconciler.cli.status_cmd import gather_status, show_status
from reconciler.controller.engine import ControllerConfig
from reconciler.drivers.builtin import parse_ports, ports_argv
from reconciler.errors import ReconcilerError
from reconciler.journal.store import open_store
from reconciler.manifests.loader import load_manifests
from reconciler.manifests.manifestset import ManifestSet
from reconciler.transport.local import LocalTransport

__all__ = ["demo"]

QUICKSTART = "examples/quickstart"
BUILD_SCRIPT = "examples/standin-platform/build-repo.sh"
DEMO_REPO = "~/reconciler-demo/standin.git"


def _checkout(opts: GlobalOptions) -> Path:
    root = Path(opts.repo).expanduser()
    if not (root / BUILD_SCRIPT).is_file():
        raise ReconcilerError(
            f"{root.resolve()} is not a clone of the reconciler repository (no {BUILD_SCRIPT})",
            hint="run `reconciler demo` from the repository's top directory, or give --repo",
        )
    return root


def _build_standin(root: Path) -> None:
    dest = Path(expand(DEMO_REPO, str(Path.home())))
    if (dest / "HEAD").is_file():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    click.echo(f"Building the STAND-IN platform repository at {dest} ...", err=True)
    done = subprocess.run(
        ["sh", str(root / BUILD_SCRIPT), str(dest)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ReconcilerError(
            f"building the stand-in platform failed: {done.stderr.strip() or done.stdout.strip()}",
            hint="it needs sh, git and the usual file utilities",
        )


async def _addresses(manifests: ManifestSet) -> dict[str, int]:
    ports: dict[str, int] = {}
    for server in manifests.servers.values():
        http = server.spec.services.http
        if server.spec.transport != "local" or http is None or http.type != "builtin":
            continue
        transport = LocalTransport(server.name)
        try:
            result = await transport.run(ports_argv(expand(http.vhost_dir, str(Path.home()))))
        finally:
            await transport.close()
        ports.update(parse_ports(result.out))
    return ports


@click.command()
@click.option("--listen", default="127.0.0.1:8080", show_default=True, metavar="HOST:PORT")
@click.option(
    "--no-controller", is_flag=True, help="Exit after the first convergence (no controller)."
)
@global_options
@pass_globals
def demo(opts: GlobalOptions, listen: str, no_controller: bool) -> int:
    """Converge examples/quickstart on this machine (local host, SQLite, PHP's built-in web
    server, the STAND-IN platform), print the status and each site's address, then leave the
    controller running on the repository until Ctrl-C."""
    root = _checkout(opts)
    opts = dataclasses.replace(opts, repo=str(root), path=opts.path or QUICKSTART)
    _build_standin(root)
    manifests = load_manifests(opts.source()).require()
    code, _, _ = asyncio.run(
        run_apply(opts, manifests, yes=True, prune=False, max_deletes=5, only=None)
    )
    store = open_store(opts.state)
    try:
        view = asyncio.run(gather_status(opts, manifests, store, modules=False))
    finally:
        store.close()
    click.echo("")
    show_status(view, "text")
    ports = asyncio.run(_addresses(manifests))
    if ports:
        click.echo("")
        for site, port in sorted(ports.items()):
            click.echo(f"{site}: http://127.0.0.1:{port}/")
    if no_controller:
        return code
    click.echo(
        f"\nThe controller now follows {root.resolve()} ({opts.path}): commit a change there and"
        " it is applied; Ctrl-C stops it."
    )
    config = ControllerConfig(source=opts.source(), auto_apply=True, self_heal=True)
    return asyncio.run(
        run_controller(
            opts,
            config,
            listen=listen,
            webhook_secret=None,
            announce=announce_line,
        )
    )
