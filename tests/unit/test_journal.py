"""The journal: runs, actions, steps, crash recovery, status queries.

The tests taking `backend` run on both stores: a SQLite file, and PostgreSQL (the server on this
machine, a fresh schema per test; marked `integration`). The others are SQLite's own.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from reconciler.errors import ReconcilerError
from reconciler.journal import (
    OUTPUT_CAP_BYTES,
    SQLiteStore,
    Store,
    default_state_path,
    open_store,
)
from reconciler.journal.model import cap_tail, format_time, parse_time
from reconciler.journal.schema import SCHEMA_VERSION
from unit.journals import Backend, journal_backend

PLAN = json.dumps({"revision": "abc123", "actions": [{"id": "site.install:www.example.com"}]})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    with journal_backend(request.param, tmp_path) as found:
        yield found


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _start(store: Store, run_id: int, action_id: str, name: str, server: str = "web1") -> int:
    kind = action_id.split(":", 1)[0]
    return store.record_action_start(run_id, action_id, kind, "Site", name, server)


def test_run_with_actions_and_steps_is_read_back(backend: Backend) -> None:
    with backend.open() as store:
        run = store.begin_run("abc123", PLAN, "commit")
        pending = store.add_action(
            run, "site.install:www.example.com", "site.install", "Site", "www.example.com", "web1"
        )
        row = _start(store, run, "site.install:www.example.com", "www.example.com")
        assert row == pending  # the pending row is the one started
        s0 = store.record_step_start(row, 0, "create database")
        store.record_step_end(s0, "done", "CREATE DATABASE ok\n")
        s1 = store.record_step_start(row, 1, "site:install")
        store.record_step_end(s1, "done", "installed")
        store.record_action_end(row, "succeeded")
        store.end_run(run, "succeeded")

        record = store.get_run(run)
        assert record is not None
        assert (record.revision, record.trigger, record.status) == ("abc123", "commit", "succeeded")
        assert json.loads(record.plan_json) == json.loads(PLAN)
        assert record.ended_at is not None
        assert record.ended_at >= record.started_at
        (action,) = record.actions
        assert action.action_id == "site.install:www.example.com"
        assert (action.kind, action.object_kind, action.object_name, action.server) == (
            "site.install",
            "Site",
            "www.example.com",
            "web1",
        )
        assert action.status == "succeeded"
        assert action.error is None
        assert action.finished
        assert [(s.index, s.name, s.status, s.output) for s in action.steps] == [
            (0, "create database", "done", "CREATE DATABASE ok\n"),
            (1, "site:install", "done", "installed"),
        ]
        assert action.first_unfinished_step is None
        assert store.interrupted_runs() == ()
        assert store.get_run(run + 1) is None


def test_timestamps_are_utc_iso8601(backend: Backend) -> None:
    moment = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    with backend.open(clock=lambda: moment) as store:
        run = store.begin_run("r", "{}", "manual")
        record = store.get_run(run)
        assert record is not None
        assert record.started_at == "2024-05-01T12:00:00.000000Z"
        assert parse_time(record.started_at) == moment
    later = datetime(2024, 5, 1, 14, 0, tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    assert format_time(later) == "2024-05-01T14:00:00.000000Z"
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(datetime(2024, 5, 1))


def test_crash_mid_run_is_reported_with_the_first_unfinished_step(backend: Backend) -> None:
    store = backend.open()
    finished = store.begin_run("old", "{}", "commit")
    store.end_run(finished, "succeeded")
    run = store.begin_run("abc123", PLAN, "commit")
    upgrade = _start(store, run, "site.upgrade:a.example.com", "a.example.com")
    for index, name in enumerate(["backup", "maintenance on", "swap vhost"]):
        step = store.record_step_start(upgrade, index, name)
        if index < 2:
            store.record_step_end(step, "done")
    install = _start(store, run, "site.install:b.example.com", "b.example.com")
    store.record_step_end(store.record_step_start(install, 0, "create database"), "done")
    store.record_step_start(install, 1, "site:install")
    done = _start(store, run, "site.verify:c.example.com", "c.example.com")
    store.record_step_end(store.record_step_start(done, 0, "check"), "done")
    store.record_action_end(done, "succeeded")
    store.add_action(run, "site.delete:d.example.com", "site.delete", "Site", "d.example.com", "w")
    store.close()  # the controller dies: no end_run

    with backend.open() as reopened:
        (interrupted,) = reopened.interrupted_runs()
        assert interrupted.id == run
        assert interrupted.revision == "abc123"
        assert interrupted.status == "running"
        by_id = {a.action_id: a for a in interrupted.actions}
        first = by_id["site.upgrade:a.example.com"].first_unfinished_step
        assert first is not None
        assert (first.index, first.name, first.status) == (2, "swap vhost", "started")
        first = by_id["site.install:b.example.com"].first_unfinished_step
        assert first is not None
        assert (first.index, first.name) == (1, "site:install")
        assert by_id["site.verify:c.example.com"].finished
        assert by_id["site.verify:c.example.com"].first_unfinished_step is None
        assert by_id["site.delete:d.example.com"].status == "pending"
        assert by_id["site.delete:d.example.com"].steps == ()

        reopened.mark_interrupted(run)
        assert reopened.interrupted_runs() == ()
        record = reopened.get_run(run)
        assert record is not None
        assert record.status == "interrupted"
        assert record.ended_at is not None
        # the progress stays on record
        assert record.actions == interrupted.actions


def test_failed_for_revision(backend: Backend) -> None:
    with backend.open() as store:
        action_id = "site.upgrade:www.example.com"
        run = store.begin_run("c1", PLAN, "commit")
        row = _start(store, run, action_id, "www.example.com")
        store.record_step_end(store.record_step_start(row, 0, "updatedb"), "failed", "boom")
        store.record_action_end(row, "failed", "drush updatedb failed")
        store.end_run(run, "failed")
        assert store.failed_for_revision(action_id, "c1")
        assert not store.failed_for_revision(action_id, "c2")
        assert not store.failed_for_revision("site.upgrade:other.example.com", "c1")

        run2 = store.begin_run("c2", PLAN, "commit")
        row2 = _start(store, run2, action_id, "www.example.com")
        store.record_action_end(row2, "succeeded")
        assert not store.failed_for_revision(action_id, "c2")
        assert store.failed_for_revision(action_id, "c1")  # still recorded against c1


def test_last_action(backend: Backend) -> None:
    times = iter(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=m) for m in range(100))
    with backend.open(clock=lambda: next(times)) as store:
        assert store.last_action("Site", "www.example.com") is None
        run = store.begin_run("c1", PLAN, "commit")
        row = _start(store, run, "site.install:www.example.com", "www.example.com")
        store.record_action_end(row, "succeeded")
        run2 = store.begin_run("c2", PLAN, "commit")
        row2 = _start(store, run2, "site.upgrade:www.example.com", "www.example.com")
        store.record_action_end(row2, "failed", "updatedb: error")
        # pending actions and other objects do not count
        store.add_action(
            run2, "site.delete:www.example.com", "site.delete", "Site", "www.example.com", "w"
        )
        _start(store, run2, "site.install:other.example.com", "other.example.com")

        last = store.last_action("Site", "www.example.com")
        assert last is not None
        assert (last.kind, last.result, last.error) == ("site.upgrade", "failed", "updatedb: error")
        assert last.to_json() == {
            "kind": "site.upgrade",
            "result": "failed",
            "error": "updatedb: error",
            "at": last.at,
        }
        assert parse_time(last.at).tzinfo is UTC
        assert store.last_action("Platform", "www.example.com") is None
        running = store.last_action("Site", "other.example.com")
        assert running is not None
        assert running.result == "running"


def test_retry_state(backend: Backend) -> None:
    with backend.open() as store:
        key = "Site/www.example.com"
        assert store.retry_state(key) is None
        when = datetime(2024, 1, 1, 0, 0, 2, tzinfo=UTC)
        store.record_retry(key, 1, when)
        state = store.retry_state(key)
        assert state is not None
        assert state.attempts == 1
        assert parse_time(state.next_at) == when
        store.record_retry(key, 2, when + timedelta(seconds=2))
        state = store.retry_state(key)
        assert state is not None
        assert state.to_json() == {"attempts": 2, "nextAt": "2024-01-01T00:00:04.000000Z"}
        store.clear_retry(key)
        assert store.retry_state(key) is None
        store.clear_retry(key)  # clearing twice is fine
        with pytest.raises(ValueError, match="negative"):
            store.record_retry(key, -1, when)


def test_default_location_and_modes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = default_state_path()
    assert path == tmp_path / "state" / "reconciler" / "journal.sqlite"
    with open_store(None) as store:
        store.begin_run("r", "{}", "manual")
    assert path.is_file()
    assert _mode(path.parent) == 0o700
    assert _mode(path) == 0o600
    for extra in (path.with_name("journal.sqlite-wal"), path.with_name("journal.sqlite-shm")):
        if extra.exists():
            assert _mode(extra) & 0o077 == 0

    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_state_path() == (
        tmp_path / "home" / ".local" / "state" / "reconciler" / "journal.sqlite"
    )


def test_explicit_path_in_a_new_directory(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "state.db"
    with open_store(str(path)) as store:
        assert isinstance(store, SQLiteStore)
        assert store.path == path
    assert _mode(path.parent) == 0o700
    assert _mode(path) == 0o600
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


def test_concurrent_writers_on_one_journal_lose_no_rows(backend: Backend) -> None:
    stores = [backend.open(), backend.open()]
    per_writer = 40
    errors: list[BaseException] = []

    def work(store: Store, name: str) -> None:
        try:
            for n in range(per_writer):
                run = store.begin_run(f"{name}-{n}", "{}", "commit")
                row = _start(store, run, f"site.verify:{name}{n}.example.com", f"{name}{n}")
                step = store.record_step_start(row, 0, "check")
                store.record_step_end(step, "done", "ok")
                store.record_action_end(row, "succeeded")
                store.record_retry(f"{name}/{n}", n, datetime.now(UTC))
                store.end_run(run, "succeeded")
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(store, f"w{i}")) for i, store in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert errors == []

    for table in ("runs", "actions", "steps", "retries"):
        assert backend.sql(f"SELECT COUNT(*) FROM {table}") == [(2 * per_writer,)]
    assert backend.sql("SELECT COUNT(*) FROM runs WHERE status != 'succeeded'") == [(0,)]


def test_migrations_apply_once(backend: Backend) -> None:
    with backend.open() as store:
        run = store.begin_run("r", "{}", "manual")
    with backend.open() as store:  # reopening applies nothing twice
        assert store.get_run(run) is not None
    assert backend.sql("SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]


def test_migration_from_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.sqlite"
    path.touch()
    with open_store(str(path)) as store:
        store.begin_run("r", "{}", "manual")
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (0,)  # per connection
    finally:
        conn.close()


def test_a_newer_schema_is_refused(backend: Backend) -> None:
    backend.open().close()
    backend.sql("INSERT INTO schema_version VALUES (99, 'x')")
    with pytest.raises(ReconcilerError, match="schema version 99"):
        backend.open()


def test_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ReconcilerError, match="not a usable SQLite database"):
        open_store(str(path))


def test_foreign_keys_are_enforced(backend: Backend) -> None:
    with backend.open() as store:
        with pytest.raises(backend.integrity_error):
            store.record_step_start(12345, 0, "orphan")
        with pytest.raises(backend.integrity_error):
            _start(store, 999, "site.install:x.example.com", "x.example.com")


def test_redact_hook_and_output_cap(backend: Backend) -> None:
    seen: list[str] = []

    def redact(text: str) -> str:
        seen.append(text)
        return text.replace("hunter2", "***")

    with backend.open(redact=redact) as store:
        run = store.begin_run("r", "{}", "manual")
        row = _start(store, run, "site.install:www.example.com", "www.example.com")
        step = store.record_step_start(row, 0, "install")
        long_output = "x" * (3 * OUTPUT_CAP_BYTES) + "\npassword hunter2 at the end"
        store.record_step_end(step, "failed", long_output)
        store.record_action_end(row, "failed", "mysql -phunter2 failed")
        record = store.get_run(run)
        assert record is not None
        (action,) = record.actions
        assert action.error == "mysql -p*** failed"
        output = action.steps[0].output
        assert output is not None
        assert "hunter2" not in output
        assert output.endswith("password *** at the end")
        assert len(output.encode()) == OUTPUT_CAP_BYTES
        assert seen == [long_output, "mysql -phunter2 failed"]


def test_cap_tail_never_splits_a_character() -> None:
    text = "é" * OUTPUT_CAP_BYTES
    tail = cap_tail(text)
    assert len(tail.encode()) <= OUTPUT_CAP_BYTES
    assert set(tail) == {"é"}
    assert cap_tail("short") == "short"


def test_invalid_statuses_and_unknown_rows(backend: Backend) -> None:
    with backend.open() as store:
        with pytest.raises(json.JSONDecodeError):
            store.begin_run("r", "not json", "manual")
        run = store.begin_run("r", "{}", "manual")
        row = _start(store, run, "site.install:www.example.com", "www.example.com")
        with pytest.raises(ValueError, match="cannot end"):
            store.end_run(run, "running")
        with pytest.raises(ValueError, match="cannot end"):
            store.record_action_end(row, "pending")
        with pytest.raises(ValueError, match="must be one of"):
            store.record_action_end(row, "bogus")  # type: ignore[arg-type]
        with pytest.raises(KeyError):
            store.end_run(run + 100, "failed")
        with pytest.raises(KeyError):
            store.record_action_end(row + 100, "failed")
        with pytest.raises(KeyError):
            store.record_step_end(777, "done")
        # a step started again (a retried action) resets it
        step = store.record_step_start(row, 0, "install")
        store.record_step_end(step, "failed", "first try")
        assert store.record_step_start(row, 0, "install") == step
        record = store.get_run(run)
        assert record is not None
        assert record.actions[0].steps[0].status == "started"
        assert record.actions[0].steps[0].output is None
