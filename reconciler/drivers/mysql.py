"""MariaDB/MySQL administration through the `mysql` client on the database server.

Pure: argument lists and parsers only. Administrative SQL runs on the database server over the
transport with the server's `adminDefaultsFile`, so the controller holds no database password.
"""

from __future__ import annotations

from reconciler.observe.models import ObservedDbServer

__all__ = ["LISTING_SQL", "admin_argv", "client_argv", "parse_listing", "unescape_batch"]

LISTING_SQL = (
    "SELECT 'D', s.schema_name, COALESCE(SUM(t.data_length + t.index_length), 0)"
    " FROM information_schema.schemata s"
    " LEFT JOIN information_schema.tables t ON t.table_schema = s.schema_name"
    " GROUP BY s.schema_name"
    " UNION ALL SELECT 'U', user, host FROM mysql.user"
)
_SYSTEM = {"information_schema", "performance_schema", "mysql", "sys"}


def client_argv(admin_defaults_file: str, sql: str) -> list[str]:
    """`mysql` in batch mode with the admin options file; `~/` is the login user's home."""
    if admin_defaults_file.startswith("~/"):
        # quoted arguments are not tilde-expanded by the remote shell: let sh add $HOME
        return [
            "sh",
            "-c",
            'exec mysql --defaults-file="$HOME/$1" --batch --skip-column-names -e "$2"',
            "sh",
            admin_defaults_file[2:],
            sql,
        ]
    return [
        "mysql",
        f"--defaults-file={admin_defaults_file}",
        "--batch",
        "--skip-column-names",
        "-e",
        sql,
    ]


def admin_argv(admin_defaults_file: str) -> list[str]:
    """`mysql` in batch mode with the admin options file, reading its SQL from stdin.

    For SQL that carries a secret (a password): stdin never shows in a process list, `-e` would.
    `~/` is the login user's home, as in `client_argv`.
    """
    options = ["--batch", "--skip-column-names", "--default-character-set=utf8mb4"]
    if admin_defaults_file.startswith("~/"):
        return [
            "sh",
            "-c",
            'f=$1; shift; exec mysql --defaults-file="$HOME/$f" "$@"',
            "sh",
            admin_defaults_file[2:],
            *options,
        ]
    return ["mysql", f"--defaults-file={admin_defaults_file}", *options]


def unescape_batch(value: str) -> str:
    """Undo the escaping of `mysql --batch` (\\t, \\n, \\0, \\\\)."""
    if "\\" not in value:
        return value
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        nxt = next(chars, "")
        out.append({"t": "\t", "n": "\n", "0": "\0", "\\": "\\"}.get(nxt, "\\" + nxt))
    return "".join(out)


def parse_listing(stdout: str) -> ObservedDbServer:
    """Databases (with their sizes in bytes) and users from `LISTING_SQL`'s output."""
    databases: dict[str, int] = {}
    users: list[tuple[str, str]] = []
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        kind, first, second = (unescape_batch(p) for p in parts)
        if kind == "D" and first not in _SYSTEM:
            databases[first] = int(second) if second.isdigit() else 0
        elif kind == "U":
            users.append((first, second))
    return ObservedDbServer(databases=databases, users=tuple(sorted(users)))
