"""Crash safety of `reconciler apply` on the real rig (CONTRACT.md section 5: "Idempotent").

`apply` is started for a platform and three sites on h01 (MariaDB, concurrency 3: the three
installs run at once on one platform), killed with SIGKILL (its whole process group) as soon as
the journal shows a chosen step started, then run again to completion. Wherever the kill
landed — in the platform's clone while its build command still runs on the server, in a site's
credentials, in `sites.php`, in a running `site:install`, in the vhost — the second run
converges: exactly the three databases and users, each site directory once with settings.php
0440, every site in `sites.php`, no temporary file left beside a real one, every site served by
nginx, a plan with nothing to do, and the killed run closed in the journal as `interrupted`.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rig.hosts import TestHost
from rig.manifests import Cli, platform_yaml, server_yaml, site_yaml
from rig.mariadb import MariaDBAdmin
from rig.web import http_get

from reconciler.manifests.names import database_name

pytestmark = pytest.mark.integration

PLATFORM = "std"
LEFTOVER = re.compile(r"\.reconciler-(tmp|build|old)")


@dataclass(frozen=True)
class KillPoint:
    """Kill once the journal shows the `count`-th start of a step whose name starts with
    `step` (and `placed`, a path under the host's platforms directory, exists). `build` is the
    platform's build command: a slow one keeps the clone step running on the server after the
    kill, so the resumed step must wait for its lock."""

    step: str
    count: int = 1
    build: str | None = None
    placed: str | None = None


KILL_POINTS = {
    # killed once the checkout is there: the build command is running on the server
    "clone": KillPoint(
        "clone ",
        build="sleep 2",
        placed=f"{PLATFORM}.reconciler-build/web/index.php",
    ),
    "site-directory": KillPoint("site directory", 2),
    "credentials": KillPoint("database and user", 2),
    "settings": KillPoint("settings.php", 3),
    "sites-php": KillPoint("sites.php", 2),
    "install": KillPoint("site:install", 2),
    "vhost": KillPoint("vhost", 1),
}


@pytest.fixture
def prefix() -> str:
    """Shared by the three sites' names, and so by their database and user names."""
    return "k" + secrets.token_hex(3)


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


def _databases_like(admin: MariaDBAdmin, prefix: str) -> set[str]:
    return {db for db in admin.databases() if db.startswith(prefix)}


def _users_like(admin: MariaDBAdmin, prefix: str) -> set[tuple[str, str]]:
    rows = admin.query(f"SELECT User, Host FROM mysql.user WHERE User LIKE '{prefix}%'")
    return {(row[0], row[1]) for row in rows}


def _argv(cli: Cli, *args: str) -> list[str]:
    """What `Cli.run` runs (its known_hosts file included)."""
    host = cli.hosts[0]
    known = cli.repo.parent / "known_hosts"
    known.write_text("".join(h.known_hosts.read_text() for h in cli.hosts))
    return [
        sys.executable,
        "-m",
        "reconciler",
        *args,
        "--repo",
        str(cli.repo),
        "--worktree",
        "--state",
        str(cli.state),
        "--ssh-key",
        str(host.identity_file),
        "--known-hosts",
        str(known),
    ]


def _query(state: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    """Rows of `sql` read from the journal (a second reader of its WAL file)."""
    with contextlib.closing(sqlite3.connect(state, timeout=5)) as conn:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]


def _started(state: Path, step: str) -> int:
    """How many step rows of the journal are named `step...` (0 before the tables exist)."""
    try:
        rows = _query(
            state, "SELECT COUNT(*) FROM steps WHERE substr(name, 1, ?) = ?", len(step), step
        )
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return 0
        raise
    return int(str(rows[0][0]))


def _unfinished(state: Path) -> list[tuple[str, str, str]]:
    """(site or platform, action status, step) of every step started and not ended."""
    rows = _query(
        state,
        "SELECT a.object_name, a.status, s.name FROM steps s"
        " JOIN actions a ON a.id = s.action_row WHERE s.status = 'started' ORDER BY s.id",
    )
    return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]


def _actions(state: Path, run_id: int) -> dict[str, str]:
    """The status of each action row of a run, by its object's name."""
    rows = _query(state, "SELECT object_name, status FROM actions WHERE run_id = ?", run_id)
    return {str(r[0]): str(r[1]) for r in rows}


def _step_outputs(state: Path, run_id: int, step: str) -> list[str]:
    rows = _query(
        state,
        "SELECT s.output FROM steps s JOIN actions a ON a.id = s.action_row"
        " WHERE a.run_id = ? AND substr(s.name, 1, ?) = ?",
        run_id,
        len(step),
        step,
    )
    return [str(r[0]) for r in rows]


def _runs(state: Path) -> list[tuple[int, str]]:
    rows = _query(state, "SELECT id, status FROM runs ORDER BY id")
    return [(int(str(r[0])), str(r[1])) for r in rows]


