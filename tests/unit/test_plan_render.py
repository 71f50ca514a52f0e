"""The three renderings of a plan: text (closing line), markdown (summary first), JSON (keys)."""

from __future__ import annotations

import json

from reconciler.plan import (
    Action,
    Plan,
    Unmanaged,
    plan_json,
    render_markdown,
    render_text,
)
from reconciler.plan.render import action_from_json

REV = "a" * 40
ACTIONS = (
    Action("platform.build:p1", "platform.build", "Platform", "p1", "web1", "no codebase"),
    Action(
        "site.install:www.example.com",
        "site.install",
        "Site",
        "www.example.com",
        "web1",
        "declared in git, no site directory",
        depends_on=("platform.build:p1",),
    ),
    Action(
        "site.verify:b.example.com",
        "site.verify",
        "Site",
        "b.example.com",
        "web1",
        "settings.php mode is 0644, want 0440; db name is b_example_com",
    ),
    Action("site.delete:c.example.com", "site.delete", "Site", "c.example.com", "web1", "absent"),
)
PLAN = Plan(
    REV,
    ACTIONS,
    unmanaged=(Unmanaged("Site", "old.example.com", "web1", "/x"),),
    notes=("Platform p9: not deleted",),
)


def test_text() -> None:
    text = render_text(PLAN)
    lines = text.splitlines()
    assert "  + platform.build p1 on web1 — no codebase" in lines
    verify = "  ~ site.verify b.example.com on web1 — settings.php mode is 0644, want 0440; "
    assert any(line.startswith(verify) for line in lines)
    assert "  - site.delete c.example.com on web1 — absent" in lines
    assert "  Site old.example.com on web1" in lines
    assert "  ! Platform p9: not deleted" in lines
    assert lines[-1] == "Plan: 2 to add, 1 to change, 1 to delete."


def test_text_no_changes_and_incomplete() -> None:
    assert render_text(Plan(REV)).splitlines()[-2:] == [
        f"No changes. The servers match git at {REV[:12]}.",
        "Plan: 0 to add, 0 to change, 0 to delete.",
    ]
    lines = render_text(Plan(REV, unobserved=("web2",), notes=("web2 down",))).splitlines()
    assert lines[-2] == "The plan is incomplete: not observed: web2."
    assert lines[-1] == "Plan: 0 to add, 0 to change, 0 to delete."


def test_markdown_summary_first_details_folded() -> None:
    md = render_markdown(PLAN)
    first = md.splitlines()[0]
    assert first.startswith("**Plan: 2 to add, 1 to change, 1 to delete.**")
    assert md.index("<details>") < md.index("site.install") < md.index("</details>")
    assert "b\\_example\\_com" in md
    assert render_markdown(Plan(REV)).startswith(
        f"**Plan: 0 to add, 0 to change, 0 to delete.** (at `{REV[:12]}`) — no changes: the "
        "servers match git."
    )


def test_json_keys_are_the_contract() -> None:
    data = json.loads(json.dumps(plan_json(PLAN)))
    assert {"revision", "actions", "unmanaged", "summary"} <= set(data)
    assert data["revision"] == REV
    for action in data["actions"]:
        contract = {"id", "kind", "object", "server", "reason", "dependsOn"}
        assert contract <= set(action)
        assert set(action) - contract == {"path", "platform", "source"}  # for resuming
        assert action_from_json(action) in PLAN.actions
        assert set(action["object"]) == {"kind", "name"}
    assert data["actions"][1]["dependsOn"] == ["platform.build:p1"]
    assert data["unmanaged"] == [{"kind": "Site", "name": "old.example.com", "server": "web1"}]
    assert data["summary"] == {"add": 2, "change": 1, "delete": 1}
