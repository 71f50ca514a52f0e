"""The PostgreSQL journal and leadership, against the PostgreSQL server on this machine.

The store's semantics are tested on both stores in tests/unit/test_journal.py; this module tests
what only PostgreSQL has: URLs and their errors, schemas, broken connections, and leadership
between two real processes, one of them killed (for the SQLite file lock too).
"""

from __future__ import annotations

import asyncio
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rig.postgres import POSTGRES_URL, admin_connection, fresh_schema, query

from reconciler.errors import ReconcilerError, TransientError
from reconciler.journal import (
    FileLeadership,
    PostgresLeadership,
    PostgresStore,
    open_leadership,
    open_store,
)
from reconciler.journal.pgconn import parse_postgres_url
from reconciler.journal.schema import SCHEMA_VERSION

pytestmark = pytest.mark.integration

LIVENESS_S = 20.0  # an upper bound for things that take milliseconds; never a sleep


@pytest.fixture
def pg_url() -> Iterator[str]:
    with fresh_schema() as (url, _schema):
        yield url


def _terminate_backends(application_name_like: str) -> int:
    """Kill this process's server sessions whose application_name matches (as a server
    restart or a network cut would); returns how many."""
    with admin_connection() as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
            " WHERE application_name LIKE %s AND pid != pg_backend_pid()",
            (f"{application_name_like} pid {os.getpid()} %",),
        ).fetchall()
    return len(rows)


# -- URLs and errors ------------------------------------------------------------------------


def test_url_schema_and_printable_form() -> None:
    target = parse_postgres_url("postgresql://alice:s3cr%40t@db.example:5433/jobs?sslmode=require")
    assert target.schema == "reconciler"
    assert target.where == "postgresql://alice@db.example:5433/jobs?schema=reconciler"
    assert "s3cr" not in repr(target)
    assert "sslmode=require" in target.conninfo
    assert "connect_timeout=10" in target.conninfo
    assert "schema" not in target.conninfo  # the reconciler's parameter, not libpq's
    assert target.scrub("x s3cr%40t y s3cr@t z") == "x *** y *** z"

    target = parse_postgres_url("POSTGRES://db/j?schema=team_a&connect_timeout=3")
    assert (target.schema, target.where) == ("team_a", "postgres://db/j?schema=team_a")
    assert "connect_timeout=3" in target.conninfo
    assert "connect_timeout=10" not in target.conninfo


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://db/j?schema=Team", "not a plain lower-case"),
        ("postgresql://db/j?schema=1x", "not a plain lower-case"),
        ("postgresql://db/j?schema=a;drop", "not a plain lower-case"),
        ("postgresql://db/j?schema=a&schema=b", "more than once"),
        ("postgresql://u:hunter2@db/j?bogus=1", "not a valid PostgreSQL URL"),
    ],
)
def test_bad_urls_are_refused_before_connecting(url: str, message: str) -> None:
    with pytest.raises(ReconcilerError, match=message) as info:
        open_store(url)
    assert "postgresql://USER@HOST" in info.value.hint
    assert "hunter2" not in str(info.value)


def test_an_unreachable_server_names_the_host_and_the_fix() -> None:
    with pytest.raises(ReconcilerError) as info:
        open_store("postgresql://root:hunter2@127.0.0.1:1/test")
    text = str(info.value)
    assert "cannot connect to the PostgreSQL journal postgresql://root@127.0.0.1:1/test" in text
    assert "refused" in text
    assert "running and reachable at 127.0.0.1:1" in info.value.hint
    assert "hunter2" not in text


@pytest.mark.parametrize(
    ("url", "hint"),
    [
        (re.sub(r"//[^@/]*@", "//no_such_role:hunter2@", POSTGRES_URL), "user and password"),
        (POSTGRES_URL.rsplit("/", 1)[0] + "/no_such_db_rt", "createdb"),
    ],
)
def test_bad_credentials_or_database_are_clear(url: str, hint: str) -> None:
    with pytest.raises(ReconcilerError, match="cannot connect to the PostgreSQL journal") as info:
        open_store(url)
    assert hint in info.value.hint
    assert "hunter2" not in str(info.value)
    with pytest.raises(ReconcilerError):
        open_leadership(url)