def _reached(cli: Cli, point: KillPoint) -> bool:
    if not cli.state.exists() or _started(cli.state, point.step) < point.count:
        return False
    return point.placed is None or (cli.hosts[0].platforms / point.placed).exists()


def _apply_and_kill(cli: Cli, point: KillPoint, deadline: float = 30) -> str:
    """Start `apply --yes`, SIGKILL its process group when `point` is reached; its output."""
    out = cli.repo.parent / "killed.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            _argv(cli, "apply", "--yes"),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        try:
            end = time.monotonic() + deadline
            while proc.poll() is None and time.monotonic() < end:
                if _reached(cli, point):
                    break
                time.sleep(0.002)
            if proc.poll() is not None:
                pytest.fail(f"apply ended before the kill point: {out.read_text()}")
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, out.read_text()
    return out.read_text()


def _sites_php_entries(path: Path) -> list[tuple[str, str]]:
    found = re.findall(r"^\$sites\['([^']+)'\] = '([^']+)';$", path.read_text(), re.M)
    return [(str(k), str(v)) for k, v in found]


@pytest.mark.parametrize("where", list(KILL_POINTS))
def test_sigkill_then_apply_converges(
    where: str,
    h01: TestHost,
    standin_repo: Path,
    tmp_path: Path,
    names: list[str],
    prefix: str,
    mariadb_admin: MariaDBAdmin,
) -> None:
    point = KILL_POINTS[where]
    cli = Cli(repo=tmp_path / "git", hosts=[h01], state=tmp_path / "journal.sqlite")
    platform = platform_yaml(PLATFORM, h01, standin_repo)
    if point.build is not None:
        platform += f"  build: [{point.build!r}]\n"
    cli.write(server_yaml(h01, concurrency=3), platform, *(site_yaml(n, PLATFORM) for n in names))

    killed = _apply_and_kill(cli, point)
    interrupted = _unfinished(cli.state)
    runs = _runs(cli.state)
    # the kill really cut a run short, in the middle of a step
    assert len(runs) == 1 and runs[0][1] == "running", (runs, killed)
    assert interrupted, killed
    assert all(status == "running" for _, status, _ in interrupted), interrupted

    done = cli.run("apply", "--yes")
    report = f"killed in {interrupted}\n{done.stdout}{done.stderr}"
    assert done.returncode == 0, report
    assert "Resumed " in done.stderr, report

    # exactly the three databases and users: nothing duplicated, nothing orphaned
    dbs = {database_name(site) for site in names}
    assert _databases_like(mariadb_admin, prefix) == dbs, report
    hosts = {"localhost", "127.0.0.1"}
    assert _users_like(mariadb_admin, prefix) == {(db, h) for db in dbs for h in hosts}, report

    codebase = h01.platforms / PLATFORM
    assert sorted(p.name for p in h01.platforms.iterdir()) == [PLATFORM], report
    sites_dir = codebase / "web/sites"
    dirs = sorted(p.name for p in sites_dir.iterdir() if p.is_dir())
    assert dirs == sorted(["default", *names]), report
    for site in names:
        settings = sites_dir / site / "settings.php"
        assert stat.S_IMODE(settings.stat().st_mode) == 0o440, site
    # two installs on one platform at once never lose a sites.php entry (nor double one)
    entries = _sites_php_entries(sites_dir / "sites.php")
    assert sorted(entries) == sorted((site, site) for site in names), entries

    leftovers = [
        str(p)
        for d in (h01.platforms, h01.vhost_dir)
        for p in d.rglob("*")
        if LEFTOVER.search(p.name)
    ]
    assert leftovers == [], report
    assert sorted(p.name for p in h01.vhost_dir.iterdir()) == sorted(f"{s}.conf" for s in names)
    for site in names:
        page = http_get("127.0.0.1", h01.http_port, "/", site)
        assert page.status == 200, (site, page.body[:300])

    plan = cli.run("plan", "--detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "Plan: 0 to add, 0 to change, 0 to delete." in plan.stdout

    # the killed run is closed as interrupted; a later run (if the resume left work) succeeded
    runs = _runs(cli.state)
    assert runs[0][1] == "interrupted", runs
    assert all(status == "succeeded" for _, status in runs[1:]), runs
    # ...and what it had started was finished by the resume itself: not failed (and undone)
    # and then done again by the next plan
    resumed = _actions(cli.state, runs[0][0])
    for name, _, _ in interrupted:
        assert resumed[name] == "succeeded", (name, resumed, report)
    assert "FAILED" not in done.stderr, report
    if point.build is not None:
        # the killed run's build went on on the server and finished there; the resumed step
        # waited for its lock, then found the codebase in place (had it not waited, it would
        # have removed the build directory under the running build)
        assert _step_outputs(cli.state, runs[0][0], point.step) == ["already done: skipped"]
