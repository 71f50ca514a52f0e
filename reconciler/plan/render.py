"""A plan shown to people and programs: text like Terraform's, markdown for a pull request, JSON.

Pure: each renderer takes a `Plan` and returns a string (or JSON-ready data). A plan holds no
secret, so nothing here needs redacting.
"""

from __future__ import annotations

import re
from typing import Any

from reconciler.plan.model import Action, Plan

__all__ = [
    "SYMBOLS",
    "action_from_json",
    "closing_line",
    "plan_json",
    "render_markdown",
    "render_text",
]

SYMBOLS = {"add": "+", "change": "~", "delete": "-"}
_MD_SPECIAL_RE = re.compile(r"([\\`*_{}\[\]<>|#])")


def closing_line(plan: Plan) -> str:
    """CONTRACT.md's `Plan: N to add, N to change, N to delete.`, after a "No changes" line when
    a complete plan has nothing to do (so the summary line is always the last line)."""
    s = plan.summary
    summary = f"Plan: {s.add} to add, {s.change} to change, {s.delete} to delete."
    if not plan.actions and plan.complete:
        return f"No changes. The servers match git at {_short(plan.revision)}.\n{summary}"
    return summary


def _short(revision: str) -> str:
    return revision[:12] if re.fullmatch(r"[0-9a-f]{40,64}", revision) else revision


def _line(action: Action) -> str:
    symbol = SYMBOLS[action.change]
    return f"  {symbol} {action.kind} {action.object_name} on {action.server} — {action.reason}"


def render_text(plan: Plan) -> str:
    """Every action with its reason, unmanaged objects, notes, then the closing line."""
    out: list[str] = []
    if plan.actions:
        out.append(f"The plan at {_short(plan.revision)}, in the order apply runs it:")
        out.append("")
        out += [_line(a) for a in plan.actions]
        out.append("")
    if plan.unmanaged:
        out.append("Unmanaged (on a server, not in git; left alone unless --prune):")
        out += [f"  {u.kind} {u.name} on {u.server}" for u in plan.unmanaged]
        out.append("")
    if plan.notes:
        out.append("Notes:")
        out += [f"  ! {note}" for note in plan.notes]
        out.append("")
    if not plan.complete:
        servers = ", ".join(plan.unobserved)
        out.append(f"The plan is incomplete: not observed: {servers}.")
    out.append(closing_line(plan))
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return _MD_SPECIAL_RE.sub(r"\\\1", text)


def render_markdown(plan: Plan) -> str:
    """For a pull-request comment: the summary line first, the details folded below it."""
    summary = closing_line(plan).splitlines()[-1]
    headline = f"**{summary}** (at `{_short(plan.revision)}`)"
    if not plan.actions and plan.complete:
        headline += " — no changes: the servers match git."
    if not plan.complete:
        headline += f" — incomplete: not observed: {', '.join(plan.unobserved)}"
    out = [headline, ""]
    if plan.actions:
        count = len(plan.actions)
        out += [
            "<details>",
            f"<summary>{count} action{'s' if count != 1 else ''}, in the order apply runs them"
            "</summary>",
            "",
        ]
        for a in plan.actions:
            out.append(
                f"- `{SYMBOLS[a.change]} {a.kind}` `{a.object_name}` on `{a.server}` — "
                f"{_md(a.reason)}"
            )
        out += ["", "</details>", ""]
    if plan.unmanaged:
        out += [
            "<details>",
            f"<summary>{len(plan.unmanaged)} unmanaged (not in git; left alone unless --prune)"
            "</summary>",
            "",
        ]
        out += [f"- {u.kind} `{u.name}` on `{u.server}`" for u in plan.unmanaged]
        out += ["", "</details>", ""]
    if plan.notes:
        out += ["Notes:", ""]
        out += [f"- {_md(note)}" for note in plan.notes]
        out.append("")
    return "\n".join(out)


def plan_json(plan: Plan) -> dict[str, Any]:
    """CONTRACT.md's plan document; `notes`, `unobserved` and each action's `path`, `platform`
    and `source` are additions (apply resumes an interrupted action from them)."""
    s = plan.summary
    return {
        "revision": plan.revision,
        "actions": [
            {
                "id": a.id,
                "kind": a.kind,
                "object": {"kind": a.object_kind, "name": a.object_name},
                "server": a.server,
                "reason": a.reason,
                "dependsOn": list(a.depends_on),
                "path": a.path,
                "platform": a.platform,
                "source": a.source,
            }
            for a in plan.actions
        ],
        "unmanaged": [{"kind": u.kind, "name": u.name, "server": u.server} for u in plan.unmanaged],
        "summary": {"add": s.add, "change": s.change, "delete": s.delete},
        "notes": list(plan.notes),
        "unobserved": list(plan.unobserved),
    }


def action_from_json(data: dict[str, Any]) -> Action:
    """An action of `plan_json`'s document, as a journal keeps it (for resuming)."""
    obj = data["object"]
    return Action(
        id=str(data["id"]),
        kind=data["kind"],
        object_kind="Site" if obj["kind"] == "Site" else "Platform",
        object_name=str(obj["name"]),
        server=str(data["server"]),
        reason=str(data.get("reason", "")),
        depends_on=tuple(data.get("dependsOn", ())),
        path=data.get("path"),
        platform=data.get("platform"),
        source=data.get("source"),
    )
