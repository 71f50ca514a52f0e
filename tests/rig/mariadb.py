"""MariaDB: the rig admin account and fresh, throw-away databases.

Backs the fixtures ``mariadb_admin`` (session) and ``fresh_db`` (function).

The server is the real MariaDB on 127.0.0.1:3306. The admin account
``rig_admin`` (ALL PRIVILEGES WITH GRANT OPTION) is made by
``scripts/setup-test-host.sh``; its option files are
``/etc/reconciler-rig/admin.cnf`` (root) and ``/home/aegir/.my.cnf``
(aegir). SQL runs through the real ``mysql`` client.

A fresh database is named ``rt_<random>``; a user of the same name with a
random password is granted ALL on it for ``127.0.0.1`` and ``localhost``.
:func:`fresh_database` drops both when its block ends, even on failure.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rig import layout
from rig.hosts import Result, run_local

PREFIX = "rt_"


def _client_argv(defaults_file: Path, database: str | None) -> list[str]:
    argv = ["mysql", f"--defaults-file={defaults_file}", "--batch", "--skip-column-names"]
    if database is not None:
        argv.append(f"--database={database}")
    return argv


def _rows(result: Result) -> list[list[str]]:
    return [line.split("\t") for line in result.out.splitlines()]


@dataclass(frozen=True)
class MariaDBAdmin:
    """Connection info of the rig's MariaDB admin account (root side)."""

    host: str
    port: int
    user: str
    defaults_file: Path

    def run_sql(self, sql: str, database: str | None = None, check: bool = True) -> Result:
        """Feed *sql* to the ``mysql`` client as the admin."""
        return run_local(
            _client_argv(self.defaults_file, database), input=sql.encode(), check=check
        )

    def query(self, sql: str, database: str | None = None) -> list[list[str]]:
        """Rows (tab-split) of *sql* run as the admin."""
        return _rows(self.run_sql(sql, database))

    def databases(self) -> set[str]:
        return {row[0] for row in self.query("SHOW DATABASES")}

    def users(self, name: str) -> set[str]:
        """Hosts for which the account *name* exists."""
        rows = self.query(f"SELECT Host FROM mysql.user WHERE User = '{name}'")
        return {row[0] for row in rows}


@dataclass(frozen=True)
class FreshDatabase:
    """A database and its own user; the password is random per test."""

    name: str
    user: str
    password: str
    host: str
    port: int
    defaults_file: Path
    """Client option file for this user (root-only, removed at the end)."""

    def client_cnf(self) -> str:
        return (
            f"[client]\nuser={self.user}\npassword={self.password}\n"
            f"host={self.host}\nport={self.port}\n"
        )

    def run_sql(self, sql: str, database: str | None = None, check: bool = True) -> Result:
        """Feed *sql* to ``mysql`` as this database's user (default db: own)."""
        return run_local(
            _client_argv(self.defaults_file, database or self.name),
            input=sql.encode(),
            check=check,
        )

    def query(self, sql: str, database: str | None = None) -> list[list[str]]:
        return _rows(self.run_sql(sql, database))


def admin() -> MariaDBAdmin:
    """The admin info; fails clearly when setup-test-host.sh has not run."""
    if not layout.ADMIN_CNF.exists():
        raise RuntimeError(
            f"{layout.ADMIN_CNF} is missing: run scripts/setup-test-host.sh as root first"
        )
    return MariaDBAdmin(layout.DB_HOST, layout.DB_PORT, "rig_admin", layout.ADMIN_CNF)


def drop(adm: MariaDBAdmin, name: str) -> None:
    """Drop database *name* and its users (both hosts); idempotent."""
    assert name.startswith(PREFIX), name
    assert name[len(PREFIX) :].isalnum(), name
    adm.run_sql(
        f"DROP DATABASE IF EXISTS `{name}`;\n"
        f"DROP USER IF EXISTS '{name}'@'127.0.0.1';\n"
        f"DROP USER IF EXISTS '{name}'@'localhost';\n"
    )


@contextlib.contextmanager
def fresh_database(adm: MariaDBAdmin) -> Iterator[FreshDatabase]:
    """Create ``rt_<random>`` with its own user; drop both on exit."""
    name = PREFIX + secrets.token_hex(6)
    password = secrets.token_urlsafe(18)
    tmpdir = Path(tempfile.mkdtemp(prefix="rig-db-"))
    try:
        db = FreshDatabase(
            name, name, password, layout.DB_HOST, layout.DB_PORT, tmpdir / "client.cnf"
        )
        fd = os.open(db.defaults_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(db.client_cnf())
        try:
            adm.run_sql(
                f"CREATE DATABASE `{name}`;\n"
                + "".join(
                    f"CREATE USER '{name}'@'{h}' IDENTIFIED BY '{password}';\n"
                    f"GRANT ALL PRIVILEGES ON `{name}`.* TO '{name}'@'{h}';\n"
                    for h in ("127.0.0.1", "localhost")
                )
            )
            yield db
        finally:
            drop(adm, name)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
