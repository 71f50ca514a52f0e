"""A site's ``settings.php``: the whole file, rendered from the controller's values.

Pure: :func:`render_settings_php` returns text; writing it (through a quoted here-document, see
``reconciler.actions.script.Script.write_file``) is the caller's business. This module owns what
goes into the file and how every value is written as PHP.

The file is complete before ``drush site:install`` runs, so that the installer writes nothing
into it (it may stay read-only during the install): ``$databases['default']['default']`` with
the keys the installer itself writes, a non-empty ``hash_salt`` and a ``config_sync_directory``
(which must exist by then). It also sets what ``default.settings.php`` sets and Drupal expects
(``update_free_access``, ``file_scan_ignore_directories``, ``entity_update_batch_size``,
``entity_update_backup``, ``migrate_node_migrate_type_classic``), the private files path, one
anchored trusted-host pattern per host name, and the modes Drupal gives the files and
directories it creates (0660 and 2770, as the controller's own), so that uploads need no fixing.
It never includes ``settings.local.php`` or ``services.yml``: nothing else is read from the site
directory.

Values: every string is written as a PHP single-quoted literal (backslash and quote escaped),
so a password may hold any printable character, ``$`` and ``?>`` included. Control characters
(NUL and line breaks among them), text that is not valid Unicode, and an empty password or hash
salt are refused with a ``ValueError`` naming the argument, never quoting a secret.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "DIRECTORY_MODE",
    "FILE_MODE",
    "HEADER",
    "MysqlDatabase",
    "SqliteDatabase",
    "php_string",
    "render_settings_php",
    "trusted_host_pattern",
]

HEADER = (
    "managed by reconciler; do not edit, changes are reverted; "
    "secrets are generated, written only here"
)

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")  # fullmatch only
_HOST_MAX = 253
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

_MYSQL_NAMESPACE = "Drupal\\mysql\\Driver\\Database\\mysql"
_MYSQL_AUTOLOAD = "core/modules/mysql/src/Driver/Database/mysql/"
_SQLITE_NAMESPACE = "Drupal\\sqlite\\Driver\\Database\\sqlite"
_SQLITE_AUTOLOAD = "core/modules/sqlite/src/Driver/Database/sqlite/"
# The modes Drupal gives what it creates (the controller's own); written in decimal, since an
# octal literal would send the observer's settings.php parser off its fast path.
DIRECTORY_MODE = 0o2770
FILE_MODE = 0o660
_ISOLATION_LEVEL = "READ COMMITTED"  # what the installer writes for MySQL since Drupal 10.1


@dataclass(frozen=True)
class MysqlDatabase:
    """A MariaDB/MySQL database as the site reaches it (Drupal's ``mysql`` driver)."""

    name: str
    username: str
    password: str
    host: str
    port: int
    driver: str = "mysql"


@dataclass(frozen=True)
class SqliteDatabase:
    """A SQLite database: the site's ``private/db.sqlite``, absolute or relative to the docroot
    (``sites/<site>/private/db.sqlite``)."""

    path: str


def php_string(value: str) -> str:
    """*value* as a PHP single-quoted string literal (backslash and quote escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def trusted_host_pattern(host: str) -> str:
    """The anchored regular expression matching exactly the host name *host*."""
    _check_host("trusted_hosts", host)
    return "^" + host.replace(".", "\\.") + "$"


def render_settings_php(
    *,
    site: str,
    database: MysqlDatabase | SqliteDatabase,
    hash_salt: str,
    config_sync_directory: str,
    file_private_path: str,
    trusted_hosts: Sequence[str],
    file_temp_path: str | None = None,
) -> str:
    """The complete ``settings.php`` of the site *site*.

    *config_sync_directory*, *file_private_path* and *file_temp_path* (omitted when ``None``)
    are absolute paths or paths under `sites/` relative to the docroot; *trusted_hosts* the
    host names the site answers to (at least one;
    duplicates are written once).
    """
    _check_host("site", site)
    _check_text("hash_salt", hash_salt, required=True)
    paths = {
        "config_sync_directory": config_sync_directory,
        "file_private_path": file_private_path,
    }
    if file_temp_path is not None:
        paths["file_temp_path"] = file_temp_path
    for name, path in paths.items():
        _check_path(name, path)
    patterns = _trusted_host_patterns(trusted_hosts)
    return "".join(
        [
            _header(site),
            _database_block(database),
            _settings_block(hash_salt, paths, patterns),
        ]
    )


def _header(site: str) -> str:
    lines = ["<?php", "", "/**", " * @file", f" * Drupal settings of the site {site}.", " *"]
    lines += [f" * {HEADER}.", " */", "", ""]
    return "\n".join(lines)


def _database_block(database: MysqlDatabase | SqliteDatabase) -> str:
    entries = (
        _mysql_entries(database)
        if isinstance(database, MysqlDatabase)
        else _sqlite_entries(database)
    )
    lines = [f"  {php_string(key)} => {value}," for key, value in entries]
    return "$databases['default']['default'] = [\n" + "\n".join(lines) + "\n];\n\n"


def _mysql_entries(db: MysqlDatabase) -> list[tuple[str, str]]:
    """The keys the installer writes, in its order."""
    if db.driver != "mysql":
        raise ValueError(f"database.driver: only 'mysql' is supported, not {db.driver!r}")
    _check_text("database.name", db.name, required=True)
    _check_text("database.username", db.username, required=True)
    _check_text("database.password", db.password, required=True)
    _check_text("database.host", db.host, required=True)
    if isinstance(db.port, bool) or not isinstance(db.port, int) or not 0 < db.port < 65536:
        raise ValueError(f"database.port: not a TCP port: {db.port!r}")
    return [
        ("database", php_string(db.name)),
        ("username", php_string(db.username)),
        ("password", php_string(db.password)),
        ("prefix", "''"),
        ("host", php_string(db.host)),
        ("port", str(db.port)),
        ("isolation_level", php_string(_ISOLATION_LEVEL)),
        ("driver", php_string(db.driver)),
        ("namespace", php_string(_MYSQL_NAMESPACE)),
        ("autoload", php_string(_MYSQL_AUTOLOAD)),
    ]


def _sqlite_entries(db: SqliteDatabase) -> list[tuple[str, str]]:
    _check_path("database.path", db.path)
    return [
        ("database", php_string(db.path)),
        ("prefix", "''"),
        ("driver", "'sqlite'"),
        ("namespace", php_string(_SQLITE_NAMESPACE)),
        ("autoload", php_string(_SQLITE_AUTOLOAD)),
    ]


def _settings_block(hash_salt: str, paths: dict[str, str], patterns: list[str]) -> str:
    lines = [f"$settings['hash_salt'] = {php_string(hash_salt)};"]
    lines += [
        f"$settings[{php_string(name)}] = {php_string(path)};" for name, path in paths.items()
    ]
    lines.append("$settings['trusted_host_patterns'] = [")
    lines += [f"  {php_string(pattern)}," for pattern in patterns]
    lines += [
        "];",
        "$settings['update_free_access'] = FALSE;",
        "$settings['file_scan_ignore_directories'] = [",
        "  'node_modules',",
        "  'bower_components',",
        "];",
        "$settings['entity_update_batch_size'] = 50;",
        "$settings['entity_update_backup'] = TRUE;",
        "$settings['migrate_node_migrate_type_classic'] = FALSE;",
        "// Modes of what Drupal creates, the controller's own: 02770 and 0660 (octal).",
        f"$settings['file_chmod_directory'] = {DIRECTORY_MODE};",
        f"$settings['file_chmod_file'] = {FILE_MODE};",
    ]
    return "\n".join(lines) + "\n"


def _trusted_host_patterns(hosts: Sequence[str]) -> list[str]:
    if isinstance(hosts, str):
        raise ValueError("trusted_hosts: a sequence of host names, not one string")
    patterns = list(dict.fromkeys(trusted_host_pattern(host) for host in hosts))
    if not patterns:
        raise ValueError("trusted_hosts: at least one host name is needed")
    return patterns


def _check_host(argument: str, host: str) -> None:
    if len(host) > _HOST_MAX or not _HOST_RE.fullmatch(host):
        raise ValueError(f"{argument}: not a lower-case host name: {host!r}")


def _check_text(argument: str, value: str, *, required: bool) -> None:
    """Refuse what cannot be written in a settings.php string; the message never holds *value*
    (it may be a secret)."""
    if not isinstance(value, str):
        raise ValueError(f"{argument}: not a string")
    if required and not value:
        raise ValueError(f"{argument}: must not be empty")
    if _CONTROL_RE.search(value):
        raise ValueError(f"{argument}: holds a control character (NUL, line break, ...)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{argument}: not valid Unicode text") from None


def _check_path(argument: str, path: str) -> None:
    """An absolute path, or one relative to the docroot starting with `sites/` (what Drupal
    resolves against DRUPAL_ROOT): the reconciler writes relative ones, so that a site's
    settings.php stays right when its directory moves to another platform."""
    _check_text(argument, path, required=True)
    if not (path.startswith("/") or path.startswith("sites/")):
        raise ValueError(
            f"{argument}: not an absolute path nor one under sites/ (relative to the docroot): "
            f"{path!r}"
        )
    if ".." in path.split("/"):
        raise ValueError(f"{argument}: holds a '..' component: {path!r}")
