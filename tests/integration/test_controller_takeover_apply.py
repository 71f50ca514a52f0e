"""Two `reconciler run --auto-apply` on one PostgreSQL journal, on the real rig: one applies, the
other waits; SIGKILL the first in the middle of its apply, and the second takes over, resumes
what the first left half-done and converges.

The journal is a fresh schema of the PostgreSQL server on this machine; the manifests declare
h01 (sshd, nginx + php-fpm, MariaDB), a platform of the STAND-IN repository and three sites.
Controller A starts first and leads; controller B, started on the same `--state`, serves HTTP
but neither leads nor is ready, and records nothing while A leads. A is killed (its whole process
group, SIGKILL) once the journal shows a `site:install` step started; B then leads, resumes the
interrupted actions, and within a liveness bound every site is Synced and Healthy, answers 200
through h01's nginx, exactly three site databases exist, and no run is left `running`. SIGTERM
then stops B with exit 0.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from rig.hosts import TestHost
from rig.manifests import platform_yaml, server_yaml, site_yaml
from rig.mariadb import MariaDBAdmin
from rig.postgres import admin_connection, fresh_schema
from rig.web import http_get

from integration.controller_proc import ControllerProc, ManifestRepo, wait_until
from reconciler.manifests.names import database_name

pytestmark = pytest.mark.integration

FAST = ("--auto-apply", "--self-heal", "--backoff-base", "1s", "--backoff-max", "4s")
NO_CRON: dict[str, object] = {"cron": {"interval": 0}}


@pytest.fixture
def prefix() -> str:
    """Shared by the three sites' names, and so by their database and user names."""
    return "l" + secrets.token_hex(3)


@pytest.fixture
def names(prefix: str, mariadb_admin: MariaDBAdmin) -> Iterator[list[str]]:
    sites = [f"{prefix}{letter}.example.com" for letter in "abc"]
    try:
        yield sites
    finally:
        for db in _databases_like(mariadb_admin, prefix) | {database_name(s) for s in sites}:
            mariadb_admin.run_sql(f"DROP DATABASE IF EXISTS `{db}`")
        for user, host in _users_like(mariadb_admin, prefix):
            mariadb_admin.run_sql(f"DROP USER IF EXISTS '{user}'@'{host}'")


@pytest.fixture
def journal() -> Iterator[tuple[str, str]]:
    """`(url, schema)` of a fresh PostgreSQL journal, dropped afterwards."""
    with fresh_schema() as found:
        yield found


def _databases_like(admin: MariaDBAdmin, prefix: str) -> set[str]:
    return {db for db in admin.databases() if db.startswith(prefix)}


def _users_like(admin: MariaDBAdmin, prefix: str) -> set[tuple[str, str]]:
    rows = admin.query(f"SELECT User, Host FROM mysql.user WHERE User LIKE '{prefix}%'")
    return {(row[0], row[1]) for row in rows}


def _rows(
    conn: psycopg.Connection[tuple[Any, ...]], statement: str, *params: object
) -> list[tuple[Any, ...]]:
    """Rows of `statement` in the journal's schema ([] before the controller made its tables)."""
    try:
        return conn.execute(statement.encode(), params).fetchall()
    except psycopg.errors.UndefinedTable:
        return []


def _leading(controller: ControllerProc) -> bool | None:
    """`controller.leading` of its status; None before its first status document (served from
    the start, it has no `controller` object until the first publish)."""
    found = controller.status().get("controller")
    return None if found is None else bool(found["leading"])


