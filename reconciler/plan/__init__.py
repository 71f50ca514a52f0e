"""The plan: desired (git) against observed (servers) → ordered intents, each with its reason.

Pure, no I/O. `make_plan` builds it; `render_text`, `render_markdown` and `plan_json` show it.
"""

from __future__ import annotations

from reconciler.plan.drift import WANTED_MODES
from reconciler.plan.model import (
    ACTION_KINDS,
    Action,
    ActionKind,
    Change,
    Plan,
    PlanRefused,
    Summary,
    Unmanaged,
)
from reconciler.plan.order import core_older, order_actions
from reconciler.plan.planner import make_plan
from reconciler.plan.render import closing_line, plan_json, render_markdown, render_text

__all__ = [
    "ACTION_KINDS",
    "WANTED_MODES",
    "Action",
    "ActionKind",
    "Change",
    "Plan",
    "PlanRefused",
    "Summary",
    "Unmanaged",
    "closing_line",
    "core_older",
    "make_plan",
    "order_actions",
    "plan_json",
    "render_markdown",
    "render_text",
]
