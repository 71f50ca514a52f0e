"""PostgreSQL: the server on this machine, and a fresh, throw-away schema per test.

The server is the real PostgreSQL on 127.0.0.1:5432 (trust authentication, database `test`,
user `root`); `RECONCILER_TEST_POSTGRES` names another as a URL. A test that needs it and cannot
reach it fails, saying so: it is never skipped.

A fresh schema is named `rt_<random>`; the journal's URL names it with `?schema=`, and
:func:`fresh_schema` drops it (CASCADE) when its block ends, even on failure.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

__all__ = ["POSTGRES_URL", "admin_connection", "fresh_schema", "query"]

POSTGRES_URL = os.environ.get("RECONCILER_TEST_POSTGRES", "postgresql://root@127.0.0.1:5432/test")
PREFIX = "rt_"


def admin_connection(schema: str | None = None) -> psycopg.Connection[tuple[Any, ...]]:
    """An autocommit connection to the test server (`search_path` set to `schema` if given),
    or a test failure saying how to provide the server."""
    extra = {"options": f"-c search_path={schema}"} if schema else {}
    try:
        conninfo = make_conninfo(POSTGRES_URL, connect_timeout=10, **extra)
        return psycopg.connect(conninfo, autocommit=True)
    except psycopg.Error as exc:
        pytest.fail(
            f"the PostgreSQL test server {POSTGRES_URL} is not reachable ({exc}); start it, "
            "or name another with RECONCILER_TEST_POSTGRES=postgresql://USER@HOST:PORT/DB",
            pytrace=False,
        )


def query(schema: str, statement: str) -> list[tuple[Any, ...]]:
    """Run one raw SQL statement with `schema` first on the search path; its rows, if any."""
    with admin_connection(schema) as conn:
        cur = conn.execute(statement.encode())
        return cur.fetchall() if cur.description is not None else []


@contextlib.contextmanager
def fresh_schema() -> Iterator[tuple[str, str]]:
    """`(url, schema)`: a journal URL naming a new schema, dropped afterwards (CASCADE)."""
    schema = PREFIX + secrets.token_hex(6)
    separator = "&" if "?" in POSTGRES_URL else "?"
    with admin_connection():
        pass  # fail early and clearly if the server is not there
    try:
        yield f"{POSTGRES_URL}{separator}schema={schema}", schema
    finally:
        with admin_connection() as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
