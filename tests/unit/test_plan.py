"""`make_plan` as tables of cases: manifests from the builders, observed servers built by hand."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.manifests.names import database_name
from reconciler.observe.models import (
    ObservedDatabase,
    ObservedModes,
    ObservedPlatform,
    ObservedServer,
    ObservedSite,
    ObservedVhost,
)
from reconciler.plan import Plan, PlanRefused, core_older, make_plan
from unit.builders import check, platform, server, site

P1 = "/var/aegir/platforms/p1"
P2 = "/var/aegir/platforms/p2"
NAME = "www.example.com"
GOOD_MODES = ObservedModes(site_dir="0550", settings="0440", files="2770", private="2770")
VHOSTS = "/etc/nginx/sites-enabled"


def good_site(name: str = NAME, base: str = P1, **changes: Any) -> ObservedSite:
    values: dict[str, Any] = {
        "name": name,
        "path": f"{base}/web/sites/{name}",
        "database": ObservedDatabase(
            driver="mysql",
            name=database_name(name),
            host="127.0.0.1",
            port=3306,
            username=database_name(name),
        ),
        "modes": GOOD_MODES,
    }
    values.update(changes)
    return ObservedSite(**values)


def codebase(
    name: str | None,
    base: str,
    *sites: ObservedSite,
    version: str = "10.3.6",
    exists: bool = True,
) -> ObservedPlatform:
    return ObservedPlatform(
        name=name,
        path=base,
        docroot="web" if exists else None,
        core_version=version if exists else None,
        sites=sites,
        exists=exists,
    )


def vhost(name: str = NAME, base: str = P1, *, disabled: bool = False) -> ObservedVhost:
    return ObservedVhost(
        path=f"{VHOSTS}/{name}.conf",
        size=100,
        mode="0644",
        server_names=(name,),
        root=None if disabled else f"{base}/web",
    )


def web1(*codebases: ObservedPlatform, vhosts: tuple[ObservedVhost, ...] = ()) -> ObservedServer:
    return ObservedServer(
        name="web1", reachable=True, user="aegir", platforms=codebases, vhosts=vhosts
    )


def plan_of(docs: list[dict[str, Any]], observed: list[ObservedServer], **kw: Any) -> Plan:
    return make_plan(check(docs).require(), observed, **kw)


def rows(plan: Plan) -> list[tuple[str, str]]:
    return [(a.kind, a.object_name) for a in plan.actions]


SYNCED = [web1(codebase("p1", P1, good_site()), vhosts=(vhost(),))]

# case, manifests, observed, the (kind, name) rows in order, a text the first reason holds
CASES: list[tuple[str, list[dict[str, Any]], list[ObservedServer], list[tuple[str, str]], str]] = [
    ("in sync", [server(), platform(), site()], SYNCED, [], ""),
    (
        "platform and site missing: build before install",
        [server(), platform(), site()],
        [web1(codebase("p1", P1, exists=False))],
        [("platform.build", "p1"), ("site.install", NAME)],
        "no Drupal codebase on web1 at /var/aegir/platforms/p1",
    ),
    (
        "site missing on a present platform",
        [server(), platform(), site()],
        [web1(codebase("p1", P1))],
        [("site.install", NAME)],
        "declared in git, no site directory on web1 under /var/aegir/platforms/p1",
    ),
    (
        "settings.php mode drift",
        [server(), platform(), site()],
        [
            web1(
                codebase(
                    "p1",
                    P1,
                    good_site(modes=ObservedModes("0550", "0644", "2770", "2770")),
                ),
                vhosts=(vhost(),),
            )
        ],
        [("site.verify", NAME)],
        "settings.php mode is 0644, want 0440",
    ),
    (
        "vhost missing",
        [server(), platform(), site()],
        [web1(codebase("p1", P1, good_site()))],
        [("site.verify", NAME)],
        f"vhost {VHOSTS}/{NAME}.conf is missing",
    ),
    (
        "adopted database names are what is wanted",
        [server(), platform(), site(db={"name": "legacy", "user": "legacy_u"})],
        [
            web1(
                codebase(
                    "p1",
                    P1,
                    good_site(
                        database=ObservedDatabase(
                            "mysql", "legacy", "127.0.0.1", "3306", "legacy_u"
                        )
                    ),
                ),
                vhosts=(vhost(),),
            )
        ],
        [],
        "",
    ),
    (
        "disabled declared, live vhost",
        [server(), platform(), site(state="disabled")],
        SYNCED,
        [("site.disable", NAME)],
        "state: disabled",
    ),
    (
        "present declared, disabled vhost",
        [server(), platform(), site()],
        [web1(codebase("p1", P1, good_site()), vhosts=(vhost(disabled=True),))],
        [("site.enable", NAME)],
        "answers 503",
    ),
    (
        "disabled declared and disabled vhost",
        [server(), platform(), site(state="disabled")],
        [web1(codebase("p1", P1, good_site()), vhosts=(vhost(disabled=True),))],
        [],
        "",
    ),
    (
        "absent declared and still there",
        [server(), platform(), site(state="absent")],
        SYNCED,
        [("site.delete", NAME)],
        "declared absent; still on web1",
    ),
    (
        "absent declared and gone",
        [server(), platform(), site(state="absent")],
        [web1(codebase("p1", P1))],
        [],
        "",
    ),
    (
        "site on another platform: upgrade",
        [server(), platform(), platform("p2"), site(platform="p2")],
        [
            web1(
                codebase("p1", P1, good_site(), version="10.2.8"),
                codebase("p2", P2, version="10.3.6"),
                vhosts=(vhost(),),
            )
        ],
        [("site.upgrade", NAME)],
        "on platform p1 (web1, core 10.2.8), declared p2 (web1, core 10.3.6)",
    ),
    (
        "upgrade to an older core refused",
        [server(), platform(), platform("p2"), site(platform="p2")],
        [
            web1(
                codebase("p1", P1, good_site(), version="10.3.6"),
                codebase("p2", P2, version="10.2.8"),
            )
        ],
        [],
        "",
    ),
    (
        "platform absent with its last site absent: site delete then platform delete",
        [server(), platform(state="absent"), site(state="absent")],
        SYNCED,
        [("site.delete", NAME), ("platform.delete", "p1")],
        "declared absent; still on web1",
    ),
    (
        "platform absent while an unmanaged site is on it: refused",
        [server(), platform(state="absent")],
        [web1(codebase("p1", P1, good_site("old.example.com")))],
        [],
        "",
    ),
    (
        "unmanaged site without prune: listed only",
        [server(), platform(), site()],
        [web1(codebase("p1", P1, good_site(), good_site("old.example.com")), vhosts=(vhost(),))],
        [],
        "",
    ),
    (
        "clone of a site installed in the same plan",
        [
            server(),
            platform(),
            site("a.example.com"),
            site("b.example.com", cloneFrom="a.example.com"),
        ],
        [web1(codebase("p1", P1))],
        [("site.install", "a.example.com"), ("site.clone", "b.example.com")],
        "no site directory on web1",
    ),
    (
        "locked platform: no install",
        [server(), platform(locked=True), site()],
        [web1(codebase("p1", P1))],
        [],
        "",
    ),
    (
        "existing platform missing: nothing to build, no install",
        [server(), platform(source={"existing": True}), site()],
        [web1(codebase("p1", P1, exists=False))],
        [],
        "",
    ),
]


@pytest.mark.parametrize(
    ("case", "docs", "observed", "expected", "text"), CASES, ids=[c[0] for c in CASES]
)
def test_make_plan(
    case: str,
    docs: list[dict[str, Any]],
    observed: list[ObservedServer],
    expected: list[tuple[str, str]],
    text: str,
) -> None:
    plan = plan_of(docs, observed)
    assert rows(plan) == expected, plan
    for action in plan.actions:
        assert action.reason
        if text and action.object_name == expected[0][1]:
            assert text in action.reason, action.reason
    assert plan.complete


def test_another_database_name_is_a_note_never_a_repair() -> None:
    # the site's data is in the database settings.php names: pointing it at the generated
    # name would show an empty site
    seen = good_site(database=ObservedDatabase("mysql", "other", "127.0.0.1", 3306, "other"))
    plan = plan_of(
        [server(), platform(), site()], [web1(codebase("p1", P1, seen), vhosts=(vhost(),))]
    )
    assert plan.actions == ()
    (note,) = plan.notes
    assert f"settings.php names database other, git wants {database_name(NAME)}" in note
    assert "db: {name: other, user: other}" in note


def test_one_verify_lists_every_reason() -> None:
    drifted = good_site(
        modes=ObservedModes("0750", "0666", "0755", None),
        owners={"settings": "root:root"},
    )
    plan = plan_of([server(), platform(), site()], [web1(codebase("p1", P1, drifted))])
    (action,) = plan.actions
    assert action.id == f"site.verify:{NAME}"
    for text in (
        "site directory mode is 0750, want 0550",
        "settings.php mode is 0666, want 0440",
        "settings.php owner is root, want aegir",
        "settings.php group is root, want www-data",
        "files/ mode is 0755, want 2770",
        "private/ is missing",
        "vhost /etc/nginx/sites-enabled/www.example.com.conf is missing",
    ):
        assert text in action.reason
    assert plan.summary.change == 1


def test_dependencies_and_ids() -> None:
    plan = plan_of(
        [
            server(),
            platform(),
            site("a.example.com"),
            site("b.example.com", cloneFrom="a.example.com"),
        ],
        [web1(codebase("p1", P1, exists=False))],
    )
    ids = [a.id for a in plan.actions]
    assert ids == ["platform.build:p1", "site.install:a.example.com", "site.clone:b.example.com"]
    by_id = {a.id: a for a in plan.actions}
    assert by_id["site.install:a.example.com"].depends_on == ("platform.build:p1",)
    assert by_id["site.clone:b.example.com"].depends_on == (
        "platform.build:p1",
        "site.install:a.example.com",
    )
    for index, action in enumerate(plan.actions):
        assert set(action.depends_on) <= set(ids[:index])
    assert plan.summary.add == 3


def test_refusals_are_notes() -> None:
    plan = plan_of(
        [server(), platform(), platform("p2"), site(platform="p2")],
        [web1(codebase("p1", P1, good_site()), codebase("p2", P2, version="9.5.11"))],
    )
    assert not plan.actions
    assert any("upgrade refused" in n and "older core" in n for n in plan.notes)
    plan = plan_of(
        [server(), platform(state="absent")],
        [web1(codebase("p1", P1, good_site("old.example.com")))],
    )
    assert any("not deleted" in n and "old.example.com" in n for n in plan.notes)
    assert [(u.kind, u.name) for u in plan.unmanaged] == [("Site", "old.example.com")]


def test_prune_deletes_unmanaged() -> None:
    observed = [
        web1(
            codebase("p1", P1, good_site(), good_site("old.example.com")),
            codebase(
                None,
                "/var/aegir/platforms/stale",
                good_site("x.example.com", "/var/aegir/platforms/stale"),
            ),
            vhosts=(vhost(),),
        )
    ]
    docs = [server(), platform(), site()]
    assert plan_of(docs, observed).actions == ()
    plan = plan_of(docs, observed, prune=True)
    assert rows(plan) == [
        ("site.delete", "old.example.com"),
        ("site.delete", "x.example.com"),
        ("platform.delete", "/var/aegir/platforms/stale"),
    ]
    assert plan.actions[-1].depends_on == ("site.delete:x.example.com",)
    assert plan.summary.delete == 3
    assert {(u.kind, u.name) for u in plan.unmanaged} == {
        ("Site", "old.example.com"),
        ("Site", "x.example.com"),
        ("Platform", "/var/aegir/platforms/stale"),
    }


def test_max_deletes_refuses_the_plan() -> None:
    docs: list[dict[str, Any]] = [server(), platform()]
    sites = [good_site(f"s{i}.example.com") for i in range(3)]
    docs += [site(s.name, state="absent") for s in sites]
    observed = [web1(codebase("p1", P1, *sites))]
    assert len(plan_of(docs, observed, max_deletes=3).actions) == 3
    with pytest.raises(PlanRefused) as caught:
        plan_of(docs, observed, max_deletes=2)
    assert "--max-deletes 2" in caught.value.message
    assert "--max-deletes 3" in caught.value.hint
    assert len(caught.value.plan.deletes()) == 3


def test_unreachable_server_is_not_planned() -> None:
    docs = [server(), server("web2"), platform(), platform("p2", server="web2"), site()]
    docs.append(site("b.example.com", platform="p2"))
    observed = [
        web1(codebase("p1", P1)),
        ObservedServer(name="web2", reachable=False, error="connection refused"),
    ]
    plan = plan_of(docs, observed)
    assert rows(plan) == [("site.install", NAME)]
    assert plan.unobserved == ("web2",)
    assert not plan.complete
    assert any("web2" in n and "connection refused" in n and "not planned" in n for n in plan.notes)


def test_deterministic() -> None:
    docs = [server(), platform(), *(site(f"s{i}.example.com") for i in (3, 1, 2))]
    observed = [web1(codebase("p1", P1, exists=False))]
    first = plan_of(docs, observed)
    assert first == plan_of(docs, observed)
    assert [a.object_name for a in first.actions] == [
        "p1",
        "s1.example.com",
        "s2.example.com",
        "s3.example.com",
    ]


@pytest.mark.parametrize(
    ("target", "current", "older"),
    [
        ("10.2.8", "10.3.6", True),
        ("10.3.6", "10.3.6", False),
        ("11.0.0-rc1", "10.3.6", False),
        (None, "10.3.6", False),
        ("9.5.11", "10.0.0", True),
    ],
)
def test_core_older(target: str | None, current: str | None, older: bool) -> None:
    assert core_older(target, current) is older
