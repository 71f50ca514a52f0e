"""Moves in `make_plan` as tables: a site's database on another server than its `db.server`
becomes a `site.upgrade` that moves it, never a `site.verify` pointing settings.php at a new,
empty database; a site moving to a platform on another server says where its database goes.

Manifests from the builders, observed servers built by hand (with their database listings).
"""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.apply.steps_for import work_for
from reconciler.manifests.names import database_name
from reconciler.observe.models import (
    ObservedDatabase,
    ObservedDbServer,
    ObservedModes,
    ObservedPlatform,
    ObservedServer,
    ObservedSite,
)
from reconciler.plan import Plan, make_plan
from reconciler.plan.drift import database_home, database_reasons
from reconciler.plan.model import Action
from unit.builders import check, platform, server, site
from unit.test_plan import NAME, P1, codebase, good_site, vhost

DB = database_name(NAME)
P2 = "/var/aegir/platforms/p2"
Docs = list[dict[str, Any]]


def db_server(name: str, host: str, port: int = 3306) -> dict[str, Any]:
    """A database-only server whose sites reach it at `host:port`."""
    return server(name, services={"db": {"type": "mariadb", "host": host, "port": port}})


def at(host: str, port: int | str = 3306, name: str = DB, **kw: Any) -> ObservedSite:
    """The site on p1 whose settings.php names database `name` at `host:port`."""
    return good_site(database=ObservedDatabase("mysql", name, host, port, name, **kw))


def listing(*databases: str, error: str | None = None) -> ObservedDbServer:
    return ObservedDbServer(databases=dict.fromkeys(databases, 1000), error=error)


def observed(
    name: str,
    *codebases: ObservedPlatform,
    holds: tuple[str, ...] = (),
    db: ObservedDbServer | None = None,
    reachable: bool = True,
) -> ObservedServer:
    """Server `name` as observed: its codebases, a vhost for every site on them, and its
    database listing (`holds`, or `db` as given)."""
    vhosts = tuple(vhost(s.name, p.path) for p in codebases for s in p.sites)
    return ObservedServer(
        name=name,
        reachable=reachable,
        error=None if reachable else "connection refused",
        user="aegir",
        platforms=codebases,
        vhosts=vhosts,
        database_server=db if db is not None else listing(*holds),
    )


def plan_of(docs: Docs, seen: list[ObservedServer]) -> Plan:
    return make_plan(check(docs).require(), seen)


def rows(plan: Plan) -> list[tuple[str, str, str]]:
    return [(a.kind, a.object_name, a.server) for a in plan.actions]


ONE = [server(), platform()]
"""web1 (nginx and MariaDB at 127.0.0.1:3306) with platform p1."""
DBS = [db_server("db1", "10.0.0.21"), db_server("db2", "10.0.0.22")]
"""Two database servers that web servers reach at their own addresses."""
UPGRADE = "site.upgrade"
VERIFY = "site.verify"

