"""The STAND-IN platform (examples/standin-platform), driven through SSH.

The stand-in is a small PHP codebase shaped like a Composer-built Drupal
project whose ``vendor/bin/drush`` speaks drush 13.3's command-line
contract (the team's reference/drupal-drush-contract.md). Every drush
call here runs on a rig host as its login user (``aegir`` on h01) through
the OpenSSH client; the database checks read MariaDB directly as the test's
own database user, so they do not trust the stand-in's own reporting.
"""

from __future__ import annotations

import gzip
import json
import re
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rig import layout, web
from rig.hosts import Result, TestHost
from rig.mariadb import FreshDatabase
from rig.web import http_get

STATUS_ORDER = (
    "drupal-version",
    "uri",
    "db-driver",
    "db-hostname",
    "db-port",
    "db-username",
    "db-password",
    "db-name",
    "db-status",
    "bootstrap",
    "theme",
    "admin-theme",
    "php-bin",
    "php-conf",
    "php-os",
    "php-version",
    "drush-script",
    "drush-version",
    "drush-temp",
    "drush-conf",
    "drush-alias-files",
    "alias-searchpaths",
    "install-profile",
    "root",
    "drupal-settings-file",
    "site",
    "themes",
    "modules",
    "files",
    "temp",
    "config-sync",
    "%paths",
)
DB_KEYS = ("db-driver", "db-hostname", "db-port", "db-username", "db-password", "db-name")
FULL_KEYS = (
    "db-status",
    "bootstrap",
    "theme",
    "admin-theme",
    "install-profile",
    "files",
    "temp",
)
CONTENT_SQL = (
    "SELECT COUNT(*), MD5(GROUP_CONCAT(nid, uuid, type, title, body, uid, status, created "
    "ORDER BY nid)) FROM node;\n"
    "SELECT MD5(GROUP_CONCAT(uid, uuid, name, pass, mail, status, created, access, login "
    "ORDER BY uid)) FROM users"
)


def expected_keys(*, db: bool, full: bool, hostname: bool = True) -> list[str]:
    keys = []
    for key in STATUS_ORDER:
        if key == "php-conf":  # present only when php.ini is loaded
            continue
        if key in DB_KEYS and not db:
            continue
        if key == "db-hostname" and not hostname:
            continue
        if key in FULL_KEYS and not full:
            continue
        keys.append(key)
    return keys


def drush(host: TestHost, platform: Path, *args: str, stdin: bytes | None = None) -> Result:
    return host.run([str(platform / "vendor" / "bin" / "drush"), *args], input=stdin, check=False)


def ok(result: Result) -> Result:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.out}\n{result.err}"
    return result


def status(host: TestHost, platform: Path, *args: str) -> dict[str, Any]:
    data = json.loads(ok(drush(host, platform, "core:status", "--format=json", *args)).out)
    assert isinstance(data, dict)
    return data


def keys_without_php_conf(data: dict[str, Any]) -> list[str]:
    return [k for k in data if k != "php-conf"]


def clone(host: TestHost, repo: Path, tag: str, name: str = "p1") -> Path:
    dest = host.platforms / name
    host.run(["git", "clone", "--quiet", "--branch", tag, str(repo), str(dest)])
    return dest


def checkout(host: TestHost, platform: Path, tag: str) -> None:
    host.run(["git", "-C", str(platform), "checkout", "--quiet", tag])


def db_url(db: FreshDatabase) -> str:
    return f"mysql://{db.user}:{db.password}@{db.host}:{db.port}/{db.name}"


def install_mysql(
    host: TestHost, platform: Path, db: FreshDatabase, subdir: str, site_name: str
) -> Result:
    return ok(
        drush(
            host,
            platform,
            "site:install",
            "-y",
            f"--db-url={db_url(db)}",
            f"--sites-subdir={subdir}",
            f"--site-name={site_name}",
            "--account-pass=not-random",
        )
    )


def map_site(host: TestHost, platform: Path, key: str, subdir: str) -> None:
    line = f"$sites[{key!r}] = {subdir!r};\n"
    sites = platform / "web" / "sites" / "sites.php"
    host.run(["sh", "-c", 'printf "%s" "$1" >> "$2"', "sh", line, str(sites)])


def serve(host: TestHost, platform: Path, names: str) -> None:
    conf = web.php_vhost(host, names, platform / "web")
    host.write_file(host.vhost_dir / "standin.conf", conf.encode())
    web.reload_nginx(layout.spec_for(host.name), via=host)


# ---------------------------------------------------------------------------


