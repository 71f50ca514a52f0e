"""`reconciler run`: the long-running controller (CONTRACT.md section 4).

Follows `--branch` of `--repo` (a local path is watched and reacts to a commit at once; a URL is
fetched every `--interval`; `POST /webhook` fetches now), re-observes every `--resync`, and
applies with `--auto-apply` (drift only with `--self-heal`). It serves the dashboard (`/`),
`/healthz`, `/readyz`, `/metrics`, `/api/status` and `/webhook` on `--listen`. SIGTERM or
SIGINT: no new step starts, running steps finish (at most `--stop-timeout`), exit 0; an action
stopped between two steps is left `running` in the journal and resumed by the next start,
exactly as after a SIGKILL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import structlog

from reconciler.api.dashboard import RECENT_RUNS
from reconciler.api.metrics import Metrics
from reconciler.api.server import (
    DEFAULT_LISTEN,
    SimpleApiState,
    bound_addresses,
    make_app,
    read_webhook_secret,
    serve,
)
from reconciler.cli.options import GlobalOptions, global_options, pass_globals
from reconciler.cli.status_cmd import StatusView, add_stats, read_journal, status_json
from reconciler.controller.engine import ControllerConfig, Engine, Snapshot
from reconciler.controller.loop import Controller
from reconciler.controller.shutdown import install_signal_handlers
from reconciler.controller.workqueue import Backoff
from reconciler.errors import ReconcilerError
from reconciler.journal.leader import open_leadership
from reconciler.journal.model import Store
from reconciler.journal.store import open_store
from reconciler.manifests.names import parse_duration
from reconciler.manifests.signatures import verify_source
from reconciler.observe.sync import compute_status
from reconciler.plan import plan_json


def announce_line(line: str) -> None:
    """A line for the operator, through the logger (a JSON line when logs are JSON)."""
    structlog.get_logger("reconciler.cli").info(line)


__all__ = ["Duration", "announce_line", "controller_status", "run", "run_controller"]


class Duration(click.ParamType[int]):
    """`60`, `60s`, `5m`, `1h`: seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(f"{exc} (write 60, 60s, 5m or 1h)", param, ctx)


def controller_status(snapshot: Snapshot, store: Store) -> dict[str, object]:
    """The `status` JSON document of the controller's latest view, plus `controller`: what it
    follows, what it holds back and why, and whether this process leads."""
    document: dict[str, object]
    if snapshot.manifests is None:
        document = {"revision": None, "sites": [], "platforms": [], "servers": []}
        document["pendingPlan"] = None
    else:
        report = compute_status(snapshot.manifests, snapshot.observed)
        view = StatusView(report, snapshot.health, snapshot.plan)
        add_stats(view, snapshot.manifests, snapshot.observed, snapshot.stats)
        read_journal(view, store)
        document = status_json(view)
    document["controller"] = {
        "revision": snapshot.revision,
        "ready": snapshot.ready,
        "leading": snapshot.leading,
        "sourceError": snapshot.source_error,
        "planRefused": snapshot.refused,
        "held": snapshot.held,
    }
    if snapshot.plan is not None and document.get("pendingPlan") is None:
        document["pendingPlan"] = plan_json(snapshot.plan)
    return document


async def run_controller(
    opts: GlobalOptions,
    config: ControllerConfig,
    *,
    listen: str,
    webhook_secret: bytes | None,
    announce: Callable[[str], None] = lambda line: None,
) -> int:
    """Run the controller until SIGTERM/SIGINT; 0 once it stopped cleanly."""
    store = open_store(opts.state)
    metrics = Metrics()
    state = SimpleApiState(metrics=metrics)
    engine = Engine(config, store, metrics=metrics)
    leader = open_leadership(opts.state)

    def publish() -> None:
        """Called by the loop after each wakeup (not more often): each document reads the
        journal for every object."""
        document = controller_status(engine.snapshot(), store)
        state.status = document
        state.runs = store.recent_runs(RECENT_RUNS)  # the dashboard's recent runs
        state.taken_at = datetime.now(UTC)
        state.ready = engine.ready
        metrics.set_objects(document)

    controller = Controller(engine, leader=leader, publish=publish)
    engine.leading = leader is None  # not leading until the lock is taken
    publish()  # /api/status carries `controller` from the first request on
    app = make_app(state, webhook_secret=webhook_secret, on_webhook=controller.webhook)
    runner = await serve(app, listen)
    for host, port in bound_addresses(runner):
        announce(
            f"Serving http://{host}:{port}/ (dashboard; /healthz, /readyz, /metrics, /api/status)"
        )
    remove = install_signal_handlers(controller.stop)
    try:
        await controller.run()
    finally:
        remove()
        await runner.cleanup()
        store.close()
    return 0