# case, manifests, observed, the (kind, site, server) rows, texts the first reason holds,
# texts a note holds (empty: no note at all)
PRESENT: list[tuple[str, Docs, list[ObservedServer], list[tuple[str, str, str]], str, str]] = [
    (
        "db.server changed from db1 to db2: a move",
        [*ONE, *DBS, site(db={"server": "db2"})],
        [
            observed("web1", codebase("p1", P1, at("10.0.0.21"))),
            observed("db1", holds=(DB,)),
            observed("db2"),
        ],
        [(UPGRADE, NAME, "web1")],
        "database moves from db1 to db2 (settings.php names "
        f"{DB} at 10.0.0.21:3306, on db1; declared on db2, db.server)",
        "",
    ),
    (
        "db.server removed: the database follows the platform's server back to web1",
        [*ONE, *DBS, site()],
        [
            observed("web1", codebase("p1", P1, at("10.0.0.21"))),
            observed("db1", holds=(DB,)),
            observed("db2"),
        ],
        [(UPGRADE, NAME, "web1")],
        "database moves from db1 to web1 (",
        "",
    ),
    (
        "from the web server's own MariaDB (127.0.0.1) to db2",
        [*ONE, *DBS, site(db={"server": "db2"})],
        [
            observed("web1", codebase("p1", P1, at("127.0.0.1")), holds=(DB,)),
            observed("db1"),
            observed("db2"),
        ],
        [(UPGRADE, NAME, "web1")],
        "database moves from web1 to db2",
        "",
    ),
    (
        "another port on the same host is another database server",
        [
            *ONE,
            db_server("db1", "10.0.0.21"),
            db_server("db2", "10.0.0.21", 3307),
            site(db={"server": "db2"}),
        ],
        [
            observed("web1", codebase("p1", P1, at("10.0.0.21", 3306))),
            observed("db1", holds=(DB,)),
            observed("db2"),
        ],
        [(UPGRADE, NAME, "web1")],
        f"database moves from db1 to db2 (settings.php names {DB} at 10.0.0.21:3306, on db1;",
        "",
    ),
    (
        "already moved: settings.php names db2",
        [*ONE, *DBS, site(db={"server": "db2"})],
        [
            observed("web1", codebase("p1", P1, at("10.0.0.22"))),
            observed("db1"),
            observed("db2", holds=(DB,)),
        ],
        [],
        "",
        "",
    ),
    (
        "the host in settings.php is no declared server's: nothing, and a note",
        [*ONE, *DBS, site(db={"server": "db2"})],
        [
            observed("web1", codebase("p1", P1, at("10.9.9.9"))),
            observed("db1", holds=(DB,)),
            observed("db2"),
        ],
        [],
        "",
        "settings.php names 10.9.9.9:3306, which no declared server's services.db is",
    ),
    (
        "the old server's databases could not be listed: nothing, and a note",
        [*ONE, *DBS, site(db={"server": "db2"})],
        [
            observed("web1", codebase("p1", P1, at("10.0.0.21"))),
            observed("db1", db=listing(error="Access denied for user 'rig_admin'")),
            observed("db2"),
        ],
        [],
        "",
        "could not be listed (db1: Access denied for user 'rig_admin')",
    ),
    (
        "the old server has no listing at all: nothing, and a note",
        [*ONE, *DBS, site(db={"server": "db2"})],
        [
            observed("web1", codebase("p1", P1, at("10.0.0.21"))),
            ObservedServer(name="db1", reachable=True, user="aegir"),
            observed("db2"),
        ],
        [],
        "",
        "could not be listed (db1: not observed)",
    ),
    (
        "the old server is unreachable: nothing, and a note",
        [*ONE, *DBS, site(db={"server": "db2"})],
        [
            observed("web1", codebase("p1", P1, at("10.0.0.21"))),
            observed("db1", reachable=False),
            observed("db2"),
        ],
        [],
        "",
        "its database is not touched: where it is cannot be told",
    ),
    (
        "the old server does not hold the database: nothing, and a note",
        [*ONE, *DBS, site(db={"server": "db2"})],
        [
            observed("web1", codebase("p1", P1, at("10.0.0.21"))),
            observed("db1", holds=("other",)),
            observed("db2", holds=(DB,)),
        ],
        [],
        "",
        f"database {DB} is not there",
    ),
    (
        "two declared servers at that address both hold it: nothing, and a note",
        [
            *ONE,
            db_server("db1", "10.0.0.21"),
            db_server("db1b", "10.0.0.21"),
            db_server("db2", "10.0.0.22"),
            site(db={"server": "db2"}),
        ],
        [
            observed("web1", codebase("p1", P1, at("10.0.0.21"))),
            observed("db1", holds=(DB,)),
            observed("db1b", holds=(DB,)),
            observed("db2"),
        ],
        [],
        "",
        f"database {DB} is on each of db1, db1b",
    ),
    (
        "127.0.0.1 on a web server whose own database has another address: nothing, a note",
        [
            server(services={"http": {"type": "nginx"}, "db": {"host": "10.0.0.11"}}),
            platform(),
            *DBS,
            site(db={"server": "db2"}),
        ],
        [
            observed("web1", codebase("p1", P1, at("127.0.0.1")), holds=(DB,)),
            observed("db1"),
            observed("db2"),
        ],
        [],
        "",
        "settings.php names 127.0.0.1:3306, which no declared server's services.db is "
        "(as seen from web1)",
    ),
    (
        "localhost for 127.0.0.1 on the same server: a verify rewriting the credentials",
        [*ONE, site()],
        [observed("web1", codebase("p1", P1, at("localhost")), holds=(DB,))],
        [(VERIFY, NAME, "web1")],
        "settings.php database host is localhost, want 127.0.0.1",
        "",
    ),
    (
        "modes drifted too: the move only (it rewrites settings.php and its modes)",
        [*ONE, *DBS, site(db={"server": "db2"})],
        [
            observed(
                "web1",
                codebase(
                    "p1",
                    P1,
                    ObservedSite(
                        name=NAME,
                        path=f"{P1}/web/sites/{NAME}",
                        database=ObservedDatabase("mysql", DB, "10.0.0.21", 3306, DB),
                        modes=ObservedModes("0550", "0644", "2770", "2770"),
                    ),
                ),
            ),
            observed("db1", holds=(DB,)),
            observed("db2"),
        ],
        [(UPGRADE, NAME, "web1")],
        "database moves from db1 to db2",
        "",
    ),
    (
        "modes drifted, the database cannot be located: a verify of the modes only",
        [*ONE, *DBS, site(db={"server": "db2"})],
        [
            observed(
                "web1",
                codebase(
                    "p1",
                    P1,
                    ObservedSite(
                        name=NAME,
                        path=f"{P1}/web/sites/{NAME}",
                        database=ObservedDatabase("mysql", DB, "10.9.9.9", 3306, DB),
                        modes=ObservedModes("0550", "0644", "2770", "2770"),
                    ),
                ),
            ),
            observed("db1"),
            observed("db2"),
        ],
        [(VERIFY, NAME, "web1")],
        "settings.php mode is 0644, want 0440",
        "its database is not touched: where it is cannot be told",
    ),
    (
        "the new database server could not be observed: nothing, and a note",
        [*ONE, *DBS, site(db={"server": "db2"})],
        [
            observed("web1", codebase("p1", P1, at("10.0.0.21"))),
            observed("db1", holds=(DB,)),
            observed("db2", reachable=False),
        ],
        [],
        "",
        "its database is not moved: its database server db2 could not be observed",
    ),
    (
        "the new database server's address is a loopback one of another machine: a note",
        [
            *ONE,
            db_server("db1", "10.0.0.21"),
            db_server("db2", "127.0.0.1"),
            site(db={"server": "db2"}),
        ],
        [
            observed("web1", codebase("p1", P1, at("10.0.0.21"))),
            observed("db1", holds=(DB,)),
            observed("db2"),
        ],
        [],
        "",
        "db2's services.db host is 127.0.0.1, a loopback address, which sites on web1 "
        "(another machine) cannot reach",
    ),
    (
        "settings.php computes its host at run time: not compared, nothing",
        [*ONE, *DBS, site(db={"server": "db2"})],
        [
            observed("web1", codebase("p1", P1, at("10.0.0.21", dynamic=("host",)))),
            observed("db1", holds=(DB,)),
            observed("db2"),
        ],
        [],
        "",
        "",
    ),
    (
        "a SQLite database, declared MariaDB: not converted, credentials left alone",
        [*ONE, site()],
        [
            observed(
                "web1",
                codebase(
                    "p1",
                    P1,
                    good_site(database=ObservedDatabase("sqlite", "sites/x/private/db.sqlite")),
                ),
            )
        ],
        [],
        "",
        "names a sqlite database, declared mariadb on web1; a database is not converted",
    ),
]