def _log_events(controller: ControllerProc, upto: int | None = None) -> list[dict[str, Any]]:
    """The controller's JSON log lines (the first `upto` bytes of its log file)."""
    with controller.log.open("rb") as log:
        text = log.read() if upto is None else log.read(upto)
    events = []
    for line in text.decode(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            found = json.loads(line)
            if isinstance(found, dict):
                events.append(found)
    return events


def test_the_waiting_controller_takes_over_an_interrupted_apply(
    h01: TestHost,
    standin_repo: Path,
    tmp_path: Path,
    names: list[str],
    prefix: str,
    mariadb_admin: MariaDBAdmin,
    journal: tuple[str, str],
) -> None:
    url, schema = journal
    repo = ManifestRepo(tmp_path / "git")
    docs = [server_yaml(h01), platform_yaml("std", h01, standin_repo)]
    revision = repo.commit(*docs, *(site_yaml(n, "std", **NO_CRON) for n in names))
    # one journal (the URL); `state` only names each controller's own log file
    first = ControllerProc(repo, [h01], tmp_path / "a.sqlite", FAST, state_url=url)
    second = ControllerProc(repo, [h01], tmp_path / "b.sqlite", FAST, state_url=url)
    with contextlib.ExitStack() as stack:
        stack.callback(first.stop)
        stack.callback(second.stop)
        conn = stack.enter_context(admin_connection(schema))
        first.start()
        wait_until("A leads", lambda: _leading(first) is True, 30)
        second.start()

        def b_waits() -> bool:
            return _leading(second) is False and second.status()["sites"] == []

        wait_until("B waiting for the lead", b_waits, 30)
        assert second.get("/readyz")[0] == 503
        assert second.get("/healthz")[0] == 200

        def installing() -> bool:
            first.check_alive()
            # B is asked at every poll, up to the kill: it never leads while A does
            assert _leading(second) is False
            rows = _rows(conn, "SELECT COUNT(*) FROM steps WHERE name = 'site:install'")
            return bool(rows) and int(rows[0][0]) >= 1

        wait_until(f"A started a site:install\n{first.tail()}", installing, 90, 0.02)
        first.signal(signal.SIGKILL)
        assert first.wait_exit(bound=30) == -signal.SIGKILL
        b_log_at_kill = second.log.stat().st_size

        # the kill cut A's run short, in the middle of an action (the platform came in an
        # earlier run of its own, finished)
        runs_at_kill = _rows(conn, "SELECT id, status FROM runs ORDER BY id")
        assert [status for _, status in runs_at_kill][-1] == "running", runs_at_kill
        assert all(status == "succeeded" for _, status in runs_at_kill[:-1]), runs_at_kill
        killed_run = runs_at_kill[-1][0]
        interrupted = _rows(
            conn,
            "SELECT object_name FROM actions WHERE run_id = %s AND status = 'running'",
            killed_run,
        )
        assert interrupted, "the kill came after every action had finished"
        # while A led, B only waited: it loaded nothing, planned nothing, applied nothing
        before = _log_events(second, b_log_at_kill)
        events = [e.get("event") for e in before if e.get("logger") != "reconciler.cli"]
        assert events == ["another controller leads; waiting"], before

        # B takes the lead, resumes what A left half-done, and converges
        def b_leads() -> bool:
            controller = second.status()["controller"]
            return bool(controller["leading"] and controller["ready"])

        wait_until(f"B leading and ready\n{second.tail()}", b_leads, 30)
        assert second.get("/readyz")[0] == 200
        rows = second.wait_converged(names, bound=90)
        assert second.status()["revision"] == revision
        for site in names:
            assert rows[site]["sync"] == "Synced" and rows[site]["health"] == "Healthy"
            page = http_get("127.0.0.1", h01.http_port, "/", site)
            assert page.status == 200, (site, page.body[:300])

        dbs = {database_name(site) for site in names}
        assert _databases_like(mariadb_admin, prefix) == dbs
        hosts = {"localhost", "127.0.0.1"}
        assert _users_like(mariadb_admin, prefix) == {(db, h) for db in dbs for h in hosts}

        def no_run_running() -> bool:
            return _rows(conn, "SELECT id FROM runs WHERE status = 'running'") == []

        wait_until("no run left running", no_run_running, 10)
        assert _rows(conn, "SELECT id FROM actions WHERE status = 'running'") == []
        assert _rows(conn, "SELECT id FROM steps WHERE status = 'started'") == []
        # A's runs as they were, the killed one closed as interrupted, and B's all succeeded
        runs = _rows(conn, "SELECT id, status FROM runs ORDER BY id")
        assert runs[: len(runs_at_kill)] == [*runs_at_kill[:-1], (killed_run, "interrupted")]
        assert all(status == "succeeded" for _, status in runs[len(runs_at_kill) :]), runs
        # what A had started, B's resume finished (not undone and done again)
        resumed = dict(
            _rows(conn, "SELECT object_name, status FROM actions WHERE run_id = %s", killed_run)
        )
        for (name,) in interrupted:
            assert resumed[name] == "succeeded", (name, resumed, second.tail())
        after = _log_events(second)[len(before) :]
        assert any(e.get("event") == "resumed interrupted actions" for e in after), second.tail()

        second.signal(signal.SIGTERM)
        assert second.wait_exit(bound=60) == 0, second.tail()
