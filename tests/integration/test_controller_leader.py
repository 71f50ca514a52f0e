"""Two `reconciler run` on one journal: one leads, the other waits serving HTTP (not ready, not
leading); when the leader is killed with SIGKILL, the other takes over and reconciles.

On SQLite (leadership: a `flock` on `<journal>.lock`) and on the PostgreSQL server of this
machine (a session advisory lock, released by the server when the killed leader's session
ends), with a fresh schema. No rig: a `local` server with empty directories, plan only.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from rig.postgres import fresh_schema

from integration.controller_proc import (
    ControllerProc,
    ManifestRepo,
    local_manifests,
    running,
    wait_until,
)

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def journal(kind: str) -> Iterator[str | None]:
    if kind == "sqlite":
        yield None
        return
    with fresh_schema() as (url, _schema):
        yield url


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_second_controller_waits_then_takes_over(tmp_path: Path, kind: str) -> None:
    with journal(kind) as url:
        _take_over(tmp_path, url)


def _take_over(tmp_path: Path, url: str | None) -> None:
    repo = ManifestRepo(tmp_path / "git")
    revision = repo.commit(*local_manifests(tmp_path, ["a.example.com"]))
    state = tmp_path / "journal.sqlite"
    first = ControllerProc(repo, [], state, (), use_key=False, state_url=url).start()
    try:
        wait_until("the first ready", lambda: first.get("/readyz")[0] == 200, 60)
        assert first.status()["controller"]["leading"] is True
        second = ControllerProc(repo, [], state, (), use_key=False, state_url=url)
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
                leads = status["controller"]
                return bool(leads["leading"] and leads["ready"]) and status["revision"] == revision

            wait_until("the second leading and reconciled", took_over, 30)
            assert second.get("/readyz")[0] == 200
    finally:
        first.stop()