def _check(plan: Plan, expected: list[tuple[str, str, str]], text: str, note: str) -> None:
    assert rows(plan) == expected, plan
    if text:
        assert text in plan.actions[0].reason, plan.actions[0].reason
    if note:
        assert any(note in n for n in plan.notes), plan.notes
    else:
        assert plan.notes == (), plan.notes


@pytest.mark.parametrize(
    ("case", "docs", "seen", "expected", "text", "note"), PRESENT, ids=[c[0] for c in PRESENT]
)
def test_database_elsewhere(
    case: str,
    docs: Docs,
    seen: list[ObservedServer],
    expected: list[tuple[str, str, str]],
    text: str,
    note: str,
) -> None:
    plan = plan_of(docs, seen)
    _check(plan, expected, text, note)
    for action in plan.actions:
        if action.kind == UPGRADE:
            assert action.path == f"{P1}/web/sites/{NAME}"
            assert (action.platform, action.source) == ("p1", "p1")
            assert action.id == f"site.upgrade:{NAME}"


UNTOUCHED = [c for c in PRESENT if "settings.php database" not in c[4]]
"""The cases where the database settings must not be rewritten (all but the respelled host)."""


@pytest.mark.parametrize(
    ("case", "docs", "seen", "expected", "text", "note"), UNTOUCHED, ids=[c[0] for c in UNTOUCHED]
)
def test_verify_never_rewrites_credentials_of_a_database_elsewhere(
    case: str,
    docs: Docs,
    seen: list[ObservedServer],
    expected: list[tuple[str, str, str]],
    text: str,
    note: str,
) -> None:
    """The steps apply would run for a verify of the site (the planned one, or one forced by
    other drift): no new database and user, no settings.php written."""
    manifests = check(docs).require()
    plan = make_plan(manifests, seen)
    planned = next((a for a in plan.actions if a.kind == VERIFY), None)
    assert planned is None or "settings.php database" not in planned.reason
    verify = planned or Action(
        id=f"site.verify:{NAME}",
        kind="site.verify",
        object_kind="Site",
        object_name=NAME,
        server="web1",
        reason="forced",
        path=f"{P1}/web/sites/{NAME}",
        platform="p1",
    )
    names = [step.name for step in work_for(verify, manifests, seen).steps]
    assert "database and user" not in names and "settings.php" not in names, names