# -- schemas --------------------------------------------------------------------------------


def test_tables_live_in_the_named_schema_and_journals_do_not_mix() -> None:
    with fresh_schema() as (url_a, schema_a), fresh_schema() as (url_b, schema_b):
        with open_store(url_a) as a, open_store(url_b) as b:
            assert isinstance(a, PostgresStore)
            assert a.schema == schema_a
            run_a = a.begin_run("rev-a", "{}", "manual")
            assert b.get_run(run_a) is None
            assert b.interrupted_runs() == ()
            assert [r.revision for r in a.interrupted_runs()] == ["rev-a"]
        tables = query(
            schema_a,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            f"'{schema_a}' ORDER BY table_name",
        )
        assert tables == [("actions",), ("retries",), ("runs",), ("schema_version",), ("steps",)]
        assert query(schema_b, "SELECT COUNT(*) FROM runs") == [(0,)]


def test_controllers_opening_a_new_schema_at_once_migrate_it_once(pg_url: str) -> None:
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def open_one() -> None:
        try:
            barrier.wait()
            open_store(pg_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    schema = parse_postgres_url(pg_url).schema
    assert query(schema, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]


def test_a_broken_connection_is_transient_and_the_next_call_reconnects(pg_url: str) -> None:
    with open_store(pg_url) as store:
        run = store.begin_run("r", "{}", "manual")
        assert _terminate_backends("reconciler journal") == 1
        assert store.get_run(run) is not None  # a read is retried on a new connection
        assert _terminate_backends("reconciler journal") == 1
        with pytest.raises(TransientError, match=r"the journal .* failed") as info:
            store.end_run(run, "succeeded")  # a write is not: it may or may not have happened
        assert "server is up" in info.value.hint
        store.end_run(run, "succeeded")
        record = store.get_run(run)
        assert record is not None
        assert record.status == "succeeded"


# -- leadership in one process --------------------------------------------------------------


def test_postgres_leadership_is_exclusive_per_schema(pg_url: str) -> None:
    with fresh_schema() as (other_url, _):
        first, second = open_leadership(pg_url), open_leadership(pg_url)
        elsewhere = open_leadership(other_url)
        assert isinstance(first, PostgresLeadership)
        try:
            assert first.holder() is None
            assert first.try_acquire()
            assert first.try_acquire()  # again: still one lock, not two
            assert first.held
            assert not second.try_acquire()
            assert not second.held
            assert elsewhere.try_acquire()  # another schema, another journal
            holder = second.holder()
            assert holder is not None
            assert f"reconciler leader pid {os.getpid()} on " in holder
            first.release()  # once is enough, however often it was acquired
            assert not first.held
            assert second.try_acquire()
            assert not first.try_acquire()
        finally:
            for lead in (first, second, elsewhere):
                lead.release()


def test_a_leader_whose_session_ends_knows_it_and_another_takes_over(pg_url: str) -> None:
    with open_leadership(pg_url) as first, open_leadership(pg_url) as second:
        assert first.try_acquire()
        assert _terminate_backends("reconciler leader") == 2
        assert not first.held  # asked the server, not remembered
        assert second.try_acquire()  # its connection broke too: it reconnected
        assert not first.try_acquire()


def test_file_leadership(tmp_path: Path) -> None:
    journal = tmp_path / "state" / "journal.sqlite"
    first, second = open_leadership(str(journal)), open_leadership(str(journal))
    assert isinstance(first, FileLeadership)
    assert first.path == tmp_path / "state" / "journal.sqlite.lock"
    assert first.holder() is None
    assert first.try_acquire()
    assert first.try_acquire()
    assert (first.path.stat().st_mode & 0o777) == 0o600
    assert isinstance(second, FileLeadership)
    assert not second.try_acquire()
    assert second.holder() == f"reconciler leader pid {os.getpid()} on {os.uname().nodename}"
    first.release()
    assert second.try_acquire()
    # a lock file deleted under the leader: it no longer leads (another may lock a new file)
    second.path.unlink()
    assert not second.held
    assert first.try_acquire()
    first.release()
    other = open_leadership(str(journal), name="backup")
    assert isinstance(other, FileLeadership)
    assert other.path.name == "journal.sqlite.backup.lock"


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
def test_wait_acquire_polls_until_released_and_a_cancelled_wait_leads_nothing(
    kind: str, tmp_path: Path
) -> None:
    with fresh_schema() as (url, _):
        state = url if kind == "postgres" else str(tmp_path / "j.sqlite")
        with open_leadership(state) as first, open_leadership(state) as second:
            assert first.try_acquire()

            async def scenario() -> None:
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.3):
                        await second.wait_acquire(poll=0.02)
                assert not second.held
                asyncio.get_running_loop().call_later(0.1, first.release)
                async with asyncio.timeout(LIVENESS_S):
                    await second.wait_acquire(poll=0.02)
                assert second.held
                with pytest.raises(ValueError, match="positive"):
                    await first.wait_acquire(poll=0)

            asyncio.run(scenario())
            assert not first.try_acquire()


