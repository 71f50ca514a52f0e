"""`status`'s statistics without a server: which database size belongs to which site, what
`gather_stats` asks each server (once per site, once per platform, once per server for SQLite
files; never more at once than the server's concurrency), the status JSON they end up in, and
`lastCron` read from the journal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.status_cmd import StatusView, add_stats, read_journal, status_json
from reconciler.controller.jobs import JobResult, record_job
from reconciler.journal import SQLiteStore
from reconciler.manifests.manifestset import ManifestSet
from reconciler.observe.models import (
    ObservedDatabase,
    ObservedDbServer,
    ObservedPlatform,
    ObservedServer,
    ObservedSite,
)
from reconciler.observe.stats import Stats, database_sizes, gather_stats
from reconciler.observe.sync import compute_status
from reconciler.transport.base import CommandResult, ConnectError, Process
from unit import builders

MARIA = "www.example.com"
LITE = "lite.example.com"
GONE = "gone.example.com"


def _manifests(*extra: dict[str, Any]) -> ManifestSet:
    docs = [
        builders.server("web1", concurrency=2),
        builders.server("db1", services={"db": {"type": "mariadb", "host": "10.0.0.5"}}),
        builders.server("lite1", services={"http": {"type": "nginx"}, "db": {"type": "sqlite"}}),
        builders.platform("p1", "web1", path="/srv/p1"),
        builders.platform("p2", "lite1", path="/srv/p2"),
        builders.platform("p3", "web1", path="/srv/p3"),
        builders.site(MARIA, "p1"),
        builders.site("remote.example.com", "p1", db={"server": "db1"}),
        builders.site(LITE, "p2"),
        builders.site(GONE, "p1", state="absent"),
        *extra,
    ]
    return builders.check(docs).require()


def _site(name: str, database: ObservedDatabase | None) -> ObservedSite:
    return ObservedSite(name=name, path=f"/srv/x/web/sites/{name}", database=database)


def _observed(
    *, web_listing: dict[str, int], db_listing: dict[str, int] | None = None
) -> list[ObservedServer]:
    local = ObservedDatabase("mysql", "www_db", "127.0.0.1", 3306, "www_db")
    remote = ObservedDatabase("mysql", "remote_db", "10.0.0.5", "3306", "remote_db")
    web1 = ObservedServer(
        name="web1",
        reachable=True,
        platforms=(
            ObservedPlatform(
                "p1",
                "/srv/p1",
                "web",
                "10.3.6",
                (
                    _site(MARIA, local),
                    _site("remote.example.com", remote),
                    _site("stray.example.com", local),  # not declared
                    _site(GONE, local),  # declared absent
                ),
            ),
            ObservedPlatform("p3", "/srv/p3", None, None, exists=False),
        ),
        database_server=ObservedDbServer(databases=web_listing),
    )
    db1 = ObservedServer(
        name="db1",
        reachable=db_listing is not None,
        database_server=ObservedDbServer(databases=db_listing or {}),
    )
    lite = ObservedDatabase("sqlite", f"sites/{LITE}/private/db.sqlite")
    lite1 = ObservedServer(
        name="lite1",
        reachable=True,
        platforms=(ObservedPlatform("p2", "/srv/p2", "web", "10.3.6", (_site(LITE, lite),)),),
    )
    return [db1, lite1, web1]


@pytest.mark.parametrize(
    ("web_listing", "db_listing", "sqlite", "expected"),
    [
        pytest.param(
            {"www_db": 5, "remote_db": 99},
            {"remote_db": 7},
            {LITE: 11},
            {MARIA: 5, "remote.example.com": 7, LITE: 11, GONE: 5},
            id="each database on the server that holds it; absent sites still have one",
        ),
        pytest.param(
            {"www_db": 5},
            None,
            {},
            {MARIA: 5, GONE: 5},
            id="the database server unreachable, the SQLite file not measured",
        ),
        pytest.param({}, {}, {}, {}, id="no database listed"),
    ],
)
def test_database_sizes(
    web_listing: dict[str, int],
    db_listing: dict[str, int] | None,
    sqlite: dict[str, int],
    expected: dict[str, int],
) -> None:
    observed = _observed(web_listing=web_listing, db_listing=db_listing)
    sizes = database_sizes(_manifests(), observed, Stats(sqlite_bytes=sqlite))
    assert sizes == expected
    assert "stray.example.com" not in sizes  # only declared sites


def _pm_list_json(site: str) -> bytes:
    rows = {
        "node": {"name": "node", "type": "module", "status": "Enabled", "version": "10.3.6"},
        "olivero": {"name": "olivero", "type": "theme", "status": "Enabled", "version": "10.3.6"},
        site.split(".")[0]: {"name": "x", "type": "module", "status": "Enabled", "version": None},
    }
    return json.dumps(rows, indent=4).encode() + b"\n"


LISTING = b"""docroot\t/srv/p1/web
core\t10.3.6
file\t/srv/p1/web/core/modules/node/node.info.yml
type: module
version: VERSION
file\t/srv/p1/web/core/profiles/standard/standard.info.yml
type: profile
"""


class FakeTransport:
    """Answers the statistics' commands; counts them and how many ran at once."""

    def __init__(
        self, name: str, *, fail: frozenset[str] = frozenset(), down: bool = False
    ) -> None:
        self.name = name
        self.fail = fail
        self.down = down
        self.commands: list[list[str]] = []
        self.running = 0
        self.most = 0

    @property
    def server(self) -> str:
        return self.name

    async def run(
        self,
        argv: Sequence[str],
        *,
        input: bytes | None = None,
        timeout: float | None = None,
        check: bool = False,
    ) -> CommandResult:
        self.commands.append(list(argv))
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(0.01)
            if self.down:
                raise ConnectError(self.name, "connection refused")
            return self._answer(list(argv), input or b"")
        finally:
            self.running -= 1

    def _answer(self, argv: list[str], stdin: bytes) -> CommandResult:
        code, out = 0, b""
        if "pm:list" in argv:
            site = next(a for a in argv if a.startswith("--uri=")).split("//")[1]
            if site in self.fail:
                code, out = 1, b""
            else:
                out = _pm_list_json(site)
        elif argv[0] == "xargs":
            out = b"".join(b"4096\t" + p + b"\0" for p in stdin.split(b"\0") if p)
        elif argv[:2] == ["sh", "-c"]:
            out = LISTING
        return CommandResult(self.name, tuple(argv), code, out, b"")

    async def stream(self, argv: Sequence[str]) -> Process:
        raise NotImplementedError

    async def close(self) -> None:
        return None