# the site is on p1 (web1); the manifests move it to p2 (web2); texts the reason holds
MOVES: list[tuple[str, Docs, list[ObservedServer], list[tuple[str, str, str]], str, str]] = [
    (
        "to a platform on web2: the database follows (both at 127.0.0.1 on their own machine)",
        [*ONE, server("web2"), platform("p2", "web2"), site(platform="p2")],
        [
            observed("web1", codebase("p1", P1, at("127.0.0.1")), holds=(DB,)),
            observed("web2", codebase("p2", P2)),
        ],
        [(UPGRADE, NAME, "web2")],
        "(web2, core 10.3.6) — a move to another server; database moves from web1 to web2 "
        f"(it follows the platform's server; {DB} at 127.0.0.1:3306 now)",
        "",
    ),
    (
        "to a platform on web2, db.server pins web1: the database stays",
        [
            server(address="10.0.0.11"),
            server("web2"),
            platform(),
            platform("p2", "web2"),
            site(platform="p2", db={"server": "web1"}),
        ],
        [
            observed("web1", codebase("p1", P1, at("127.0.0.1")), holds=(DB,)),
            observed("web2", codebase("p2", P2)),
        ],
        [],
        "",
        "web1's services.db host is 127.0.0.1, a loopback address, which sites on web2",
    ),
    (
        "to a platform on web2, db.server pins db1: the database stays on db1",
        [
            *ONE,
            server("web2"),
            platform("p2", "web2"),
            *DBS,
            site(platform="p2", db={"server": "db1"}),
        ],
        [
            observed("web1", codebase("p1", P1, at("10.0.0.21"))),
            observed("web2", codebase("p2", P2)),
            observed("db1", holds=(DB,)),
            observed("db2"),
        ],
        [(UPGRADE, NAME, "web2")],
        "a move to another server; its database stays on db1 (db.server); apply takes a backup",
        "",
    ),
    (
        "to a platform on web2 and db.server changed from db1 to db2",
        [
            *ONE,
            server("web2"),
            platform("p2", "web2"),
            *DBS,
            site(platform="p2", db={"server": "db2"}),
        ],
        [
            observed("web1", codebase("p1", P1, at("10.0.0.21"))),
            observed("web2", codebase("p2", P2)),
            observed("db1", holds=(DB,)),
            observed("db2"),
        ],
        [(UPGRADE, NAME, "web2")],
        "a move to another server; database moves from db1 to db2 (db.server;",
        "",
    ),
    (
        "same server, new platform, db.server changed: an upgrade that moves the database",
        [*ONE, platform("p2"), *DBS, site(platform="p2", db={"server": "db2"})],
        [
            observed("web1", codebase("p1", P1, at("10.0.0.21")), codebase("p2", P2)),
            observed("db1", holds=(DB,)),
            observed("db2"),
        ],
        [(UPGRADE, NAME, "web1")],
        "declared p2 (web1, core 10.3.6); database moves from db1 to db2 (db.server;",
        "",
    ),
    (
        "same server, new platform, database where it was: the reason says nothing of it",
        [*ONE, platform("p2"), site(platform="p2")],
        [observed("web1", codebase("p1", P1, at("127.0.0.1")), codebase("p2", P2), holds=(DB,))],
        [(UPGRADE, NAME, "web1")],
        "declared p2 (web1, core 10.3.6); apply takes a backup",
        "",
    ),
    (
        "to web2 while the database cannot be located: refused, with a note",
        [*ONE, server("web2"), platform("p2", "web2"), site(platform="p2")],
        [
            observed("web1", codebase("p1", P1, at("10.9.9.9"))),
            observed("web2", codebase("p2", P2)),
        ],
        [],
        "",
        "not moved from web1: where its database is cannot be told (settings.php names "
        "10.9.9.9:3306",
    ),
    (
        "to web2 with a SQLite database on both: it moves with the site directory",
        [
            server(services={"http": {"type": "nginx"}, "db": {"type": "sqlite"}}),
            server("web2", services={"http": {"type": "nginx"}, "db": {"type": "sqlite"}}),
            platform(),
            platform("p2", "web2"),
            site(platform="p2"),
        ],
        [
            observed(
                "web1",
                codebase(
                    "p1",
                    P1,
                    good_site(database=ObservedDatabase("sqlite", "sites/x/private/db.sqlite")),
                ),
            ),
            observed("web2", codebase("p2", P2)),
        ],
        [(UPGRADE, NAME, "web2")],
        "a move to another server; its SQLite database moves with the site directory",
        "",
    ),
    (
        "from SQLite on web1 to MariaDB on web2: refused, not converted",
        [
            server(services={"http": {"type": "nginx"}, "db": {"type": "sqlite"}}),
            server("web2"),
            platform(),
            platform("p2", "web2"),
            site(platform="p2"),
        ],
        [
            observed(
                "web1",
                codebase(
                    "p1",
                    P1,
                    good_site(database=ObservedDatabase("sqlite", "sites/x/private/db.sqlite")),
                ),
            ),
            observed("web2", codebase("p2", P2)),
        ],
        [],
        "",
        "not moved from web1: its settings.php on web1 names a sqlite database, declared "
        "mariadb on web2",
    ),
    (
        "to web2 whose database server (db2) could not be observed: refused, with a note",
        [
            *ONE,
            server("web2"),
            platform("p2", "web2"),
            *DBS,
            site(platform="p2", db={"server": "db2"}),
        ],
        [
            observed("web1", codebase("p1", P1, at("10.0.0.21"))),
            observed("web2", codebase("p2", P2)),
            observed("db1", holds=(DB,)),
            observed("db2", reachable=False),
        ],
        [],
        "",
        "its database is not moved: its database server db2 could not be observed",
    ),
]


