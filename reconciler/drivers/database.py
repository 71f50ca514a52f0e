"""A site's MariaDB/MySQL database and user: SQL making, dropping and checking them; the dump.

Pure: this module builds SQL text and argument lists and parses output; the caller runs them
through a transport. Administrative SQL runs ON THE DATABASE SERVER through `mysql.admin_argv`
(the server's `adminDefaultsFile`), with the SQL on stdin: it carries the site's password, which
must never be on a command line (process lists, shell history, the journal).

Decisions:

* Privileges (`SITE_PRIVILEGES`) are those Drupal's INSTALL.mysql.txt asks for (SELECT, INSERT,
  UPDATE, DELETE, CREATE, DROP, INDEX, ALTER, CREATE TEMPORARY TABLES) plus LOCK TABLES, on the
  site's database only. LOCK TABLES is not needed to dump (`--single-transaction` takes no table
  locks) but `mysqldump`'s output, drush's `sql:dump` included, starts every table with
  `LOCK TABLES ... WRITE`: restoring a dump with the site's own credentials needs it. It is
  scoped to the site's own tables, so it adds nothing across sites. Never a global privilege,
  never GRANT OPTION, never ALL PRIVILEGES.
* Character set utf8mb4 with utf8mb4_general_ci, Drupal's defaults for MySQL. An existing
  database keeps its own (CREATE DATABASE IF NOT EXISTS): adopted databases are not altered.
* Hosts (`grant_hosts`): the web server's `address`, or `localhost` and `127.0.0.1` when the web
  and database servers are the same server (or the address is a loopback one).
* In `GRANT ... ON db.*` the database name is a LIKE pattern: `_` is escaped (`\\_`) so that the
  grant covers that database only. (MySQL 8 with `partial_revokes=ON` takes names literally;
  pass `escape_wildcards=False` there.)
* Idempotent: CREATE ... IF NOT EXISTS, then ALTER USER to (re)set the password and GRANT (which
  adds what is missing). Extra privileges granted by hand are not revoked here: `grant_drift`
  reports them so that verify can say what it changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from reconciler.drivers.mysql import admin_argv, unescape_batch

__all__ = [
    "CHARSET",
    "COLLATION",
    "LOOPBACK_HOSTS",
    "SITE_PRIVILEGES",
    "Grant",
    "admin_argv",
    "check_database_name",
    "check_grant_host",
    "check_user_name",
    "client_options",
    "create_site_database",
    "drop_site_database",
    "dump_argv",
    "grant_drift",
    "grant_hosts",
    "parse_grants",
    "quote_account",
    "quote_identifier",
    "quote_string",
    "show_grants_sql",
]

SITE_PRIVILEGES: Final = (
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "CREATE",
    "DROP",
    "INDEX",
    "ALTER",
    "CREATE TEMPORARY TABLES",
    "LOCK TABLES",
)
CHARSET: Final = "utf8mb4"
COLLATION: Final = "utf8mb4_general_ci"
LOOPBACK_HOSTS: Final = ("localhost", "127.0.0.1")
_LOOPBACK_ADDRESSES = frozenset({"localhost", "127.0.0.1", "::1"})

_IDENT_RE = re.compile(r"[A-Za-z0-9_]{1,64}")
_USER_RE = re.compile(r"[A-Za-z0-9_]{1,32}")
# host names, IPv4 and IPv6 addresses; never `%` or `_` (wildcards), quotes or spaces
_HOST_RE = re.compile(r"[A-Za-z0-9.:-]{1,255}")

# the backslash must be escaped first; sql_mode NO_BACKSLASH_ESCAPES is switched off by the script
_STRING_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\x1a": "\\Z"}
# undoes NO_BACKSLASH_ESCAPES for this session only, keeping every other mode
_SQL_MODE = (
    "SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE("
    "CONCAT(',', @@SESSION.sql_mode, ','), ',NO_BACKSLASH_ESCAPES,', ','));\n"
)


def check_database_name(name: str) -> str:
    """`name` when it is a safe database name (`[A-Za-z0-9_]{1,64}`); ValueError otherwise."""
    if not _IDENT_RE.fullmatch(name):
        raise ValueError(f"{name!r} is not a database name: [A-Za-z0-9_], 1 to 64 characters")
    return name


def check_user_name(user: str) -> str:
    """`user` when it is a safe database user name (`[A-Za-z0-9_]{1,32}`); ValueError otherwise."""
    if not _USER_RE.fullmatch(user):
        raise ValueError(f"{user!r} is not a database user name: [A-Za-z0-9_], 1 to 32 characters")
    return user


def check_grant_host(host: str) -> str:
    """`host` when it is a host name or an IP address with no wildcard; ValueError otherwise."""
    if not _HOST_RE.fullmatch(host) or host.startswith(("-", ".")):
        raise ValueError(f"{host!r} is not a host name or IP address to grant a user for")
    return host


def quote_identifier(name: str) -> str:
    """A database name as a backquoted SQL identifier (the name is checked first)."""
    return "`" + check_database_name(name).replace("`", "``") + "`"


def _grant_database(name: str, escape_wildcards: bool) -> str:
    pattern = check_database_name(name)
    if escape_wildcards:
        pattern = pattern.replace("_", "\\_")
    return "`" + pattern + "`"


def quote_string(value: str) -> str:
    """An SQL string literal of `value`, for a session without NO_BACKSLASH_ESCAPES.

    Any text except NUL: quotes, backslashes and line breaks are escaped.
    """
    if "\0" in value:
        raise ValueError("a NUL character cannot be part of an SQL string here")
    return "'" + "".join(_STRING_ESCAPES.get(c, c) for c in value) + "'"


def quote_account(user: str, host: str) -> str:
    """`'user'@'host'`, both checked."""
    return f"{quote_string(check_user_name(user))}@{quote_string(check_grant_host(host))}"


def grant_hosts(web_server_address: str, db_server_name: str, web_server_name: str) -> list[str]:
    """The hosts a site's database user is granted for (CONTRACT.md, Server `address`).

    The web server's address; `localhost` and `127.0.0.1` when the web and database servers are the
    same server. A loopback address (two declared servers on one machine) gets both as well, so
    that a site reaching the database through the socket (`localhost`) or TCP works either way.
    """
    if db_server_name == web_server_name or web_server_address in _LOOPBACK_ADDRESSES:
        hosts = [*LOOPBACK_HOSTS]
        if web_server_address not in hosts and db_server_name != web_server_name:
            hosts.append(check_grant_host(web_server_address))
        return hosts
    return [check_grant_host(web_server_address)]


def _hosts(hosts: Sequence[str]) -> list[str]:
    if isinstance(hosts, str):
        raise TypeError("grant_hosts is a list of hosts, not one string")
    unique = list(dict.fromkeys(check_grant_host(h) for h in hosts))
    if not unique:
        raise ValueError("a database user needs at least one host")
    return unique


def create_site_database(
    db_name: str,
    user: str,
    password: str,
    grant_hosts: Sequence[str],
    *,
    escape_wildcards: bool = True,
) -> bytes:
    """SQL (for stdin of `admin_argv`) making the site's database and its user; idempotent.

    Running it again converges: the database is kept, the user's password is set to `password`
    and missing privileges are granted. The text holds the password: never log it.
    """
    database = quote_identifier(db_name)
    pattern = _grant_database(db_name, escape_wildcards)
    secret = quote_string(password)
    privileges = ", ".join(SITE_PRIVILEGES)
    lines = [
        _SQL_MODE,
        f"CREATE DATABASE IF NOT EXISTS {database} CHARACTER SET {CHARSET} COLLATE {COLLATION};\n",
    ]
    for host in _hosts(grant_hosts):
        account = quote_account(user, host)
        lines += [
            f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY {secret};\n",
            f"ALTER USER {account} IDENTIFIED BY {secret};\n",
            f"GRANT {privileges} ON {pattern}.* TO {account};\n",
        ]
    return "".join(lines).encode()


def drop_site_database(db_name: str, user: str, grant_hosts: Sequence[str]) -> bytes:
    """SQL (for stdin of `admin_argv`) dropping the site's database and its user; idempotent.

    DROP USER takes the user's privileges with it.
    """
    lines = [f"DROP DATABASE IF EXISTS {quote_identifier(db_name)};\n"]
    lines += [f"DROP USER IF EXISTS {quote_account(user, h)};\n" for h in _hosts(grant_hosts)]
    return "".join(lines).encode()


def show_grants_sql(user: str, grant_hosts: Sequence[str]) -> bytes:
    """SQL listing the user's grants for each host; `parse_grants` reads its output.

    A host for which the user does not exist makes `mysql` fail (error 1141): that is drift too.
    """
    return "".join(
        f"SHOW GRANTS FOR {quote_account(user, h)};\n" for h in _hosts(grant_hosts)
    ).encode()


@dataclass(frozen=True)
class Grant:
    """One line of SHOW GRANTS, without any password hash it carried.

    `database` and `table` are unquoted (`*` for all); `database` is the LIKE pattern as
    granted (`a\\_b` for a grant escaping its `_`). `routine` is PROCEDURE, FUNCTION, ... for a
    grant on a routine; a role granted to the user has `privileges == {role}` and `role=True`.
    """

    privileges: frozenset[str]
    database: str
    table: str
    user: str
    host: str
    grant_option: bool = False
    routine: str = ""
    role: bool = False


_NAME = r"(?:`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*'|[^\s@`']+)"
_OBJECT = r"(?:`(?:[^`]|``)*`|\*|[A-Za-z0-9_$]+)"
_GRANT_RE = re.compile(
    rf"GRANT (?P<privs>.+?) ON (?:(?P<routine>PROCEDURE|FUNCTION|PACKAGE BODY|PACKAGE) )?"
    rf"(?P<db>{_OBJECT})(?:\.(?P<table>{_OBJECT}))? TO (?P<user>{_NAME})@(?P<host>{_NAME})"
    r"(?P<rest>.*)",
    re.IGNORECASE,
)
_ROLE_RE = re.compile(
    rf"GRANT (?P<role>{_NAME}) TO (?P<user>{_NAME})(?:@(?P<host>{_NAME}))?(?P<rest>.*)",
    re.IGNORECASE,
)


def _unquote(token: str) -> str:
    if token.startswith("`"):
        return token[1:-1].replace("``", "`")
    if token.startswith("'"):
        body = token[1:-1].replace("''", "'")
        return re.sub(r"\\(.)", r"\1", body)
    return token


def _privileges(text: str) -> frozenset[str]:
    # commas inside a column list, `SELECT (a, b)`, do not separate privileges
    parts = re.split(r",\s*(?![^()]*\))", text)
    return frozenset(" ".join(p.split()).upper() for p in parts if p.strip())


def parse_grants(stdout: str) -> list[Grant]:
    """The grants in the output of `show_grants_sql` run by `mysql --batch --skip-column-names`.

    A line that is not understood raises ValueError: a verify step must not take it for no drift.
    """
    grants: list[Grant] = []
    for raw in stdout.splitlines():
        line = unescape_batch(raw).strip()
        if not line:
            continue
        if m := _GRANT_RE.fullmatch(line):
            grants.append(
                Grant(
                    privileges=_privileges(m["privs"]),
                    database=_unquote(m["db"]),
                    table=_unquote(m["table"] or "*"),
                    user=_unquote(m["user"]),
                    host=_unquote(m["host"]),
                    grant_option="WITH GRANT OPTION" in m["rest"].upper(),
                    routine=(m["routine"] or "").upper(),
                )
            )
        elif m := _ROLE_RE.fullmatch(line):
            grants.append(
                Grant(
                    privileges=frozenset({_unquote(m["role"])}),
                    database="*",
                    table="*",
                    user=_unquote(m["user"]),
                    host=_unquote(m["host"] or "%"),
                    grant_option="WITH ADMIN OPTION" in m["rest"].upper(),
                    role=True,
                )
            )
        else:
            raise ValueError(f"not a SHOW GRANTS line: {line[:60]!r}")
    return grants


def grant_drift(grants: Iterable[Grant], db_name: str, user: str, host: str) -> list[str]:
    """What differs between `user@host`'s grants and a site user's: empty when nothing.

    Expected: USAGE on `*.*` and exactly `SITE_PRIVILEGES` on the site's database (granted with
    or without its `_` escaped); anything else is reported, missing privileges too. The messages
    hold names only, never a password.
    """
    check_database_name(db_name)
    own = {db_name, db_name.replace("_", "\\_")}
    found: set[str] = set()
    problems: list[str] = []
    for grant in grants:
        if (grant.user, grant.host) != (user, host):
            continue
        where = f"{grant.routine + ' ' if grant.routine else ''}{grant.database}.{grant.table}"
        if grant.role:
            problems.append(f"role {sorted(grant.privileges)[0]} granted")
            continue
        if grant.grant_option:
            problems.append(f"GRANT OPTION on {where}")
        if (grant.database, grant.table, grant.routine) == ("*", "*", ""):
            extra = grant.privileges - {"USAGE"}
        elif grant.database in own and grant.table == "*" and not grant.routine:
            found |= grant.privileges
            extra = grant.privileges - set(SITE_PRIVILEGES)
        else:
            extra = grant.privileges
        if extra:
            problems.append(f"extra on {where}: {', '.join(sorted(extra))}")
    missing = [p for p in SITE_PRIVILEGES if p not in found]
    if missing:
        problems.append(f"missing on {db_name}.*: {', '.join(missing)}")
    return problems


def _option_value(value: str) -> str:
    if "\0" in value:
        raise ValueError("a NUL character cannot be part of a client option")
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def client_options(user: str, password: str, host: str, port: int) -> bytes:
    """A client options file (`[client]` group) for the site's own account: `dump_argv`'s stdin.

    Values are double-quoted and escaped, so any password (`#`, quotes, spaces...) reads back as
    written. The text holds the password: never log it.
    """
    if not 0 < port < 65536:
        raise ValueError(f"{port} is not a TCP port")
    return (
        "[client]\n"
        f"user={_option_value(check_user_name(user))}\n"
        f"password={_option_value(password)}\n"
        f"host={_option_value(check_grant_host(host))}\n"
        f"port={port}\n"
    ).encode()


_DUMP_SCRIPT = (
    "umask 077\n"
    'f=$(mktemp "${TMPDIR:-/tmp}/reconciler-db.XXXXXXXXXX") || exit 1\n'
    "trap 'rm -f \"$f\"' EXIT\n"
    "trap 'exit 129' HUP\n"
    "trap 'exit 130' INT\n"
    "trap 'exit 143' TERM\n"
    'cat >"$f" || exit 1\n'
    'mysqldump --defaults-file="$f" --single-transaction --quick --no-autocommit'
    ' --no-tablespaces --skip-lock-tables --default-character-set=utf8mb4 "$1"\n'
)


def dump_argv(db_name: str) -> list[str]:
    """Argv dumping `db_name` to stdout with the SITE's own credentials; run on the web server.

    stdin must be `client_options(user, password, host, port)` for the site (its settings.php
    values) and nothing else: the script writes it to a 0600 temporary file, runs `mysqldump`
    with it and removes the file on exit (also on HUP, INT or TERM). No password is in argv.

    `--defaults-file`, not `--defaults-extra-file`: the latter is read before `~/.my.cnf`, which
    may hold the admin account on the database server and would then win over the site's.
    `--single-transaction --quick --no-autocommit`: a consistent InnoDB snapshot without table
    locks, streamed row by row, fast to restore. `--no-tablespaces`: MySQL 8 otherwise wants the
    global PROCESS privilege. The exit status is mysqldump's.
    """
    return ["sh", "-c", _DUMP_SCRIPT, "sh", check_database_name(db_name)]
