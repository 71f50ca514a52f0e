"""`reconciler run` on the real rig (h01: sshd, nginx + php-fpm, MariaDB; the STAND-IN platform).

* a commit adding a site to the watched local repository is converged with no command typed;
* cron with a short interval runs `drush core:cron` again and again (`lastCron` moves);
* SIGTERM during an apply: exit 0, no step left half-run; the next start resumes the actions
  the stop left between two steps and converges, with nothing `running` in the journal.
"""

from __future__ import annotations

import secrets
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rig.hosts import TestHost
from rig.manifests import platform_yaml, server_yaml, site_yaml
from rig.mariadb import MariaDBAdmin
from rig.web import http_get

from integration.controller_proc import (
    ControllerProc,
    ManifestRepo,
    journal_rows,
    running,
    wait_until,
)
from reconciler.manifests.names import database_name

pytestmark = pytest.mark.integration

FAST = ("--auto-apply", "--self-heal", "--backoff-base", "1s", "--backoff-max", "4s")
NO_CRON: dict[str, object] = {"cron": {"interval": 0}}


@pytest.fixture
def names(mariadb_admin: MariaDBAdmin) -> Iterator[list[str]]:
    token = secrets.token_hex(3)
    sites = [f"c{i}-{token}.example.com" for i in range(4)]
    try:
        yield sites
    finally:
        for site in sites:
            db = database_name(site)
            mariadb_admin.run_sql(f"DROP DATABASE IF EXISTS `{db}`")
            for host in ("localhost", "127.0.0.1"):
                mariadb_admin.run_sql(f"DROP USER IF EXISTS '{db}'@'{host}'")


def _docs(host: TestHost, standin: Path, sites: dict[str, dict[str, object]]) -> list[str]:
    docs = [server_yaml(host), platform_yaml("std", host, standin)]
    return docs + [site_yaml(name, "std", **spec) for name, spec in sites.items()]


def test_a_commit_is_converged_with_no_command_typed(
    h01: TestHost, standin_repo: Path, tmp_path: Path, names: list[str]
) -> None:
    one, two = names[:2]
    repo = ManifestRepo(tmp_path / "git")
    repo.commit(*_docs(h01, standin_repo, {one: NO_CRON}))
    controller = ControllerProc(repo, [h01], tmp_path / "journal.sqlite", FAST)
    with running(controller):
        controller.wait_converged([one], bound=90)
        assert controller.get("/readyz")[0] == 200
        revision = repo.commit(*_docs(h01, standin_repo, {one: NO_CRON, two: NO_CRON}))
        rows = controller.wait_converged([one, two], bound=10)  # no command typed
        assert controller.status()["revision"] == revision
        assert rows[two]["lastAction"]["kind"] == "site.install"
        assert rows[two]["lastAction"]["result"] == "succeeded"
        assert http_get("127.0.0.1", h01.http_port, "/", two).status == 200
        code, text = controller.get("/metrics")
        assert code == 200
        installs = [
            sample.value
            for family in text_string_to_metric_families(text.decode())
            for sample in family.samples
            if sample.name == "reconciler_actions_total"
            and sample.labels == {"kind": "site.install", "result": "succeeded"}
        ]
        assert installs == [2.0]  # one per site, counted as they ran
    assert controller.proc is not None and controller.proc.returncode == 0
    runs = journal_rows(
        controller.state,
        "SELECT r.trigger, r.status FROM runs r JOIN actions a ON a.run_id = r.id"
        " WHERE r.revision = ? AND a.object_name = ?",
        revision,
        two,
    )
    assert runs == [("controller", "succeeded")]


def test_cron_runs_again_and_again(
    h01: TestHost, standin_repo: Path, tmp_path: Path, names: list[str]
) -> None:
    site = names[0]
    repo = ManifestRepo(tmp_path / "git")
    repo.commit(*_docs(h01, standin_repo, {site: {"cron": {"interval": "2s"}}}))
    controller = ControllerProc(repo, [h01], tmp_path / "journal.sqlite", FAST)
    with running(controller):
        controller.wait_converged([site], bound=90)

        def cron_at(after: str | None) -> str | None:
            last = controller.sites()[site]["lastCron"]
            if last is None or last["at"] == after:
                return None
            assert last["result"] == "succeeded", last
            return str(last["at"])

        first = wait_until("a first cron run", lambda: cron_at(None), 30)
        second = wait_until("another cron run", lambda: cron_at(first), 30)
        assert second > first
    # drush core:cron really ran on the site: the stand-in records system.cron_last
    crons = journal_rows(
        controller.state,
        "SELECT COUNT(*) FROM actions WHERE object_kind = 'Cron' AND object_name = ?"
        " AND status = 'succeeded'",
        site,
    )
    assert crons[0][0] >= 2


def test_sigterm_during_apply_exits_0_and_the_next_start_finishes(
    h01: TestHost, standin_repo: Path, tmp_path: Path, names: list[str]
) -> None:
    repo = ManifestRepo(tmp_path / "git")
    repo.commit(*_docs(h01, standin_repo, dict.fromkeys(names, NO_CRON)))
    state = tmp_path / "journal.sqlite"
    first = ControllerProc(repo, [h01], state, FAST).start()
    try:

        def installing() -> bool:
            first.check_alive()
            rows = journal_rows(state, "SELECT COUNT(*) FROM steps WHERE name = 'site:install'")
            return bool(rows) and rows[0][0] >= 1

        wait_until("a site:install step started", installing, 90, 0.02)
        first.signal(signal.SIGTERM)
        assert first.wait_exit(bound=90) == 0, first.tail()
    finally:
        first.stop()
    # running steps finished: none is left started; the stopped run is left for the next start
    assert journal_rows(state, "SELECT name FROM steps WHERE status = 'started'") == []
    assert journal_rows(state, "SELECT status FROM runs WHERE trigger = 'controller'") == [
        ("running",)
    ]
    stopped = journal_rows(state, "SELECT object_name FROM actions WHERE status != 'succeeded'")
    assert stopped, "the stop came after every action had finished"

    second = ControllerProc(repo, [h01], state, FAST)
    with running(second):
        second.wait_converged(names, bound=90)
        plan = second.status()["pendingPlan"]
        assert plan is None or plan["actions"] == []
        assert journal_rows(state, "SELECT id FROM actions WHERE status = 'running'") == []
        assert journal_rows(
            state, "SELECT status FROM runs WHERE trigger = 'controller' ORDER BY id LIMIT 1"
        ) == [("interrupted",)]
    for site in names:
        assert http_get("127.0.0.1", h01.http_port, "/", site).status == 200