@pytest.mark.parametrize(
    ("case", "docs", "seen", "expected", "text", "note"), MOVES, ids=[c[0] for c in MOVES]
)
def test_moves_to_a_platform(
    case: str,
    docs: Docs,
    seen: list[ObservedServer],
    expected: list[tuple[str, str, str]],
    text: str,
    note: str,
) -> None:
    plan = plan_of(docs, seen)
    _check(plan, expected, text, note)
    for action in plan.actions:
        assert (action.platform, action.source) == ("p2", "p1")
        assert action.path == f"{P1}/web/sites/{NAME}"


def test_two_machines_each_with_127_0_0_1_are_two_database_servers() -> None:
    """The default `services.db` (127.0.0.1:3306) of two servers on two machines: a site's
    127.0.0.1 is the database of the machine it runs on, never the other's."""
    manifests = check([*ONE, server("web2"), platform("p2", "web2"), site()]).require()
    here = at("127.0.0.1")
    declared = manifests.sites[NAME]
    both = {"web1": observed("web1", holds=(DB,)), "web2": observed("web2", holds=(DB,))}
    for web in ("web1", "web2"):
        home = database_home(manifests, declared, web, here, both)
        assert home is not None and home.server == web
    only_web1 = {"web1": observed("web1", holds=(DB,)), "web2": observed("web2")}
    home = database_home(manifests, declared, "web2", here, only_web1)
    assert home is not None and (home.server, home.unknown) == (
        None,
        f"settings.php names 127.0.0.1:3306 (web2): database {DB} is not there",
    )
    no_db = check(
        [
            *ONE,
            server("web2", services={"http": {"type": "nginx"}}),
            platform("p2", "web2"),
            site(),
        ]
    ).require()
    home = database_home(no_db, no_db.sites[NAME], "web2", here, only_web1)
    assert home is not None and (home.server, home.unknown) == (
        None,
        "settings.php names 127.0.0.1:3306, which no declared server's services.db is "
        "(as seen from web2)",
    )