def test_built_repo_has_the_three_tags_and_main(standin_repo: Path, h01: TestHost) -> None:
    refs = h01.run(["git", "ls-remote", str(standin_repo)]).out
    names = {line.split("\t")[1] for line in refs.splitlines()}
    assert {"refs/tags/10.2.8", "refs/tags/10.3.6", "refs/tags/10.4.0-failing"} <= names
    assert "refs/heads/main" in names
    by_name = {line.split("\t")[1]: line.split("\t")[0] for line in refs.splitlines()}
    assert by_name["refs/heads/main"] == by_name["refs/tags/10.3.6"]
    p = clone(h01, standin_repo, "10.3.6")
    readme_first = h01.run(["head", "-c", "200", str(p / "composer.json")]).out
    assert "standin/drupal-project" in readme_first
    mode = h01.run(["stat", "-c", "%a", str(p / "vendor/bin/drush")]).out.strip()
    assert mode == "755"
    drupal = h01.run(["cat", str(p / "web/core/lib/Drupal.php")]).out
    assert "  const VERSION = '10.3.6';" in drupal
    assert ok(drush(h01, p, "--version")).out == "Drush Commandline Tool 13.3.0.0\n"


def test_status_keys_in_every_state_then_install_on_mariadb(
    standin_repo: Path, h01: TestHost, fresh_db: Callable[[], FreshDatabase]
) -> None:
    db = fresh_db()
    p = clone(h01, standin_repo, "10.2.8")

    # (a) no settings.php at all
    a = status(h01, p)
    assert keys_without_php_conf(a) == expected_keys(db=False, full=False)
    assert a["drupal-version"] == "10.2.8"
    assert a["uri"] == "http://default"
    assert a["drupal-settings-file"] == ""
    assert a["root"] == str(p / "web")
    assert a["config-sync"] is None

    # (b) credentials in settings.php, empty database
    default = p / "web/sites/default"
    h01.run(["mkdir", "-p", str(default.parent / "b")])
    settings = (
        "<?php\n$databases['default']['default'] = ['driver' => 'mysql', "
        f"'database' => '{db.name}', 'username' => '{db.user}', "
        f"'password' => '{db.password}', 'host' => '127.0.0.1', 'port' => '3306'];\n"
    )
    h01.write_file(default.parent / "b" / "settings.php", settings.encode())
    h01.run(["cp", str(default.parent / "example.sites.php"), str(default.parent / "sites.php")])
    map_site(h01, p, "b.example", "b")
    b = status(h01, p, "--uri=http://b.example")
    assert keys_without_php_conf(b) == expected_keys(db=True, full=False)
    assert b["db-port"] == "3306"  # as written in settings.php
    assert b["site"] == "sites/b"
    assert "bootstrap" not in b

    # full-bootstrap commands are "not found"; updatedb fails to bootstrap
    for cmd in ("core:cron", "maint:status", "cache:rebuild", "pm:list"):
        r = drush(h01, p, cmd, "--uri=http://b.example")
        assert r.returncode == 1, cmd
        assert f"Command {cmd} was not found." in r.err
    r = drush(h01, p, "updatedb", "-y", "--uri=http://b.example")
    assert r.returncode == 1
    assert " [error]  Bootstrap failed. Run your command with -vvv for more information. " in r.err

    # (c) install into sites/alpha with --db-url
    r = install_mysql(h01, p, db, "alpha", "Alpha Site")
    assert "You are about to:" in r.out
    assert "// Do you want to continue?: yes." in r.out
    assert " [notice] Starting Drupal installation. This takes a while." in r.err
    assert " [success] Installation complete." in r.err
    assert "User password" not in r.err  # --account-pass given
    map_site(h01, p, "alpha.example", "alpha")
    c = status(h01, p, "--uri=http://alpha.example")
    assert keys_without_php_conf(c) == expected_keys(db=True, full=True)
    assert c["bootstrap"] == "Successful"
    assert c["db-status"] == "Connected"
    assert c["db-port"] == 3306
    assert isinstance(c["db-port"], int)
    assert c["db-name"] == db.name
    assert c["site"] == "sites/alpha"
    assert c["install-profile"] == "standard"
    assert (c["theme"], c["admin-theme"]) == ("olivero", "claro")
    assert re.fullmatch(r"sites/alpha/files/config_[A-Za-z0-9_-]{74}/sync", c["config-sync"])

    restricted = status(h01, p, "--uri=http://alpha.example", "--fields=db-name,bootstrap")
    assert list(restricted) == ["db-name", "bootstrap"]
    assert drush(h01, p, "st", "--fields=nope", "--format=json").returncode == 1

    # what the installer left behind: modes and the real database
    modes = h01.run(
        [
            "stat",
            "-c",
            "%n %a",
            *(str(p / "web/sites/alpha" / x) for x in (".", "settings.php", "files")),
        ]
    ).out.split()
    assert modes[1::2] == ["555", "444", "775"]
    rows = db.query("SELECT COUNT(*) FROM node; SELECT name FROM users WHERE uid = 1")
    assert rows == [["3"], ["admin"]]
    settings_php = h01.run(["cat", str(p / "web/sites/alpha/settings.php")]).out
    assert "  'port' => 3306," in settings_php
    assert settings_php.count("$settings['hash_salt'] = '") == 1


