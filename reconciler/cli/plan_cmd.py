"""`reconciler plan`: validate + observe + diff; the ordered actions, each with its reason.

Exit codes (CONTRACT.md section 3): 0 nothing to do; 2 changes pending, with
`--detailed-exitcode` only (without it, 0); 1 an error. Errors include invalid or unreadable
manifests, a plan refused by `--max-deletes` (the refused plan is still printed, then the error),
and an incomplete plan: when a declared server could not be observed, nothing of it was planned,
so the plan is printed with a note naming the server and the exit code is 1, never 0 or 2 — CI must
not take "web2 was down" for "no changes" (nor apply a plan that saw half the servers).
"""

from __future__ import annotations

import json

import click

from reconciler.cli.observing import load_and_observe
from reconciler.cli.options import GlobalOptions, format_option, global_options, pass_globals
from reconciler.plan import Plan, PlanRefused, make_plan, plan_json, render_markdown, render_text

__all__ = ["plan"]


def _show(plan: Plan, output_format: str) -> None:
    if output_format == "json":
        click.echo(json.dumps(plan_json(plan), indent=2))
    elif output_format == "markdown":
        click.echo(render_markdown(plan), nl=False)
    else:
        click.echo(render_text(plan), nl=False)


@click.command()
@format_option("text", "markdown", "json")
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    default=False,
    help="Exit 2 when changes are pending (0: none, 1: error).",
)
@click.option(
    "--prune",
    is_flag=True,
    default=False,
    help="Plan the deletion of Unmanaged sites and platforms (on a server, not in git).",
)
@click.option(
    "--max-deletes",
    type=click.IntRange(min=0),
    default=5,
    show_default=True,
    metavar="N",
    help="Refuse a plan that deletes more than N sites and platforms.",
)
@global_options
@pass_globals
def plan(
    opts: GlobalOptions,
    output_format: str,
    detailed_exitcode: bool,
    prune: bool,
    max_deletes: int,
) -> int:
    """Show what apply would do, and why: the ordered actions and `Plan: N to add, ...`.

    Exit code: 0 no changes, 2 changes pending (with --detailed-exitcode), 1 an error, a plan
    refused by --max-deletes, or a server that could not be observed (the plan is incomplete;
    it is still printed).
    """
    manifests, servers = load_and_observe(opts)
    try:
        result = make_plan(manifests, servers, prune=prune, max_deletes=max_deletes)
    except PlanRefused as refused:
        _show(refused.plan, output_format)
        click.echo(f"error: plan refused: {refused.message}", err=True)
        if refused.hint:
            click.echo(f"  hint: {refused.hint}", err=True)
        return 1
    _show(result, output_format)
    if not result.complete:
        click.echo(
            "error: the plan is incomplete: not observed: " + ", ".join(result.unobserved),
            err=True,
        )
        return 1
    return 2 if detailed_exitcode and result.has_changes else 0
