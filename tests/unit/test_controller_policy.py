"""Which actions of a plan the controller applies: tables of plans against queue states."""

from __future__ import annotations

from typing import Literal

import pytest

from reconciler.controller.engine import only_sites
from reconciler.controller.policy import DRIFT_ONLY, action_key, objects_on, select
from reconciler.controller.workqueue import Backoff, WorkQueue
from reconciler.observe.models import ObservedPlatform, ObservedServer, ObservedSite
from reconciler.plan.model import Action, ActionKind, Plan
from unit.builders import check, platform, server, site

REV = "c" * 40
OTHER = "d" * 40


def act(kind: ActionKind, name: str, *deps: str) -> Action:
    object_kind: Literal["Site", "Platform"] = (
        "Platform" if kind.startswith("platform.") else "Site"
    )
    return Action(
        id=f"{kind}:{name}",
        kind=kind,
        object_kind=object_kind,
        object_name=name,
        server="web1",
        reason="because",
        depends_on=deps,
    )


BUILD = act("platform.build", "p1")
INSTALL_A = act("site.install", "a.example.com", "platform.build:p1")
INSTALL_B = act("site.install", "b.example.com", "platform.build:p1")
CLONE_C = act("site.clone", "c.example.com", "site.install:a.example.com")
VERIFY_D = act("site.verify", "d.example.com")
PLAN = Plan(REV, (BUILD, INSTALL_A, INSTALL_B, CLONE_C, VERIFY_D))


def fresh() -> WorkQueue:
    return WorkQueue(Backoff(1, 60), lambda: 100.0)


def ids(actions: tuple[Action, ...]) -> list[str]:
    return [a.id for a in actions]


def test_everything_selected_when_nothing_holds_it() -> None:
    chosen = select(PLAN, fresh(), self_heal=False, converged={})
    assert ids(chosen.apply) == ids(PLAN.actions)
    assert chosen.held == {}
    assert chosen.keys == sorted(action_key(a) for a in PLAN.actions)


@pytest.mark.parametrize(
    ("state", "held"),
    [
        pytest.param(
            "processing",
            {
                "platform.build:p1": "in progress",
                "site.install:a.example.com": "waits for platform.build:p1",
                "site.install:b.example.com": "waits for platform.build:p1",
                "site.clone:c.example.com": "waits for site.install:a.example.com",
            },
            id="a dependency in progress holds its users, transitively",
        ),
        pytest.param(
            "transient",
            {
                "platform.build:p1": "transient failure #1: retried in backoff",
                "site.install:a.example.com": "waits for platform.build:p1",
                "site.install:b.example.com": "waits for platform.build:p1",
                "site.clone:c.example.com": "waits for site.install:a.example.com",
            },
            id="backoff",
        ),
    ],
)
def test_held_dependencies(state: str, held: dict[str, str]) -> None:
    queue = fresh()
    queue.add("Platform/p1")
    queue.start("Platform/p1")
    if state == "transient":
        queue.done("Platform/p1", "transient", REV)
    chosen = select(PLAN, queue, self_heal=True, converged={})
    assert chosen.held == held
    assert ids(chosen.apply) == ["site.verify:d.example.com"]


def test_a_permanent_failure_holds_at_its_revision_only() -> None:
    queue = fresh()
    queue.add("Site/a.example.com")
    queue.start("Site/a.example.com")
    queue.done("Site/a.example.com", "permanent", REV)
    chosen = select(PLAN, queue, self_heal=True, converged={})
    assert set(chosen.held) == {"site.install:a.example.com", "site.clone:c.example.com"}
    assert "new commit" in chosen.held["site.install:a.example.com"]
    later = select(Plan(OTHER, PLAN.actions), queue, self_heal=True, converged={})
    assert later.held == {}


def test_the_journal_remembers_failures_from_before_a_restart() -> None:
    chosen = select(
        PLAN,
        fresh(),
        self_heal=True,
        converged={},
        failed_before=lambda action: action.id == "site.install:b.example.com",
    )
    assert list(chosen.held) == ["site.install:b.example.com"]


@pytest.mark.parametrize(
    ("self_heal", "converged_at", "applied"),
    [
        (True, REV, True),  # self-heal repairs drift
        (True, None, True),
        (False, None, True),  # never converged: the commit is being synced
        (False, OTHER, True),  # converged at an older commit: this commit syncs it
        (False, REV, False),  # drift on an object converged at this commit: reported only
    ],
)
def test_drift_and_self_heal(self_heal: bool, converged_at: str | None, applied: bool) -> None:
    converged = {"Site/d.example.com": converged_at} if converged_at else {}
    chosen = select(PLAN, fresh(), self_heal=self_heal, converged=converged)
    assert ("site.verify:d.example.com" in ids(chosen.apply)) is applied
    if not applied:
        assert chosen.held == {"site.verify:d.example.com": DRIFT_ONLY}


def test_objects_on_servers() -> None:
    manifests = check(
        [
            server("web1"),
            server("web2"),
            server("db1", services={"db": {"type": "mariadb"}, "http": {"type": "none"}}),
            platform("p1", "web1"),
            platform("p2", "web2"),
            site("a.example.com", "p1"),
            site("b.example.com", "p2"),
            site("c.example.com", "p2", db={"server": "db1"}),
        ]
    ).require()
    assert objects_on(manifests, ["web1"]) == ["Platform/p1", "Site/a.example.com"]
    assert objects_on(manifests, ["db1"]) == ["Site/c.example.com"]
    assert objects_on(manifests, []) == []


def test_only_sites_keeps_servers_and_platforms() -> None:
    def platform_with(*names: str) -> ObservedPlatform:
        sites = tuple(ObservedSite(name=n, path=f"/p/web/sites/{n}") for n in names)
        return ObservedPlatform(
            name="p1", path="/p", docroot="web", core_version="10.3.6", sites=sites
        )

    observed = [
        ObservedServer(
            "web1", True, user="aegir", home="/home/aegir", platforms=(platform_with("a", "b"),)
        ),
        ObservedServer("web2", False, error="down"),
    ]
    kept = only_sites(observed, {"b"})
    assert [s.name for s in kept] == ["web1", "web2"]
    assert kept[0].home == "/home/aegir" and kept[1].error == "down"
    assert [s.name for s in kept[0].platforms[0].sites] == ["b"]
    assert kept[0].site("a") is None and kept[0].site("b") is not None
