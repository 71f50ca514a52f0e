"""The dashboard page (`reconciler.api.dashboard`) and its routes, read back as a browser would.

A table of status documents (full, empty, no plan, nothing to do, hostile names and errors, a
controller that cannot read its source) is rendered and parsed with the standard library's
`html.parser`; the assertions are on what the page shows: its sections, the rows of sites with
their `data-` attributes, the states as words, the escaping of untrusted text, the reload, and a
stylesheet whose hash is the one the Content-Security-Policy allows.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from reconciler.api.dashboard import CONTENT_SECURITY_POLICY, REFRESH_SECONDS, render_dashboard
from reconciler.api.server import SimpleApiState, make_app
from reconciler.journal.model import RunSummary
from unit.htmlpage import parse_page

NOW = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)
TAKEN = NOW - timedelta(seconds=2)
HOSTILE = '<script>alert("x")</script>&amp;\'"><img src=x onerror=alert(1)>'


def _site(name: str, sync: str, health: str | None, **more: Any) -> dict[str, Any]:
    return {
        "name": name,
        "server": "h01",
        "platform": "std",
        "coreVersion": "10.3.6",
        "sync": sync,
        "health": health,
        "reason": "",
        "lastAction": None,
        "lastCron": None,
        "retry": None,
        "stats": {},
        **more,
    }


def _last(kind: str, result: str, error: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "result": result, "error": error, "at": "2024-05-01T12:00:10.000000Z"}


def _plan(*actions: dict[str, Any], add: int = 0) -> dict[str, Any]:
    return {
        "revision": "f" * 40,
        "actions": list(actions),
        "unmanaged": [],
        "summary": {"add": add, "change": 0, "delete": 0},
        "notes": [],
        "unobserved": [],
    }


def _action(kind: str, name: str, reason: str, **more: Any) -> dict[str, Any]:
    obj = {"kind": "Site", "name": name}
    return {
        "id": f"{kind}:{name}",
        "kind": kind,
        "object": obj,
        "server": "h01",
        "reason": reason,
        "dependsOn": [],
        **more,
    }


def _controller(**more: Any) -> dict[str, Any]:
    base = {
        "revision": "f" * 40,
        "ready": True,
        "leading": True,
        "sourceError": None,
        "planRefused": None,
        "held": {},
    }
    return {**base, **more}


FULL: dict[str, Any] = {
    "revision": "f" * 40,
    "servers": [
        {"name": "h01", "reachable": True, "error": None},
        {"name": "h04", "reachable": False, "error": "ssh: connect: Connection refused"},
    ],
    "platforms": [
        {
            "name": "std",
            "server": "h01",
            "coreVersion": "10.3.6",
            "sync": "Synced",
            "health": "Healthy",
            "reason": "",
            "lastAction": _last("platform.install", "succeeded"),
            "modules": [],
        },
    ],
    "sites": [
        _site("a.example.com", "Synced", "Healthy", lastAction=_last("site.install", "succeeded")),
        _site(
            "b.example.com",
            "Synced",
            "Failed",
            reason="last site.upgrade failed: updatedb",
            lastAction=_last("site.upgrade", "failed", "updatedb failed\nline 2 of the output"),
            retry={"attempts": 3, "nextAt": "2024-05-01T12:00:40.000000Z"},
        ),
        _site("c.example.com", "Missing", None, server="h04", reason="not installed"),
    ],
    "unmanaged": [{"kind": "Site", "name": "old.example.com", "server": "h01", "path": "/p/old"}],
    "pendingPlan": _plan(
        _action(
            "site.install", "c.example.com", "declared, not on h04", source="https://u:s3cret@git"
        ),
        add=1,
    ),
    "controller": _controller(held={"site.install:c.example.com": "server h04 unreachable"}),
}
RUNS = (
    RunSummary(
        2,
        "a" * 40,
        "controller",
        "failed",
        "2024-05-01T12:00:00.000000Z",
        "2024-05-01T12:00:05.000000Z",
        3,
        1,
    ),
    RunSummary(1, "b" * 40, "cron", "running", "2024-05-01T11:59:00.000000Z", None, 1, 0),
)
SECTIONS = ("servers", "platforms", "sites", "unmanaged", "plan", "runs")


def test_full_document_every_section_and_every_site_with_its_state() -> None:
    page = parse_page(render_dashboard(FULL, RUNS, NOW, taken_at=TAKEN))
    assert all(page.section(ident) for ident in SECTIONS)
    assert page.headings == [
        "reconciler",
        "Servers",
        "Platforms",
        "Sites",
        "Unmanaged",
        "Pending plan",
        "Recent runs",
    ]
    sites = page.find("site", "sites")
    assert {n: (r.data["sync"], r.data["health"]) for n, r in sites.items()} == {
        "a.example.com": ("Synced", "Healthy"),
        "b.example.com": ("Synced", "Failed"),
        "c.example.com": ("Missing", "unknown"),
    }
    b = sites["b.example.com"]
    assert b.data["last-result"] == "failed"
    assert b.cells[:6] == ["b.example.com", "h01", "std", "10.3.6", "Synced", "Failed"]
    assert b.cells[6] == "last site.upgrade failed: updatedb"
    assert "site.upgrade failed" in b.cells[7] and "line 2 of the output" in b.cells[7]
    assert b.cells[9].startswith("attempt 3, next 2024-05-01 12:00:40Z (in 10 s)")
    assert sites["c.example.com"].cells[5] == "unknown"  # a state in words, not only colour
    servers = page.find("server", "servers")
    assert servers["h04"].data["reachable"] == "unreachable"
    assert servers["h04"].cells == ["h04", "unreachable", "ssh: connect: Connection refused"]
    assert page.find("platform", "platforms")["std"].cells[3:5] == ["Synced", "Healthy"]
    unmanaged = page.find("unmanaged")["old.example.com"]
    assert unmanaged.cells == ["old.example.com", "Site", "h01", "/p/old"]
    action = page.find("action")["site.install:c.example.com"]
    assert action.cells[1:] == [
        "site.install",
        "Site c.example.com",
        "h01",
        "declared, not on h04",
        "server h04 unreachable",
    ]
    assert "Plan: 1 to add, 0 to change, 0 to delete." in page.text
    runs = page.find("run")
    assert runs["2"].cells[:4] == ["2", "a" * 12, "controller", "failed"]
    assert runs["2"].cells[6] == "3 1 failed"
    assert runs["1"].cells[5] == "running"
    assert "Data taken at 2024-05-01 12:00:28Z, 2 s before this page was served" in page.text
    assert (
        "3 sites · sync: Synced 2, Missing 1 · health: Healthy 1, Failed 1, unknown 1" in page.text
    )
    assert page.title == f"reconciler · {'f' * 12}"


def test_no_secret_and_nothing_loaded_from_elsewhere() -> None:
    html = render_dashboard(FULL, RUNS, NOW, taken_at=TAKEN)
    page = parse_page(html)
    assert "s3cret" not in html  # an action's source URL is not shown
    assert not page.attrs("script")
    loading = {"src", "href", "action", "srcset", "poster", "data", "background"}
    assert [(t, a) for t, a in page.tags if loading & a.keys()] == []
    assert not any(k.startswith("on") for _, attrs in page.tags for k in attrs)


@pytest.mark.parametrize("where", ["site", "error", "server", "plan", "run"])
def test_hostile_text_is_escaped_wherever_it_appears(where: str) -> None:
    doc: dict[str, Any] = {**FULL, "servers": [], "pendingPlan": None}
    runs: tuple[RunSummary, ...] = ()
    if where == "site":
        doc["sites"] = [_site(HOSTILE, HOSTILE, HOSTILE, platform=HOSTILE, reason=HOSTILE)]
    elif where == "error":
        doc["sites"] = [
            _site(
                "e.example.com", "Synced", "Failed", lastAction=_last(HOSTILE, HOSTILE, HOSTILE * 3)
            )
        ]
    elif where == "server":
        doc["servers"] = [{"name": HOSTILE, "reachable": False, "error": HOSTILE}]
    elif where == "plan":
        doc["pendingPlan"] = {**_plan(_action(HOSTILE, HOSTILE, HOSTILE)), "notes": [HOSTILE]}
        doc["controller"] = _controller(held={f"{HOSTILE}:{HOSTILE}": HOSTILE})
    else:
        runs = (RunSummary(1, HOSTILE, HOSTILE, "failed", HOSTILE, HOSTILE, 0, 0),)
    html = render_dashboard(doc, runs, NOW, taken_at=TAKEN)
    page = parse_page(html)
    assert "<script>" not in html and "<img" not in html
    assert [t for t, _ in page.tags if t in ("script", "img")] == []
    assert not any(k.startswith("on") for _, attrs in page.tags for k in attrs)
    assert HOSTILE in page.text  # shown as the very text it is
    if where == "site":
        row = page.find("site")[HOSTILE]  # an attribute value round-trips too
        assert (row.data["sync"], row.data["health"], row.data["platform"]) == (HOSTILE,) * 3
        assert row.cells[0] == " ".join(HOSTILE.split())


def test_empty_state_before_anything_is_published() -> None:
    page = parse_page(render_dashboard(SimpleApiState().status_json(), (), NOW))
    assert all(page.section(ident) for ident in SECTIONS)
    for empty in (
        "No data published yet.",
        "No servers declared.",
        "No platforms declared.",
        "No sites declared.",
        "Nothing unmanaged found.",
        "No plan yet.",
        "No runs recorded yet.",
    ):
        assert empty in page.text
    assert page.rows == []
    assert "Commit none yet" in page.text
    assert page.title == "reconciler · no commit yet"


@pytest.mark.parametrize(
    ("controller", "shown"),
    [
        (_controller(ready=False, leading=False), "not ready (first observe running)"),
        (_controller(leading=False), "standing by (another controller leads)"),
        (_controller(sourceError="git fetch: <refused>"), "Source error: git fetch: <refused>"),
        (_controller(planRefused="7 deletes > --max-deletes 5"), "Plan refused: 7 deletes"),
    ],
)
def test_controller_state_is_said(controller: dict[str, Any], shown: str) -> None:
    page = parse_page(render_dashboard({**FULL, "controller": controller}, (), NOW, taken_at=TAKEN))
    assert shown in page.text


def test_a_plan_with_nothing_to_do() -> None:
    doc = {**FULL, "pendingPlan": _plan()}
    page = parse_page(render_dashboard(doc, (), NOW, taken_at=TAKEN))
    assert "No changes. The servers match git at ffffffffffff." in page.text
    assert "Nothing to do." in page.text
    assert page.find("action") == {}


@pytest.mark.parametrize("refresh", [REFRESH_SECONDS, 30])
def test_the_page_reloads_itself(refresh: int) -> None:
    page = parse_page(render_dashboard(FULL, RUNS, NOW, taken_at=TAKEN, refresh=refresh))
    metas = [a for a in page.attrs("meta") if a.get("http-equiv") == "refresh"]
    assert metas == [{"http-equiv": "refresh", "content": str(refresh)}]
    assert f"it reloads every {refresh} s" in page.text
    assert [a.get("datetime") for a in page.attrs("time") if a.get("id") == "taken-at"] == [
        "2024-05-01T12:00:28.000000Z"
    ]


def test_the_policy_allows_exactly_the_page_s_stylesheet() -> None:
    page = parse_page(render_dashboard(FULL, RUNS, NOW, taken_at=TAKEN))
    digest = base64.b64encode(hashlib.sha256(page.style.encode()).digest()).decode()
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives == {
        "default-src": "'none'",
        "style-src": f"'sha256-{digest}'",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
    }
    assert not re.search(r"unsafe|script-src|\*", CONTENT_SECURITY_POLICY)


def test_routes_serve_the_page_read_only() -> None:
    state = SimpleApiState(status=FULL, runs=RUNS, taken_at=TAKEN)

    async def never(branch: str | None) -> None:
        raise AssertionError("no webhook here")

    async def main() -> None:
        app = make_app(state, webhook_secret=None, on_webhook=never)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            for path in ("/", "/dashboard"):
                answer = await client.get(path)
                assert answer.status == 200
                assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
                assert answer.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
                assert answer.headers["Cache-Control"] == "no-store"
                assert answer.headers["X-Content-Type-Options"] == "nosniff"
                assert answer.headers["X-Frame-Options"] == "DENY"
                page = parse_page(await answer.text())
                assert set(page.find("site")) == {s["name"] for s in FULL["sites"]}
                assert set(page.find("run")) == {"1", "2"}
            for method in ("POST", "PUT", "DELETE"):
                assert (await client.request(method, "/")).status == 405

    asyncio.run(main())