def _many_sites(n: int) -> tuple[ManifestSet, list[ObservedServer]]:
    names = [f"s{i}.example.com" for i in range(n)]
    manifests = _manifests(*(builders.site(name, "p1") for name in names))
    (db1, lite1, web1) = _observed(web_listing={})
    more = tuple(_site(name, None) for name in names)
    p1 = web1.platforms[0]
    web1 = ObservedServer(
        name="web1",
        reachable=True,
        platforms=(
            ObservedPlatform("p1", p1.path, p1.docroot, p1.core_version, p1.sites + more),
            web1.platforms[1],
        ),
    )
    return manifests, [db1, lite1, web1]


def test_gather_stats_asks_each_site_platform_and_server_once_within_the_concurrency() -> None:
    manifests, observed = _many_sites(9)
    web1 = FakeTransport("web1", fail=frozenset({"s3.example.com"}))
    lite1 = FakeTransport("lite1")
    db1 = FakeTransport("db1", down=True)
    stats = asyncio.run(
        gather_stats(manifests, observed, {"web1": web1, "lite1": lite1, "db1": db1})
    )
    pm_lists = [c for c in web1.commands if "pm:list" in c]
    asked = sorted(next(a for a in c if a.startswith("--uri=")) for c in pm_lists)
    wanted = [MARIA, "remote.example.com", *(f"s{i}.example.com" for i in range(9))]
    assert asked == sorted(f"--uri=http://{s}" for s in wanted)  # not stray, not absent
    for command in pm_lists:
        assert command[0] == "/srv/p1/vendor/bin/drush"
        assert command[1:4] == ["pm:list", "--type=module,theme", "--status=enabled"]
        assert "--format=json" in command
    assert web1.most == 2  # web1's concurrency
    assert len(web1.commands) == len(pm_lists) + 1  # one listing of p1 (p3 is not there)
    assert not any(c[0] == "xargs" for c in web1.commands)  # no SQLite site there
    assert [c[0] for c in lite1.commands].count("xargs") == 1
    assert db1.commands == []  # unreachable in `observed`: nothing asked

    answered = set(wanted) - {"s3.example.com"} | {LITE}  # drush failed on s3
    assert set(stats.site_modules) == answered
    assert stats.site_modules[MARIA] == [
        {"name": "node", "version": "10.3.6", "type": "module"},
        {"name": "olivero", "version": "10.3.6", "type": "theme"},
        {"name": "www", "version": None, "type": "module"},
    ]
    assert stats.platform_modules == {
        "p1": [{"name": "node", "version": "10.3.6", "type": "module"}],
        "p2": [{"name": "node", "version": "10.3.6", "type": "module"}],
    }
    assert stats.sqlite_bytes == {LITE: 4096}
    xargs = next(c for c in lite1.commands if c[0] == "xargs")
    assert xargs[:3] == ["xargs", "-0", "-r"]