def test_install_on_sqlite(standin_repo: Path, h01: TestHost) -> None:
    p = clone(h01, standin_repo, "10.3.6")
    dbfile = p / "sqlite" / "lite.sqlite"
    r = ok(
        drush(
            h01,
            p,
            "si",
            "minimal",
            "-y",
            f"--db-url=sqlite://localhost/{dbfile}",
            "--sites-subdir=lite",
            "--site-name=Lite",
        )
    )
    match = re.search(
        r" \[success\] Installation complete\.  User name: admin  User password: (\S+)", r.err
    )
    assert match, r.err
    map_site(h01, p, "lite.example", "lite")
    s = status(h01, p, "--uri=lite.example")
    assert keys_without_php_conf(s) == expected_keys(db=True, full=True, hostname=False)
    assert s["db-driver"] == "sqlite"
    assert s["db-port"] is None
    assert s["db-name"] == str(dbfile)
    assert s["bootstrap"] == "Successful"
    q = ok(drush(h01, p, "sql:query", "--uri=lite.example", "SELECT COUNT(*) FROM node"))
    assert q.out == "3\n\n"
    pml = json.loads(ok(drush(h01, p, "pml", "--uri=lite.example", "--format=json")).out)
    assert pml["system"]["project"] == ""
    assert pml["system"]["version"] == "10.3.6"
    assert pml["redirect"]["status"] == "Disabled"
    assert pml["node"]["status"] == "Enabled"


def test_updatedb_to_newer_tag_keeps_content(
    standin_repo: Path, h01: TestHost, fresh_db: Callable[[], FreshDatabase]
) -> None:
    db = fresh_db()
    p = clone(h01, standin_repo, "10.2.8")
    install_mysql(h01, p, db, "default", "Upgrade Me")
    before = db.query(CONTENT_SQL)
    assert drush(h01, p, "updbst", "--format=json").out == ""

    checkout(h01, p, "10.3.6")
    pending = json.loads(ok(drush(h01, p, "updatedb:status", "--format=json")).out)
    assert pending == {
        "system_update_10301": {
            "module": "system",
            "update_id": 10301,
            "type": "hook_update_n",
            "description": pending["system_update_10301"]["description"],
        }
    }
    assert list(pending["system_update_10301"]) == ["module", "update_id", "type", "description"]

    r = ok(drush(h01, p, "updb", "-y"))
    assert ">  [notice] Update started: system_update_10301" in r.err
    assert " [success] Finished performing updates." in r.err
    st = ok(drush(h01, p, "updatedb:status", "--format=json"))
    assert st.out == ""
    assert " [success] No database updates required." in st.err
    assert db.query(CONTENT_SQL) == before
    assert ["path_alias"] in db.query("SHOW TABLES")
    assert ok(drush(h01, p, "maint:get")).out == "0\n"
    again = ok(drush(h01, p, "updb", "-y"))
    assert " [success] No pending updates." in again.err


def test_failing_update_exits_1_and_leaves_partial_schema(
    standin_repo: Path, h01: TestHost, fresh_db: Callable[[], FreshDatabase]
) -> None:
    db = fresh_db()
    p = clone(h01, standin_repo, "10.3.6")
    install_mysql(h01, p, db, "default", "Will Fail")
    checkout(h01, p, "10.4.0-failing")
    assert ok(drush(h01, p, "st", "--field=drupal-version")).out == "10.4.0\n"
    r = drush(h01, p, "updatedb", "-y")
    assert r.returncode == 1
    assert ">  [error]  Update failed: system_update_10401 " in r.err
    assert " [error]  Update aborted by: system_update_10401 " in r.err
    assert ["menu_tree"] in db.query("SHOW TABLES")
    still = json.loads(ok(drush(h01, p, "updbst", "--format=json")).out)
    assert list(still) == ["system_update_10401"]
    assert ok(drush(h01, p, "maint:get")).out == "0\n"


