"""PostgreSQL URLs as `--state` gives them, and connections with errors a user can act on.

`postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?schema=NAME&...]` (or `postgres://`):
`schema` is the reconciler's own parameter (the schema holding the journal's tables, default
`reconciler`); every other parameter (`sslmode`, `connect_timeout`, ...) is libpq's. A password
is better kept out of the URL (`~/.pgpass` or `PGPASSWORD`); one in it is never shown.

`parse_postgres_url` takes the reconciler's own `schema` parameter out of the URL and keeps a
printable form of it without the password; `connect` opens a connection (with a connect timeout
and TCP keepalives unless the URL sets them) and turns libpq's failures into a `ReconcilerError`
naming the server and the fix. No message built here ever contains the password.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import Connection
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

from reconciler.errors import ReconcilerError

__all__ = [
    "DEFAULT_SCHEMA",
    "POSTGRES_SCHEMES",
    "PostgresTarget",
    "connect",
    "is_postgres_url",
    "one_line",
    "parse_postgres_url",
]

POSTGRES_SCHEMES: Final = ("postgresql://", "postgres://")
DEFAULT_SCHEMA: Final = "reconciler"
"""The schema holding the journal's tables when the URL has no `?schema=`."""

_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Unless the URL says otherwise: give up on an unreachable server after 10 s, and notice a dead
# peer within about a minute (which also ends a lost leader's session on the server's side).
_DEFAULTS: Final = {
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}


def is_postgres_url(state: str) -> bool:
    """Whether `--state` names a PostgreSQL database rather than a SQLite file."""
    return state.lower().startswith(POSTGRES_SCHEMES)


@dataclass(frozen=True)
class PostgresTarget:
    """Where a PostgreSQL journal lives. `where` is safe to print; `conninfo` is not."""

    where: str
    schema: str
    host: str
    conninfo: str = field(repr=False)
    password: str = field(repr=False, default="")

    def scrub(self, text: str) -> str:
        """`text` with the password (as given, or percent-decoded) replaced by `***`."""
        for secret in {self.password, unquote(self.password)}:
            if secret:
                text = text.replace(secret, "***")
        return text


def _bad_url(message: str) -> ReconcilerError:
    return ReconcilerError(
        message,
        hint="--state takes postgresql://USER@HOST[:PORT]/DATABASE[?schema=NAME], "
        "or a SQLite file path",
    )


def parse_postgres_url(url: str) -> PostgresTarget:
    """Split `url` into libpq's connection string and the journal's schema (see module)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:
        raise _bad_url(f"--state is not a valid PostgreSQL URL: {exc}") from exc
    userinfo, _, hostpart = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    if len(schemas) > 1:
        raise _bad_url("--state names `schema` more than once")
    schema = schemas[0] if schemas else DEFAULT_SCHEMA
    if not _SCHEMA_NAME.fullmatch(schema):
        raise _bad_url(
            f"--state's schema {schema!r} is not a plain lower-case PostgreSQL name "
            "(letters, digits and _, at most 63, not starting with a digit)"
        )
    rest = [(key, value) for key, value in query if key != "schema"]
    libpq_url = urlunsplit((parts.scheme.lower(), parts.netloc, parts.path, urlencode(rest), ""))
    shown = f"{parts.scheme.lower()}://{user + '@' if user else ''}{hostpart}{parts.path}"
    target = PostgresTarget(
        where=f"{shown}?schema={schema}",
        schema=schema,
        host=hostpart or "the local socket",
        conninfo="",
        password=password,
    )
    try:
        params = conninfo_to_dict(libpq_url)
    except psycopg.Error as exc:
        raise _bad_url(f"--state is not a valid PostgreSQL URL: {one_line(exc, target)}") from exc
    extra = {key: value for key, value in _DEFAULTS.items() if key not in params}
    return PostgresTarget(
        where=target.where,
        schema=schema,
        host=target.host,
        conninfo=make_conninfo(libpq_url, **extra),
        password=password or str(params.get("password") or ""),
    )


def one_line(exc: BaseException, target: PostgresTarget) -> str:
    """A libpq/psycopg error as one line, without the password."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return target.scrub(text) or type(exc).__name__


def _hint(message: str, target: PostgresTarget) -> str:
    lowered = message.lower()
    if "password" in lowered or "authentication" in lowered or "role" in lowered:
        return (
            "check the user and password: put the password in ~/.pgpass or PGPASSWORD rather "
            "than in --state, and check pg_hba.conf allows this user from this host"
        )
    if "pg_hba.conf" in lowered:
        return "allow this user and host in the server's pg_hba.conf"
    if "database" in lowered and "does not exist" in lowered:
        return "create the database (createdb), or name an existing one in --state"
    return (
        f"check that PostgreSQL is running and reachable at {target.host} (pg_isready), "
        "or omit --state for the SQLite journal"
    )


def connect(target: PostgresTarget, purpose: str) -> Connection[TupleRow]:
    """An autocommit connection to `target`, named `purpose` in `pg_stat_activity` (with this
    host and process id), or a `ReconcilerError` saying why not and what to do."""
    name = f"{purpose} pid {os.getpid()} on {socket.gethostname()}"[:63]
    try:
        return psycopg.connect(target.conninfo, autocommit=True, application_name=name)
    except psycopg.Error as exc:
        message = one_line(exc, target)
        raise ReconcilerError(
            f"cannot connect to the PostgreSQL journal {target.where}: {message}",
            hint=_hint(message, target),
        ) from exc