def _verifier(
    opts: GlobalOptions, allowed_signers: Path | None, gpg_keyring: Path | None
) -> Callable[[str], str | None]:
    spec = opts.source()

    def verify(revision: str) -> str | None:
        return verify_source(
            spec, revision, allowed_signers=allowed_signers, gpg_keyring=gpg_keyring
        )

    return verify


@click.command()
@click.option("--interval", type=Duration(), default="60s", show_default=True, help="Poll period.")
@click.option("--resync", type=Duration(), default="10m", show_default=True, help="Drift check.")
@click.option("--auto-apply", is_flag=True, help="Apply plans (default: plan only).")
@click.option("--self-heal", is_flag=True, help="Also repair drift (site.verify actions).")
@click.option("--prune", is_flag=True, help="Also delete Unmanaged sites and platforms.")
@click.option("--max-deletes", type=click.IntRange(min=0), default=5, show_default=True)
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, metavar="HOST:PORT")
@click.option(
    "--webhook-secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Enables POST /webhook (GitHub/GitLab signatures checked against it).",
)
@click.option("--backoff-base", type=Duration(), default="1s", show_default=True)
@click.option("--backoff-max", type=Duration(), default="10m", show_default=True)
@click.option("--stop-timeout", type=Duration(), default="60s", show_default=True)
@click.option("--verify-signatures", is_flag=True, help="Refuse unsigned or untrusted heads.")
@click.option("--allowed-signers", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--gpg-keyring", type=click.Path(dir_okay=False, path_type=Path))
@global_options
@pass_globals
def run(
    opts: GlobalOptions,
    interval: int,
    resync: int,
    auto_apply: bool,
    self_heal: bool,
    prune: bool,
    max_deletes: int,
    listen: str,
    webhook_secret_file: Path | None,
    backoff_base: int,
    backoff_max: int,
    stop_timeout: int,
    verify_signatures: bool,
    allowed_signers: Path | None,
    gpg_keyring: Path | None,
) -> int:
    """The controller: follow the branch, plan, and with --auto-apply converge; runs until
    SIGTERM or SIGINT, then exits 0."""
    if opts.worktree or opts.rev:
        raise ReconcilerError(
            "reconciler run follows the branch's commits: --worktree and --rev are for "
            "one-shot commands",
            hint="commit the manifests, and pass --branch to choose the branch",
        )
    if verify_signatures and allowed_signers is None and gpg_keyring is None:
        raise ReconcilerError(
            "--verify-signatures needs the trusted keys",
            hint="pass --allowed-signers FILE (SSH) and/or --gpg-keyring FILE (GPG)",
        )
    if interval < 1 or resync < 1 or backoff_base < 1 or backoff_max < backoff_base:
        raise ReconcilerError(
            "--interval, --resync and --backoff-base must be at least 1s, "
            "and --backoff-max at least --backoff-base"
        )
    config = ControllerConfig(
        source=opts.source(),
        auto_apply=auto_apply,
        self_heal=self_heal,
        prune=prune,
        max_deletes=max_deletes,
        interval=float(interval),
        resync=float(resync),
        backoff=Backoff(float(backoff_base), float(backoff_max)),
        stop_timeout=float(stop_timeout),
        ssh_key=opts.ssh_key,
        known_hosts=opts.known_hosts,
        verify=_verifier(opts, allowed_signers, gpg_keyring) if verify_signatures else None,
    )
    secret = read_webhook_secret(webhook_secret_file) if webhook_secret_file else None
    return asyncio.run(
        run_controller(
            opts,
            config,
            listen=listen,
            webhook_secret=secret,
            announce=announce_line,
        )
    )