def test_wait_acquire_rides_out_an_unreachable_server(pg_url: str) -> None:
    with open_leadership(pg_url) as lead:
        assert isinstance(lead, PostgresLeadership)
        reachable = lead.target
        lead.target = parse_postgres_url("postgresql://root:hunter2@127.0.0.1:1/test")
        lead.release()  # drops the connection: the next attempt connects to the dead server

        async def scenario() -> None:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await lead.wait_acquire(poll=0.02)
            assert isinstance(lead.last_error, TransientError)
            assert "127.0.0.1:1" in str(lead.last_error)
            assert "hunter2" not in str(lead.last_error)
            lead.target = reachable  # the server is back
            async with asyncio.timeout(LIVENESS_S):
                await lead.wait_acquire(poll=0.02)
            assert lead.last_error is None

        asyncio.run(scenario())
        assert lead.held


# -- leadership between processes: SIGKILL the leader ---------------------------------------

_LEADER = """
import asyncio, sys, time
from reconciler.journal import open_leadership
lead = open_leadership(sys.argv[1])
if not lead.try_acquire():
    print("waiting", flush=True)
    asyncio.run(lead.wait_acquire(poll=0.05))
print("leading", flush=True)
while lead.held:
    time.sleep(0.05)
print("lost", flush=True)
"""


class _Controller:
    """A process that seeks leadership and says so on stdout, line by line."""

    def __init__(self, state: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _LEADER, state], stdout=subprocess.PIPE, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def expect(self, wanted: str) -> None:
        try:
            line = self.lines.get(timeout=LIVENESS_S)
        except queue.Empty:
            pytest.fail(f"pid {self.proc.pid} did not say {wanted!r} within {LIVENESS_S} s")
        assert line == wanted, f"pid {self.proc.pid} said {line!r}, not {wanted!r}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=LIVENESS_S)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
def test_sigkill_the_leader_and_the_waiting_controller_takes_over(
    kind: str, tmp_path: Path
) -> None:
    with fresh_schema() as (url, _):
        state = url if kind == "postgres" else str(tmp_path / "j.sqlite")
        observer = open_leadership(state)
        first = _Controller(state)
        second: _Controller | None = None
        try:
            first.expect("leading")
            second = _Controller(state)
            second.expect("waiting")
            holder = observer.holder()  # the lock is the first's: the second only waits
            assert holder is not None
            assert re.search(rf"pid {first.proc.pid}\b", holder), holder
            assert second.lines.empty()

            first.proc.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            first.proc.wait(timeout=LIVENESS_S)
            second.expect("leading")
            took = time.monotonic() - killed
            assert took < LIVENESS_S
            holder = observer.holder()
            assert holder is not None
            assert re.search(rf"pid {second.proc.pid}\b", holder), holder
            assert not observer.try_acquire()
        finally:
            observer.release()
            first.stop()
            if second is not None:
                second.stop()