def test_sql_dump_to_file_and_stdout(
    standin_repo: Path, h01: TestHost, fresh_db: Callable[[], FreshDatabase]
) -> None:
    db = fresh_db()
    p = clone(h01, standin_repo, "10.3.6")
    install_mysql(h01, p, db, "default", "Dump Me")
    target = h01.backups / "dump-@DATABASE.sql"
    r = ok(drush(h01, p, "sql:dump", f"--result-file={target}", "--gzip", "--format=json"))
    path = json.loads(r.out)["path"]
    assert path == str(h01.backups / f"dump-{db.name}.sql.gz")
    assert f" [success] Database dump saved to {path}" in r.err
    sql = gzip.decompress(Path(path).read_bytes()).decode()
    assert "CREATE TABLE `node`" in sql
    assert "Welcome to the stand-in" in sql

    out = ok(drush(h01, p, "sql-dump", "--skip-tables-list=cache*"))
    assert "INSERT INTO `node`" in out.out
    assert "CREATE TABLE `cache_default`" not in out.out
    assert drush(h01, p, "sql:query", "--format=json", "SELECT 1").returncode == 1

    # the dump restores through sql:cli after sql:drop
    ok(drush(h01, p, "sql:drop", "-y"))
    assert db.query("SHOW TABLES") == []
    ok(drush(h01, p, "sql:cli", stdin=out.stdout))
    assert db.query("SELECT COUNT(*) FROM node") == [["3"]]


def test_maintenance_and_login_through_nginx(
    standin_repo: Path, h01: TestHost, fresh_db: Callable[[], FreshDatabase]
) -> None:
    db = fresh_db()
    p = clone(h01, standin_repo, "10.3.6")
    name = f"alpha-{h01.vhost_dir.name}.example".lower()
    other = f"beta-{h01.vhost_dir.name}.example".lower()
    install_mysql(h01, p, db, "alpha", "Alpha Served")
    map_site(h01, p, name, "alpha")
    serve(h01, p, f"{name} {other}")

    page = http_get("127.0.0.1", h01.http_port, "/", name)
    assert page.status == 200, page.body[:500]
    body = page.body.decode()
    assert "Alpha Served" in body
    assert '<span id="content-count">3</span>' in body
    assert "Drupal 10.3.6" in body

    miss = http_get("127.0.0.1", h01.http_port, "/", other)
    assert miss.status == 404
    assert b"Alpha Served" not in miss.body

    uri = f"--uri=http://{name}"
    assert ok(drush(h01, p, "maint:status", uri)).returncode == 0
    ok(drush(h01, p, "maint:set", "1", uri))
    assert drush(h01, p, "mstatus", uri).returncode == 3
    assert ok(drush(h01, p, "mget", uri)).out == "1\n"
    assert http_get("127.0.0.1", h01.http_port, "/", name).status == 503
    ok(drush(h01, p, "sset", "system.maintenance_mode", "0", "--input-format=integer", uri))
    assert drush(h01, p, "mstatus", uri).returncode == 0
    assert http_get("127.0.0.1", h01.http_port, "/", name).status == 200

    login = ok(drush(h01, p, "user:login", uri, "admin/content")).out
    m = re.fullmatch(
        rf"http://{re.escape(name)}/user/reset/1/(\d+)/([A-Za-z0-9_-]+)/login"
        r"\?destination=admin/content\n",
        login,
    )
    assert m, login
    path = login.strip().split(name, 1)[1].split("?", 1)[0]
    assert http_get("127.0.0.1", h01.http_port, path, name).status == 200
    assert http_get("127.0.0.1", h01.http_port, path, name).status == 403  # one-time

    assert drush(h01, p, "uli", "--uri=http://nosuch.example").returncode == 1
    assert drush(h01, p, "uli", uri, "--name=nobody").returncode == 1
    ok(drush(h01, p, "cron", uri))
    assert ok(drush(h01, p, "sget", "system.cron_last", uri)).out.strip().isdigit()
    assert ok(drush(h01, p, "cr", uri)).err == " [success] Cache rebuild complete.\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["updatedb", "--format=json"], 'The "--format" option does not exist.'),
        (["st", "--nope"], 'The "--nope" option does not exist.'),
        (["no-such-command"], "no-such-command"),
    ],
)
def test_console_errors_exit_1(
    standin_repo: Path, h01: TestHost, argv: list[str], message: str
) -> None:
    p = clone(h01, standin_repo, "10.3.6")
    r = drush(h01, p, *argv)
    assert r.returncode == 1, shlex.join(argv)
    assert message in r.err
    assert r.out == ""