def test_gather_stats_survives_a_server_that_drops() -> None:
    manifests, observed = _many_sites(2)
    web1 = FakeTransport("web1", down=True)
    stats = asyncio.run(
        gather_stats(
            manifests, observed, {"web1": web1, "lite1": FakeTransport("lite1"), "db1": web1}
        )
    )
    assert stats.site_modules.keys() == {LITE}
    assert stats.platform_modules.keys() == {"p2"}


def _by_name(document: dict[str, object], key: str) -> dict[str, Any]:
    rows = document[key]
    assert isinstance(rows, list)
    return {row["name"]: row for row in rows}


def test_status_json_carries_the_statistics() -> None:
    manifests = _manifests()
    observed = _observed(web_listing={"www_db": 5}, db_listing={"remote_db": 7})
    view = StatusView(compute_status(manifests, observed))
    modules: list[dict[str, str | None]] = [{"name": "node", "version": "10.3.6", "type": "module"}]
    add_stats(
        view,
        manifests,
        observed,
        Stats(site_modules={MARIA: modules}, platform_modules={"p1": modules}),
    )
    document = status_json(view)
    sites = _by_name(document, "sites")
    assert sites[MARIA]["stats"] == {"filesBytes": 0, "privateBytes": 0, "databaseBytes": 5}
    assert sites[MARIA]["modules"] == modules
    assert sites["remote.example.com"]["stats"]["databaseBytes"] == 7
    assert sites["remote.example.com"]["modules"] is None  # not gathered: unknown, not none
    assert sites[LITE]["stats"]["databaseBytes"] is None
    platforms = _by_name(document, "platforms")
    assert platforms["p1"]["modules"] == modules
    assert platforms["p2"]["modules"] is None
    json.dumps(document)


def test_last_cron_is_the_latest_cron_run_of_each_site(tmp_path: Path) -> None:
    now = [datetime(2025, 3, 1, 12, 0, tzinfo=UTC)]
    store = SQLiteStore(tmp_path / "journal.sqlite", clock=lambda: now[0])
    manifests = _manifests()
    view = StatusView(compute_status(manifests, _observed(web_listing={})))
    try:
        end = record_job(store, "rev", "site.cron", "Cron", MARIA, "web1")
        now[0] += timedelta(seconds=3)
        end(JobResult(True))
        now[0] += timedelta(minutes=59)
        end = record_job(store, "rev", "site.cron", "Cron", MARIA, "web1")
        now[0] += timedelta(seconds=2)
        end(JobResult(False, "drush core:cron exited 1"))
        end = record_job(store, "rev", "site.cron", "Cron", "remote.example.com", "web1")
        read_journal(view, store)
    finally:
        store.close()
    sites = _by_name(status_json(view), "sites")
    assert sites[MARIA]["lastCron"] == {
        "at": "2025-03-01T12:59:05.000000Z",
        "result": "failed",
        "error": "drush core:cron exited 1",
    }
    assert sites[MARIA]["lastAction"] is None  # cron is no action on the site itself
    assert sites["remote.example.com"]["lastCron"] == {
        "at": "2025-03-01T12:59:05.000000Z",
        "result": "running",
        "error": None,
    }
    assert sites[LITE]["lastCron"] is None
