"""The database driver's SQL and dump argv against the rig's real MariaDB (127.0.0.1:3306).

The built argv and stdin run locally with `subprocess`, as a transport would run them on the
database server. Every database and user is `rt_<random>` and is dropped in a `finally`.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from rig.mariadb import PREFIX, MariaDBAdmin

from reconciler.drivers.database import (
    client_options,
    create_site_database,
    drop_site_database,
    dump_argv,
    grant_drift,
    grant_hosts,
    parse_grants,
    show_grants_sql,
)
from reconciler.drivers.mysql import admin_argv
from reconciler.secrets import generate_password

pytestmark = pytest.mark.integration

HOST, PORT = "127.0.0.1", 3306
HOSTS = grant_hosts("127.0.0.1", "box", "box")
HOSTILE = "a'b\"c\\d`e#f;g $(id) h\u00e9\\'--\n x%_"


def _run(argv: Sequence[str], stdin: bytes, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode()


def _admin(adm: MariaDBAdmin, sql: bytes) -> str:
    return _run(admin_argv(str(adm.defaults_file)), sql)


def _name() -> str:
    return PREFIX + secrets.token_hex(6)


def _cleanup(adm: MariaDBAdmin, *names: str) -> None:
    for name in names:
        subprocess.run(
            admin_argv(str(adm.defaults_file)),
            input=drop_site_database(name, name, HOSTS),
            capture_output=True,
            timeout=60,
            check=False,
        )


def _as_user(user: str, password: str, sql: str, database: str | None = None) -> tuple[int, str]:
    """Run `sql` as the site user through a 0600 options file; (exit status, output)."""
    with tempfile.TemporaryDirectory() as tmp:
        cnf = Path(tmp) / "site.cnf"
        fd = os.open(cnf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(client_options(user, password, HOST, PORT))
        argv = ["mysql", f"--defaults-file={cnf}", "--batch", "--skip-column-names"]
        if database:
            argv.append(f"--database={database}")
        done = subprocess.run(
            argv, input=sql.encode(), capture_output=True, timeout=60, check=False
        )
    return done.returncode, (done.stdout + done.stderr).decode(errors="replace")


@pytest.fixture
def site_names(mariadb_admin: MariaDBAdmin) -> Iterator[list[str]]:
    """Names to use; each is dropped (database and user) at the end, whatever happened."""
    names = [_name(), _name()]
    try:
        yield names
    finally:
        _cleanup(mariadb_admin, *names)
        left = mariadb_admin.databases() & set(names)
        assert not left, left


def test_site_database_lifecycle(mariadb_admin: MariaDBAdmin, site_names: list[str]) -> None:
    db, other = site_names
    password, other_password = generate_password(), generate_password()
    sql = create_site_database(db, db, password, HOSTS)
    try:
        _admin(mariadb_admin, sql)
        _admin(mariadb_admin, sql)  # idempotent: a second run converges without error
        _admin(mariadb_admin, create_site_database(other, other, other_password, HOSTS))
        assert {db, other} <= mariadb_admin.databases()
        assert mariadb_admin.users(db) == set(HOSTS)
        charset = mariadb_admin.query(
            "SELECT default_character_set_name, default_collation_name"
            f" FROM information_schema.schemata WHERE schema_name = '{db}'"
        )
        assert charset == [["utf8mb4", "utf8mb4_general_ci"]]

        # the site user works in its own database, from 127.0.0.1 (TCP)
        status, out = _as_user(
            db,
            password,
            "CREATE TABLE node (nid INT PRIMARY KEY, title VARCHAR(64));\n"
            "INSERT INTO node VALUES (1, 'hello-from-rt');\n"
            "SELECT title FROM node;\n"
            "SELECT CURRENT_USER();\n",
            db,
        )
        assert status == 0, out
        assert "hello-from-rt" in out and f"{db}@127.0.0.1" in out
        # ... and nowhere else
        _as_user(other, other_password, "CREATE TABLE secret_t (x INT);", other)
        status, out = _as_user(db, password, f"SELECT * FROM `{other}`.secret_t;")
        assert status != 0 and "denied" in out
        status, out = _as_user(db, password, f"CREATE DATABASE `{_name()}`;")
        assert status != 0 and "denied" in out
        status, out = _as_user(db, password, "SELECT user FROM mysql.user;")
        assert status != 0 and "denied" in out
        status, out = _as_user(db, "wrong-password", "SELECT 1;")
        assert status != 0 and "denied" in out

        # the grants are exactly the site's: no drift, for every host
        for host in HOSTS:
            shown = _admin(mariadb_admin, show_grants_sql(db, [host]))
            assert grant_drift(parse_grants(shown), db, db, host) == []
            assert password not in shown
        _admin(mariadb_admin, f"GRANT PROCESS ON *.* TO '{db}'@'127.0.0.1';".encode())
        shown = _admin(mariadb_admin, show_grants_sql(db, ["127.0.0.1"]))
        assert grant_drift(parse_grants(shown), db, db, "127.0.0.1") == ["extra on *.*: PROCESS"]

        # a new password on a second run replaces the old one
        new_password = generate_password()
        _admin(mariadb_admin, create_site_database(db, db, new_password, HOSTS))
        assert _as_user(db, password, "SELECT 1;")[0] != 0
        assert _as_user(db, new_password, "SELECT COUNT(*) FROM node;", db) == (0, "1\n")

        # the dump, with the site's own credentials on stdin only
        argv = dump_argv(db)
        assert not any(new_password in arg for arg in argv)
        with tempfile.TemporaryDirectory() as home:
            # a ~/.my.cnf (the admin's, on a shared server) must not override the site's account
            Path(home, ".my.cnf").write_text("[client]\nuser=nobody_rt\npassword=nope\n")
            env = {"PATH": os.environ["PATH"], "HOME": home, "TMPDIR": home}
            dump = _run(argv, client_options(db, new_password, HOST, PORT), env)
            assert sorted(os.listdir(home)) == [".my.cnf"]  # the options file is gone
        assert "CREATE TABLE `node`" in dump and "hello-from-rt" in dump
        assert "secret_t" not in dump and new_password not in dump

        # a dump can be restored with the site's own credentials (LOCK TABLES granted)
        _as_user(db, new_password, "DROP TABLE node;", db)
        assert _as_user(db, new_password, dump, db)[0] == 0
        assert _as_user(db, new_password, "SELECT title FROM node;", db) == (0, "hello-from-rt\n")

        # drop: twice (idempotent), then database and user are gone
        drop = drop_site_database(db, db, HOSTS)
        _admin(mariadb_admin, drop)
        _admin(mariadb_admin, drop)
        assert db not in mariadb_admin.databases()
        assert mariadb_admin.users(db) == set()
        assert other in mariadb_admin.databases()
        assert _as_user(db, new_password, "SELECT 1;")[0] != 0
    finally:
        _cleanup(mariadb_admin, db, other)
    assert mariadb_admin.users(other) == set()


def test_hostile_password_round_trips(mariadb_admin: MariaDBAdmin, site_names: list[str]) -> None:
    """Quotes, backslashes, `#`, `;`, a newline: escaped in SQL and in the options file alike."""
    db = site_names[0]
    try:
        _admin(mariadb_admin, create_site_database(db, db, HOSTILE, ["127.0.0.1"]))
        assert mariadb_admin.users(db) == {"127.0.0.1"}
        assert _as_user(db, HOSTILE, "SELECT CURRENT_USER();") == (0, f"{db}@127.0.0.1\n")
        assert _as_user(db, HOSTILE[:-1], "SELECT 1;")[0] != 0
        dump = _run(dump_argv(db), client_options(db, HOSTILE, HOST, PORT))
        assert "Dump completed" in dump
    finally:
        _cleanup(mariadb_admin, db)
    assert mariadb_admin.users(db) == set()


def test_dump_fails_loudly_and_cleans_up(site_names: list[str]) -> None:
    db = site_names[0]  # never created: the dump must fail, the options file must still go
    with tempfile.TemporaryDirectory() as tmp:
        env = {"PATH": os.environ["PATH"], "HOME": tmp, "TMPDIR": tmp}
        done = subprocess.run(
            dump_argv(db),
            input=client_options(db, generate_password(), HOST, PORT),
            capture_output=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert done.returncode != 0 and b"denied" in done.stderr
        assert os.listdir(tmp) == []
