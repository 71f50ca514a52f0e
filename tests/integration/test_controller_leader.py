"""Two `reconciler run` on one journal: one leads, the other waits serving HTTP (not ready, not
leading); when the leader is killed with SIGKILL, the other takes over and reconciles.

No rig: SQLite's leadership (a `flock` on `<journal>.lock`), a `local` server with empty
directories, plan only. PostgreSQL's advisory lock is the journal's own tests' subject.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from integration.controller_proc import (
    ControllerProc,
    ManifestRepo,
    local_manifests,
    running,
    wait_until,
)

pytestmark = pytest.mark.integration


def test_the_second_controller_waits_then_takes_over(tmp_path: Path) -> None:
    repo = ManifestRepo(tmp_path / "git")
    revision = repo.commit(*local_manifests(tmp_path, ["a.example.com"]))
    state = tmp_path / "journal.sqlite"
    first = ControllerProc(repo, [], state, (), use_key=False).start()
    try:
        wait_until("the first ready", lambda: first.get("/readyz")[0] == 200, 60)
        assert first.status()["controller"]["leading"] is True
        second = ControllerProc(repo, [], tmp_path / "journal.sqlite", (), use_key=False)
        with running(second):

            def waiting() -> bool:
                status = second.status()["controller"]
                return status["leading"] is False

            wait_until("the second waiting for the lead", waiting, 30)
            assert second.get("/readyz")[0] == 503
            assert second.get("/healthz")[0] == 200
            first.signal(signal.SIGKILL)
            assert first.wait_exit(bound=30) == -signal.SIGKILL

            def took_over() -> bool:
                status = second.status()
                return bool(status["controller"]["leading"]) and status["revision"] == revision

            wait_until("the second leading and reconciled", took_over, 30)
            assert second.get("/readyz")[0] == 200
    finally:
        first.stop()
