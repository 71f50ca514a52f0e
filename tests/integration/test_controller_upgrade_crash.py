"""SIGKILL of `reconciler run` during an upgrade, then a new start (CONTRACT.md section 4, crash
safety; the same checks as issue 5's `test_upgrade_crash.py`).

The controller (`--auto-apply`) installs a site on the STAND-IN platform 10.2.8 on h01, the test
puts content of its own in it (rows in `node` and `users`, files), then commits the site's
`platform` changed to 10.3.6. As soon as the journal shows a chosen step of the controller's
upgrade started (the vhost switch, right after the site directory was renamed into the new
platform; `drush updatedb`), the controller's whole process group is killed with SIGKILL. A new
controller on the same journal then, within a liveness bound, resumes (or undoes and redoes) the
interrupted upgrade before anything new: the site is Synced and Healthy on 10.3.6, on exactly one
platform (its directory, its `sites.php` entry and its vhost agreeing, served with 200), its
content checksum and its file list as before the upgrade, `system_update_10301` ran, the killed
run closed as `interrupted`, nothing `running` left in the journal, and one safety backup. SIGTERM
then stops it with exit 0.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest
from rig.hosts import TestHost
from rig.manifests import platform_yaml, server_yaml, site_yaml
from rig.mariadb import MariaDBAdmin

from integration.controller_proc import ControllerProc, ManifestRepo, journal_rows, wait_until
from integration.test_upgrade import VERSIONS, add_content, content, file_list, on_platform, tables
from integration.test_upgrade import site as site
from integration.test_upgrade_crash import KillPoint, _reached

pytestmark = pytest.mark.integration

FAST = ("--auto-apply", "--self-heal", "--backoff-base", "1s", "--backoff-max", "4s")
KILL_POINTS = {
    "after-move": KillPoint("vhost (present)"),
    "during-updatedb": KillPoint("updatedb"),
}
OLD, NEW = "d1028", "d1036"


def _docs(h: TestHost, standin: Path, site: str, platform: str) -> list[str]:
    """The platforms 10.2.8 and 10.3.6 on `h`, and `site` on `platform` (no cron: nothing but
    the upgrade runs on the site while the test waits for its kill point)."""
    docs = [server_yaml(h)]
    docs += [platform_yaml(p, h, standin, ref=VERSIONS[p]) for p in (OLD, NEW)]
    return [*docs, site_yaml(site, platform, cron={"interval": 0})]


def _kill_at(controller: ControllerProc, point: KillPoint, bound: float = 60) -> None:
    """SIGKILL the controller's process group as soon as the journal shows `point` reached."""
    deadline = time.monotonic() + bound
    try:
        while not _reached(controller.state, point):
            controller.check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"the upgrade did not reach {point.step!r} within {bound:g} s "
                    f"(liveness bound)\n{controller.tail()}"
                )
            time.sleep(0.002)
    finally:
        if controller.proc is not None and controller.proc.poll() is None:
            controller.signal(signal.SIGKILL)
    assert controller.wait_exit(bound=30) == -signal.SIGKILL, controller.tail()


def _running_rows(state: Path) -> list[tuple[object, ...]]:
    runs = journal_rows(state, "SELECT 'run', id FROM runs WHERE status = 'running'")
    actions = journal_rows(state, "SELECT 'action', id FROM actions WHERE status = 'running'")
    steps = journal_rows(state, "SELECT 'step', name FROM steps WHERE status = 'started'")
    return runs + actions + steps


@pytest.mark.parametrize("where", list(KILL_POINTS))
def test_sigkill_during_an_upgrade_then_restart(
    h01: TestHost,
    standin_repo: Path,
    tmp_path: Path,
    site: str,
    mariadb_admin: MariaDBAdmin,
    where: str,
) -> None:
    point = KILL_POINTS[where]
    repo = ManifestRepo(tmp_path / "git")
    repo.commit(*_docs(h01, standin_repo, site, OLD), message="install")
    state = tmp_path / "journal.sqlite"

    first = ControllerProc(repo, [h01], state, FAST).start()
    try:
        rows = first.wait_converged([site], bound=60)
        assert (rows[site]["platform"], rows[site]["coreVersion"]) == (OLD, "10.2.8"), rows[site]
        add_content(h01, site, OLD)
        before = (content(mariadb_admin, site), file_list(h01, site))
        revision = repo.commit(*_docs(h01, standin_repo, site, NEW), message="upgrade")
        _kill_at(first, point)
    finally:
        first.stop()
    # killed in the middle of the upgrade: its run and its action left `running`
    killed = journal_rows(
        state,
        "SELECT r.id, r.status, a.status FROM runs r JOIN actions a ON a.run_id = r.id"
        " WHERE a.kind = 'site.upgrade' AND a.object_name = ?",
        site,
    )
    assert [(status, action) for _, status, action in killed] == [("running", "running")], killed
    killed_run = killed[0][0]

    second = ControllerProc(repo, [h01], state, FAST).start()
    try:

        def settled() -> dict[str, Any] | None:
            """The site Synced and Healthy with nothing pending for it, and nothing
            `running` in the journal any more."""
            status = second.status()
            plan = status.get("pendingPlan") or {"actions": []}
            pending = {a["object"]["name"] for a in plan["actions"]}
            rows = {s["name"]: s for s in status["sites"]}
            row = rows.get(site)
            if row is None or (row["sync"], row["health"]) != ("Synced", "Healthy"):
                return None
            if site in pending or _running_rows(state):
                return None
            found: dict[str, Any] = row
            return found

        row = wait_until(f"{site} converged after the restart\n{second.tail()}", settled, 60, 0.2)
        assert (row["platform"], row["coreVersion"]) == (NEW, "10.3.6"), row
        assert (row["sync"], row["health"]) == ("Synced", "Healthy"), row
        assert second.status()["revision"] == revision
        on_platform(h01, site, NEW)
        assert "path_alias" in tables(mariadb_admin, site)  # system_update_10301 ran
        assert (content(mariadb_admin, site), file_list(h01, site)) == before
        assert _running_rows(state) == []
        runs = journal_rows(state, "SELECT status FROM runs WHERE id = ?", killed_run)
        assert runs == [("interrupted",)], runs
        upgrades = journal_rows(
            state,
            "SELECT status FROM actions WHERE kind = 'site.upgrade' AND object_name = ?"
            " ORDER BY id",
            site,
        )
        # the interrupted upgrade finished (resumed in its run) or was undone and redone
        assert upgrades[-1] == ("succeeded",), upgrades
        assert len(list((h01.backups / site).glob("*.tar.gz"))) == 1
        plan = second.status()["pendingPlan"]
        assert plan is None or plan["actions"] == [], plan
        second.signal(signal.SIGTERM)
        assert second.wait_exit(bound=60) == 0, second.tail()
    finally:
        second.stop()