def test_two_servers_on_one_machine_share_its_loopback() -> None:
    """Two declared servers with one address (the rig: every host at 127.0.0.1) are one
    machine: 127.0.0.1:3306 on web2 names web1's database service there."""
    docs = [
        server(host="127.0.0.1"),
        server(
            "web2", host="127.0.0.1", services={"http": {"type": "nginx"}, "db": {"port": 3307}}
        ),
        platform(),
        platform("p2", "web2"),
        site(platform="p2", db={"server": "web1"}),
    ]
    manifests = check(docs).require()
    seen = {"web1": observed("web1", holds=(DB,)), "web2": observed("web2")}
    declared = manifests.sites[NAME]
    home = database_home(manifests, declared, "web2", at("127.0.0.1"), seen)
    assert home is not None and home.server == "web1"
    home = database_home(manifests, declared, "web2", at("127.0.0.1", 3307), seen)
    assert home is not None and (home.server, home.unknown) == (
        None,
        f"settings.php names 127.0.0.1:3307 (web2): database {DB} is not there",
    )


def test_database_reasons_without_the_servers_never_ask_for_new_credentials() -> None:
    """Called without the web server and the observed servers (as apply's verify does today),
    an address other than the declared one gives no reason: only the planner, which sees every
    listing, can tell that the data is already on the declared server."""
    manifests = check([*ONE, site()]).require()
    declared = manifests.sites[NAME]
    seen = {"web1": observed("web1", holds=(DB,))}
    respelled = at("localhost")
    assert database_reasons(manifests, declared, respelled, seen["web1"]) == []
    assert database_reasons(
        manifests, declared, respelled, seen["web1"], web="web1", observed=seen
    ) == ["settings.php database host is localhost, want 127.0.0.1"]
    elsewhere = at("10.0.0.21")
    assert (
        database_reasons(manifests, declared, elsewhere, seen["web1"], web="web1", observed=seen)
        == []
    )
    # another database name: never a credentials repair (the data is in the one it names)
    assert database_reasons(manifests, declared, at("127.0.0.1", name="x"), None) == []
