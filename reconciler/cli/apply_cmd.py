"""`reconciler apply`: plan, then apply; exit 0 converged, 1 when any action failed.

Before planning, a run that a killed process left unfinished is resumed (its unfinished actions
run again, their steps' checks skipping what was done), and the servers are observed again.
Confirmation is asked on a TTY unless `--yes`; off a TTY (CI) nobody could answer, so the plan
is printed and applied, as `apply --yes` would.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

import click

from reconciler.apply.executor import ActionResult, Applier, ApplyResult
from reconciler.cli.options import GlobalOptions, format_option, global_options, pass_globals
from reconciler.journal.store import open_store
from reconciler.manifests.loader import load_manifests
from reconciler.manifests.manifestset import ManifestSet
from reconciler.observe.gather import observe_all
from reconciler.plan import Plan, PlanRefused, make_plan, plan_json, render_text
from reconciler.plan.model import Action
from reconciler.transport import Transports

__all__ = ["apply", "run_apply"]

_MARKS = {"succeeded": "ok", "failed": "FAILED", "skipped": "skipped"}


class _Progress:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.started: dict[str, float] = {}

    def __call__(self, event: str, action: Action, text: str) -> None:
        if self.quiet:
            return
        label = f"{action.kind} {action.object_name} on {action.server}"
        if event == "start":
            self.started[action.id] = time.monotonic()
            click.echo(f"  … {label}", err=True)
        elif event == "step" and self.tty:
            click.echo(f"      {text}", err=True)
        elif event in _MARKS:
            took = time.monotonic() - self.started.get(action.id, time.monotonic())
            tail = f": {text}" if text else ""
            click.echo(f"  {_MARKS[event]} {label} ({took:.1f}s){tail}", err=True)


def _result_json(r: ActionResult) -> dict[str, Any]:
    a = r.action
    return {
        "id": a.id,
        "kind": a.kind,
        "object": {"kind": a.object_kind, "name": a.object_name},
        "server": a.server,
        "result": r.result,
        "error": r.error,
        "steps": [{"name": s.name, "status": s.status} for s in r.steps],
    }


async def run_apply(
    opts: GlobalOptions,
    manifests: ManifestSet,
    *,
    yes: bool,
    prune: bool,
    max_deletes: int,
    only: set[str] | None,
    output_format: str = "text",
    quiet: bool = False,
) -> tuple[int, Plan | None, ApplyResult | None]:
    """Observe, resume what was interrupted, plan, confirm, apply. Returns the exit code."""
    store = open_store(opts.state)
    progress = _Progress(quiet or output_format == "json")
    text = output_format == "text" and not quiet
    try:
        async with Transports(
            dict(manifests.servers), ssh_key=opts.ssh_key, known_hosts=opts.known_hosts
        ) as pool:
            transports = {name: pool[name] for name in pool}
            observed = await observe_all(manifests, transports)
            resumed = await Applier(
                manifests, observed, transports, store, progress=progress
            ).resume_interrupted()
            if resumed:
                if text:
                    click.echo(f"Resumed {len(resumed)} interrupted action(s).", err=True)
                observed = await observe_all(manifests, transports)
            try:
                plan = make_plan(manifests, observed, prune=prune, max_deletes=max_deletes)
            except PlanRefused as refused:
                if text:
                    click.echo(render_text(refused.plan), nl=False)
                click.echo(f"error: plan refused, nothing was applied: {refused.message}", err=True)
                if refused.hint:
                    click.echo(f"  hint: {refused.hint}", err=True)
                return 1, refused.plan, None
            if text:
                click.echo(render_text(plan), nl=False)
            if not plan.has_changes:
                code = 0 if plan.complete and all(r.result == "succeeded" for r in resumed) else 1
                if output_format == "json":
                    click.echo(json.dumps({"plan": plan_json(plan), "results": []}, indent=2))
                return code, plan, None
            interactive = not yes and sys.stdin.isatty() and sys.stdout.isatty()
            if interactive and not click.confirm(
                f"Apply {len(plan.actions)} action(s)?", default=False
            ):
                click.echo("Nothing applied.", err=True)
                return 1, plan, None
            # an action that just failed when resumed is not tried a second time in this run
            retried = {r.action.id for r in resumed if r.result != "succeeded"}
            result = await Applier(manifests, observed, transports, store, progress=progress).apply(
                plan, only=only, exclude=retried
            )
    finally:
        store.close()
    failed = [r for r in resumed if r.result != "succeeded"] + result.failed()
    if output_format == "json":
        click.echo(
            json.dumps(
                {
                    "plan": plan_json(plan),
                    "runId": result.run_id,
                    "resumed": [_result_json(r) for r in resumed],
                    "results": [_result_json(r) for r in result.results],
                },
                indent=2,
            )
        )
    elif text:
        ok = len(resumed) + len(result.results) - len(failed)
        click.echo(f"Apply finished: {ok} succeeded, {len(failed)} failed or skipped.")
        for r in failed:
            click.echo(f"  {r.action.kind} {r.action.object_name}: {r.error}")
    if not plan.complete:
        click.echo(
            "error: not observed, nothing of them applied: " + ", ".join(plan.unobserved),
            err=True,
        )
    return (0 if not failed and plan.complete else 1), plan, result


@click.command()
@format_option("text", "json")
@click.option("--yes", "-y", is_flag=True, default=False, help="Do not ask for confirmation.")
@click.option(
    "--prune", is_flag=True, default=False, help="Also delete Unmanaged sites and platforms."
)
@click.option(
    "--max-deletes",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    metavar="N",
    help="Refuse a plan that deletes more than N sites and platforms.",
)
@click.option(
    "--only",
    multiple=True,
    metavar="NAME",
    help="Apply only the actions of these sites or platforms (repeatable).",
)
@global_options
@pass_globals
def apply(
    opts: GlobalOptions,
    output_format: str,
    yes: bool,
    prune: bool,
    max_deletes: int,
    only: tuple[str, ...],
) -> int:
    """Plan, then apply: converge the servers to git. Exit 0 converged, 1 any action failed
    (the others still ran)."""
    manifests = load_manifests(opts.source()).require()
    code, _, _ = asyncio.run(
        run_apply(
            opts,
            manifests,
            yes=yes,
            prune=prune,
            max_deletes=max_deletes,
            only=set(only) if only else None,
            output_format=output_format,
        )
    )
    return code
