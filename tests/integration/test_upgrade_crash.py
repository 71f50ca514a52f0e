"""Crash safety of upgrades on the real rig (CONTRACT.md section 5: "Idempotent").

A site with content of its own is installed with `apply`, its `platform` changed, and `apply`
started and killed with SIGKILL (its whole process group) as soon as the journal shows a chosen
step of the upgrade started: after the backup, after maintenance mode, after the move, while
updatedb runs, after the health check; for the version whose updatedb fails, also while the
rollback runs. Then `apply` again: it resumes the interrupted upgrade with the same backup and
ends with the site on exactly one platform, the new one (or the old one when its updatedb
fails, apply then exiting 1): its directory there only, its `sites.php` entry and its vhost
agreeing, served with 200, its content and files as before, no temporary directory left, and
the killed run closed as interrupted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from rig.hosts import TestHost
from rig.manifests import Cli
from rig.mariadb import MariaDBAdmin

from integration.test_apply_crash import _actions, _argv, _query, _runs, _unfinished
from integration.test_upgrade import (
    FAILURE,
    add_content,
    content,
    file_list,
    manifests,
    on_platform,
    tables,
)
from integration.test_upgrade import site as site

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class KillPoint:
    """Kill once a step of the upgrade named `step` has started (or, `failed`, has failed:
    the undo of the steps before it is running)."""

    step: str
    failed: bool = False


KILL_POINTS = {
    "after-backup": KillPoint("maintenance mode on"),
    "after-maintenance": KillPoint("sites.php entries (new platform)"),
    "after-move": KillPoint("vhost (present)"),
    "during-updatedb": KillPoint("updatedb"),
    "after-health": KillPoint("sites.php entries removed (old platform)"),
}
FAILING_POINTS = {
    "after-move": KILL_POINTS["after-move"],
    "during-updatedb": KILL_POINTS["during-updatedb"],
    "during-rollback": KillPoint("updatedb", failed=True),
}
CASES = [("d1028", "d1036", p) for p in KILL_POINTS] + [
    ("d1036", "d1040", p) for p in FAILING_POINTS
]


def _reached(state: Path, point: KillPoint) -> bool:
    if not state.exists():
        return False
    status = "AND s.status = 'failed'" if point.failed else ""
    try:
        rows = _query(
            state,
            "SELECT COUNT(*) FROM steps s JOIN actions a ON a.id = s.action_row"
            f" WHERE a.kind = 'site.upgrade' AND s.name = ? {status}",
            point.step,
        )
    except Exception as exc:  # the tables are not made yet, or a write holds the file
        if "no such table" in str(exc) or "locked" in str(exc):
            return False
        raise
    return int(str(rows[0][0])) > 0


def _apply_and_kill(cli: Cli, point: KillPoint, deadline: float = 60) -> str:
    """Start `apply --yes`, SIGKILL its process group once `point` is reached; its output."""
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
                if _reached(cli.state, point):
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


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("start", "target", "where"), CASES)
def test_sigkill_during_an_upgrade_then_apply_again(
    h01: TestHost,
    standin_repo: Path,
    tmp_path: Path,
    site: str,
    mariadb_admin: MariaDBAdmin,
    start: str,
    target: str,
    where: str,
) -> None:
    failing = target == "d1040"
    point = (FAILING_POINTS if failing else KILL_POINTS)[where]
    cli = Cli(repo=tmp_path / "git", hosts=[h01], state=tmp_path / "journal.sqlite")
    manifests(cli, h01, standin_repo, site, start)
    done = cli.run("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    add_content(h01, site, start)
    before = (content(mariadb_admin, site), file_list(h01, site))

    manifests(cli, h01, standin_repo, site, target)
    killed = _apply_and_kill(cli, point)
    interrupted = _unfinished(cli.state)
    runs = _runs(cli.state)
    assert runs[-1][1] == "running", (runs, killed)
    # cut short in the middle of the upgrade (in a step, or in the undo of the steps before one)
    assert _actions(cli.state, runs[-1][0]) == {site: "running"}, (interrupted, killed)

    done = cli.run("apply", "--yes")
    report = f"killed in {interrupted}\n{killed}\n{done.stdout}{done.stderr}"
    assert "Resumed 1 interrupted action(s)." in done.stderr, report
    if failing:
        assert done.returncode == 1, report
        assert FAILURE in done.stdout, report
        on_platform(h01, site, start)
        assert "menu_tree" not in tables(mariadb_admin, site), report
    else:
        assert done.returncode == 0, report
        on_platform(h01, site, target)
        assert "path_alias" in tables(mariadb_admin, site), report
    assert (content(mariadb_admin, site), file_list(h01, site)) == before, report
    runs = _runs(cli.state)
    assert runs[1][1] == "interrupted", runs
    # the resumed upgrade (journaled in the killed run, in place of its steps) found the
    # safety backup the killed run had taken, by the id in the step's name
    backups = _query(
        cli.state,
        "SELECT s.name, s.output FROM steps s JOIN actions a ON a.id = s.action_row"
        " WHERE a.run_id = ? AND s.name LIKE 'backup %' ORDER BY s.id",
        runs[1][0],
    )
    assert [output for _, output in backups] == ["already done: skipped"], backups
    if not failing:
        assert len(list((h01.backups / site).glob("*.tar.gz"))) == 1
    plan = cli.run("plan", "--detailed-exitcode")
    assert plan.returncode == (2 if failing else 0), plan.stdout + plan.stderr
