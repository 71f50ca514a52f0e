"""The settings.php renderer: what the file holds (read back by PHP itself and by our parser),
that PHP accepts it, that hostile secrets survive exactly, and what is refused."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from reconciler.drivers.settings import (
    HEADER,
    MysqlDatabase,
    SqliteDatabase,
    php_string,
    render_settings_php,
    trusted_host_pattern,
)
from reconciler.observe.settings_php import parse_settings

SITE_DIR = "/var/aegir/platforms/p1/web/sites/www.example.com"
SALT = "sAlT-0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_0123"
MYSQL = MysqlDatabase(
    name="www_example_com_1a2b3c4d",
    username="www_example_com_1a2b3c4d",
    password="pw-0123456789abcdefghijklmnopqrstuvwxyz",
    host="127.0.0.1",
    port=3306,
)
SQLITE = SqliteDatabase(path=f"{SITE_DIR}/private/db.sqlite")
HOSTILE_PASSWORDS = [
    "it's",
    "back\\slash",
    "trailing\\",
    "\\'",
    "\\\\'\\\\",
    "$HOME ${x} {$y} \\$z",
    "?> <?php echo 1; // /* */ #",
    '"double" `tick` $(id)',
    "Grüße, 密码, 🔑, \u2028",
    "".join(chr(c) for c in range(0x20, 0x7F)),  # every printable ASCII character
]


def render(**overrides: Any) -> str:
    args: dict[str, Any] = {
        "site": "www.example.com",
        "database": MYSQL,
        "hash_salt": SALT,
        "config_sync_directory": f"{SITE_DIR}/private/config/sync",
        "file_private_path": f"{SITE_DIR}/private",
        "trusted_hosts": ["www.example.com", "example.com"],
    }
    args.update(overrides)
    return render_settings_php(**args)


def php() -> str:
    path = shutil.which("php")
    assert path is not None, "php (php-cli) must be on PATH for these tests"
    return path


def php_values(tmp_path: Path, text: str) -> dict[str, Any]:
    """$databases and $settings as PHP itself reads them from *text*."""
    file = tmp_path / "settings.php"
    file.write_text(text, encoding="utf-8")
    code = (
        "include $argv[1]; "
        "echo json_encode(['databases' => $databases, 'settings' => $settings], "
        "JSON_THROW_ON_ERROR | JSON_UNESCAPED_UNICODE);"
    )
    out = subprocess.run(
        [php(), "-r", code, str(file)], capture_output=True, check=True, timeout=60
    )
    assert out.stderr == b""
    values: dict[str, Any] = json.loads(out.stdout.decode("utf-8"))
    return values


MYSQL_INFO = {
    "database": MYSQL.name,
    "username": MYSQL.username,
    "password": MYSQL.password,
    "prefix": "",
    "host": "127.0.0.1",
    "port": 3306,
    "isolation_level": "READ COMMITTED",
    "driver": "mysql",
    "namespace": "Drupal\\mysql\\Driver\\Database\\mysql",
    "autoload": "core/modules/mysql/src/Driver/Database/mysql/",
}
SQLITE_INFO = {
    "database": SQLITE.path,
    "prefix": "",
    "driver": "sqlite",
    "namespace": "Drupal\\sqlite\\Driver\\Database\\sqlite",
    "autoload": "core/modules/sqlite/src/Driver/Database/sqlite/",
}


@pytest.mark.parametrize(
    ("database", "info"),
    [(MYSQL, MYSQL_INFO), (SQLITE, SQLITE_INFO)],
    ids=["mysql", "sqlite"],
)
def test_php_reads_the_database_entry_with_the_installers_keys_in_its_order(
    tmp_path: Path, database: MysqlDatabase | SqliteDatabase, info: dict[str, Any]
) -> None:
    values = php_values(tmp_path, render(database=database))
    entry = values["databases"]["default"]["default"]
    assert list(entry.items()) == list(info.items())
    assert list(values["databases"]) == ["default"]
    assert list(values["databases"]["default"]) == ["default"]


def test_php_reads_every_setting(tmp_path: Path) -> None:
    settings = php_values(tmp_path, render(file_temp_path=f"{SITE_DIR}/private/tmp"))["settings"]
    assert settings == {
        "hash_salt": SALT,
        "config_sync_directory": f"{SITE_DIR}/private/config/sync",
        "file_private_path": f"{SITE_DIR}/private",
        "file_temp_path": f"{SITE_DIR}/private/tmp",
        "trusted_host_patterns": ["^www\\.example\\.com$", "^example\\.com$"],
        "update_free_access": False,
        "file_scan_ignore_directories": ["node_modules", "bower_components"],
        "entity_update_batch_size": 50,
        "entity_update_backup": True,
        "migrate_node_migrate_type_classic": False,
        "file_chmod_directory": 0o2770,
        "file_chmod_file": 0o660,
    }


@pytest.mark.parametrize(
    ("overrides", "present", "absent"),
    [
        ({}, ["<?php\n", HEADER, " * Drupal settings of the site www.example.com."], []),
        ({}, [], ["settings.local.php", "services.yml", "include", "require", "file_temp_path"]),
        ({}, ["  '^www\\\\.example\\\\.com$',\n  '^example\\\\.com$',\n];"], []),
        ({"trusted_hosts": ["a.example", "a.example"]}, ["[\n  '^a\\\\.example$',\n];"], []),
        ({"database": MYSQL}, ["  'port' => 3306,\n"], ["'port' => '3306'"]),
        (
            {"database": SQLITE},
            ["  'driver' => 'sqlite',\n"],
            ["'username'", "'password'", "'host'"],
        ),
        ({"file_temp_path": "/srv/tmp"}, ["$settings['file_temp_path'] = '/srv/tmp';\n"], []),
    ],
)
def test_rendered_text(overrides: dict[str, Any], present: list[str], absent: list[str]) -> None:
    text = render(**overrides)
    assert text.startswith("<?php\n")
    assert text.endswith(";\n")
    for snippet in present:
        assert snippet in text
    for snippet in absent:
        assert snippet not in text


@pytest.mark.parametrize("database", [MYSQL, SQLITE], ids=["mysql", "sqlite"])
def test_round_trip_through_our_parser(database: MysqlDatabase | SqliteDatabase) -> None:
    info = parse_settings(render(database=database))
    assert info.error is None
    assert info.hash_salt_set is True
    assert info.config_sync_directory == f"{SITE_DIR}/private/config/sync"
    assert info.includes == ()
    db = info.database
    assert db is not None
    assert (db.dynamic, db.conditional, db.prefix) == ((), False, "")
    if isinstance(database, MysqlDatabase):
        assert (db.driver, db.database, db.host, db.port, db.username) == (
            "mysql",
            database.name,
            database.host,
            database.port,
            database.username,
        )
    else:
        assert (db.driver, db.database, db.host, db.port, db.username) == (
            "sqlite",
            database.path,
            None,
            None,
            None,
        )


@pytest.mark.parametrize("database", [MYSQL, SQLITE], ids=["mysql", "sqlite"])
def test_php_lint_accepts_the_file(
    tmp_path: Path, database: MysqlDatabase | SqliteDatabase
) -> None:
    file = tmp_path / "settings.php"
    file.write_text(render(database=database), encoding="utf-8")
    out = subprocess.run([php(), "-l", str(file)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "No syntax errors detected" in out.stdout


@pytest.mark.parametrize("password", HOSTILE_PASSWORDS)
def test_hostile_password_comes_back_exactly_from_php(tmp_path: Path, password: str) -> None:
    file = tmp_path / "settings.php"
    db = MysqlDatabase(name="db", username="user", password=password, host="db.example", port=3307)
    file.write_text(render(database=db), encoding="utf-8")
    code = 'include $argv[1]; echo $databases["default"]["default"]["password"];'
    out = subprocess.run(
        [php(), "-r", code, str(file)], capture_output=True, check=True, timeout=60
    )
    assert out.stdout == password.encode("utf-8")
    assert out.stderr == b""
    lint = subprocess.run([php(), "-l", str(file)], capture_output=True, timeout=60)
    assert lint.returncode == 0
    info = parse_settings(file.read_bytes())
    assert info.error is None
    assert info.database is not None
    assert (info.database.username, info.database.port) == ("user", 3307)


@pytest.mark.parametrize("value", HOSTILE_PASSWORDS)
def test_hostile_text_everywhere_else_comes_back_exactly(tmp_path: Path, value: str) -> None:
    db = MysqlDatabase(name=value, username=value, password=value, host=value, port=1)
    path = "/" + value
    values = php_values(
        tmp_path,
        render(database=db, hash_salt=value, config_sync_directory=path, file_private_path=path),
    )
    entry = values["databases"]["default"]["default"]
    assert [entry[k] for k in ("database", "username", "password", "host")] == [value] * 4
    settings = values["settings"]
    assert [settings["hash_salt"], settings["config_sync_directory"]] == [value, path]
    assert settings["file_private_path"] == path


@pytest.mark.parametrize(
    ("value", "literal"),
    [("", "''"), ("a'b", "'a\\'b'"), ("a\\b", "'a\\\\b'"), ("\\'", "'\\\\\\''")],
)
def test_php_string(value: str, literal: str) -> None:
    assert php_string(value) == literal


@pytest.mark.parametrize(
    ("host", "pattern"),
    [
        ("www.example.com", "^www\\.example\\.com$"),
        ("my-site.example", "^my-site\\.example$"),
        ("127.0.0.1", "^127\\.0\\.0\\.1$"),
        ("localhost", "^localhost$"),
    ],
)
def test_trusted_host_pattern(host: str, pattern: str) -> None:
    assert trusted_host_pattern(host) == pattern


SECRET = "s3cr3t-Value"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hash_salt": ""}, "hash_salt: must not be empty"),
        ({"hash_salt": SECRET + "\n"}, "hash_salt: holds a control character"),
        ({"database": MysqlDatabase("db", "u", "", "h", 3306)}, "database.password: must not"),
        ({"database": MysqlDatabase("db", "u", SECRET + "\0", "h", 3306)}, "database.password"),
        ({"database": MysqlDatabase("db", "u", SECRET + "\r", "h", 3306)}, "database.password"),
        ({"database": MysqlDatabase("db", "u", SECRET + "\x1b", "h", 3306)}, "database.password"),
        (
            {"database": MysqlDatabase("db", "u", SECRET + "\ud800", "h", 3306)},
            "database.password: not valid",
        ),
        ({"database": MysqlDatabase("d\nb", "u", "p", "h", 3306)}, "database.name"),
        ({"database": MysqlDatabase("", "u", "p", "h", 3306)}, "database.name"),
        ({"database": MysqlDatabase("db", "", "p", "h", 3306)}, "database.username"),
        ({"database": MysqlDatabase("db", "u\0", "p", "h", 3306)}, "database.username"),
        ({"database": MysqlDatabase("db", "u", "p", "", 3306)}, "database.host"),
        ({"database": MysqlDatabase("db", "u", "p", "h\n", 3306)}, "database.host"),
        ({"database": MysqlDatabase("db", "u", "p", "h", 0)}, "database.port"),
        ({"database": MysqlDatabase("db", "u", "p", "h", 65536)}, "database.port"),
        ({"database": MysqlDatabase("db", "u", "p", "h", True)}, "database.port"),
        ({"database": MysqlDatabase("db", "u", "p", "h", 3306, "pgsql")}, "database.driver"),
        ({"database": SqliteDatabase("private/db.sqlite")}, "database.path: not an absolute"),
        ({"database": SqliteDatabase("sites/../x.sqlite")}, "database.path: holds a '..'"),
        ({"database": SqliteDatabase("/a\n/db.sqlite")}, "database.path"),
        ({"database": SqliteDatabase("")}, "database.path"),
        ({"config_sync_directory": "private/config/sync"}, "config_sync_directory"),
        ({"config_sync_directory": "/x\0"}, "config_sync_directory"),
        ({"file_private_path": ""}, "file_private_path"),
        ({"file_private_path": "/a\nb"}, "file_private_path"),
        ({"file_temp_path": "tmp"}, "file_temp_path"),
        ({"site": "WWW.example.com"}, "site: not a lower-case host name"),
        ({"site": "example.com */ phpinfo(); /*"}, "site"),
        ({"site": ""}, "site"),
        ({"trusted_hosts": []}, "trusted_hosts: at least one"),
        ({"trusted_hosts": "www.example.com"}, "trusted_hosts: a sequence"),
        ({"trusted_hosts": [".*"]}, "trusted_hosts: not a lower-case host name"),
        ({"trusted_hosts": ["example.com$|.*"]}, "trusted_hosts"),
        ({"trusted_hosts": ["example.com", "Example.com"]}, "trusted_hosts"),
        ({"trusted_hosts": ["a..b"]}, "trusted_hosts"),
        ({"trusted_hosts": ["-a.b"]}, "trusted_hosts"),
        ({"trusted_hosts": ["a.b\n"]}, "trusted_hosts"),
    ],
)
def test_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")) as caught:
        render(**overrides)
    assert SECRET not in str(caught.value)
