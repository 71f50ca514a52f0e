"""Moves on the real rig: a site moved to a platform on another sshd host, and a database moved
from the rig's MariaDB (127.0.0.1:3306) to its second one (127.0.0.1:3307, `mariadb2_admin`).

A site is installed with `apply` and given content (a node, files in files/ and private/), then
its manifest changes and `apply` runs again. Checked: the plan says what moves where; the site is
served from its new place (nginx of the new host, the site's Host); its content (node and users,
selected in order) and its files (paths, bytes, modes) are what they were; nothing of it is left
at the old place (site directory, vhost, sites.php entry, and the old database and database user
when the database moved, which are kept when `db.server` pins them); the next plan is empty.

The hosts' `services.db` are all 127.0.0.1 (every rig host is this machine), so each declared
database server here is its own MariaDB instance: two Servers naming the same one would make a
move copy a database onto itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rig import mariadb2
from rig.hosts import TestHost
from rig.manifests import Cli, platform_yaml, server_yaml, site_yaml, ssh_agent
from rig.mariadb import MariaDBAdmin
from rig.web import http_get

from reconciler.manifests.names import database_name

pytestmark = pytest.mark.integration

CONTENT_TABLES = ("node", "users")
FILES = {
    "files/x.txt": b"a file that moves\n",
    "files/sub/y.bin": bytes(range(256)) * 8,
    "private/secret.txt": b"private to the site\n",
}
TITLE = "Moved, not lost"


@pytest.fixture
def agent(rig_workspace: list[TestHost]) -> Iterator[dict[str, str]]:
    with ssh_agent(rig_workspace) as env:
        yield env


@pytest.fixture
def site(mariadb_admin: MariaDBAdmin, mariadb2_admin: MariaDBAdmin) -> Iterator[str]:
    """A site name; its database and user dropped from both MariaDB servers at the end."""
    name = f"mv-{secrets.token_hex(3)}.example.com"
    try:
        yield name
    finally:
        db = database_name(name)
        for admin in (mariadb_admin, mariadb2_admin):
            admin.run_sql(f"DROP DATABASE IF EXISTS `{db}`")
            for host in ("localhost", "127.0.0.1"):
                admin.run_sql(f"DROP USER IF EXISTS '{db}'@'{host}'")


def second_server_yaml(host: TestHost) -> str:
    """`host` declared with the second MariaDB server as its database service."""
    first = f"port: 3306, adminDefaultsFile: {host.admin_defaults_file}}}"
    second = f"port: {mariadb2.PORT}, adminDefaultsFile: {mariadb2.admin_cnf(host)}}}"
    text = server_yaml(host)
    assert first in text
    return text.replace(first, second)


@dataclass(frozen=True)
class Place:
    """Where a site is: a rig host, a platform on it, the database server holding its data."""

    host: TestHost
    platform: str
    admin: MariaDBAdmin
    site: str

    @property
    def sites(self) -> Path:
        return self.host.platforms / self.platform / "web/sites"

    @property
    def dir(self) -> Path:
        return self.sites / self.site

    @property
    def vhost(self) -> Path:
        return self.host.vhost_dir / f"{self.site}.conf"

    @property
    def db(self) -> str:
        return database_name(self.site)


def _seed(place: Place) -> None:
    """Files (directories and files in the contract's modes) and a node with odd bytes."""
    for path, data in FILES.items():
        target = place.dir / path
        place.host.run(["mkdir", "-p", "-m", "2770", str(target.parent)])
        place.host.write_file(target, data, 0o660)
    place.admin.run_sql(
        "INSERT INTO node (uuid, type, title, body, uid, status, created) VALUES "
        f"('5f0c1d2e-3a4b-4c5d-8e6f-000000000001', 'article', '{TITLE}', "
        "'<p>bytes: \\\\ \\' \" é</p>', 1, 1, 1700000000)",
        database=place.db,
    )


def _content(place: Place) -> tuple[dict[str, int], str]:
    """Rows per content table, and one checksum of them all, selected in order."""
    counts: dict[str, int] = {}
    digest = hashlib.sha256()
    for table in CONTENT_TABLES:
        rows = place.admin.query(f"SELECT * FROM `{table}` ORDER BY 1", database=place.db)
        counts[table] = len(rows)
        digest.update(json.dumps([table, rows]).encode())
    return counts, digest.hexdigest()


def _files(place: Place) -> dict[str, tuple[int, str]]:
    """Every file and directory under the site's files/ and private/: mode and sha256."""
    found: dict[str, tuple[int, str]] = {}
    for top in ("files", "private"):
        root = place.dir / top
        for path in sorted([root, *root.rglob("*")]):
            st = path.lstat()
            data = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
            found[str(path.relative_to(place.dir))] = (stat.S_IMODE(st.st_mode), data)
    return found


def _credentials(place: Place) -> dict[str, str]:
    """settings.php's `$databases` entry, read by PHP itself (the test runs as root)."""
    code = (
        '$app_root = "/"; $site_path = "x"; include $argv[1]; '
        'echo json_encode($databases["default"]["default"]);'
    )
    done = subprocess.run(
        ["php", "-r", code, str(place.dir / "settings.php")],
        capture_output=True,
        text=True,
        check=True,
    )
    data: dict[str, str] = json.loads(done.stdout)
    return data


def _served(place: Place) -> None:
    page = http_get("127.0.0.1", place.host.http_port, "/", place.site)
    assert page.status == 200, page.body[:300]
    assert f"<li>{TITLE}</li>".encode() in page.body, page.body[:600]
    assert b'<span id="content-count">4</span>' in page.body


def _gone_from(old: Place, *, database: bool) -> None:
    """Nothing of the site at `old`: directory, vhost, sites.php entry, the web server's answer,
    and (`database`) its database and database user."""
    assert not old.dir.exists()
    assert not old.vhost.exists()
    sites_php = old.sites / "sites.php"
    assert not sites_php.exists() or old.site not in sites_php.read_text()
    assert http_get("127.0.0.1", old.host.http_port, "/", old.site).status == 404
    if database:
        assert old.db not in old.admin.databases()
        assert old.admin.users(old.db) == set()


def _move(cli: Cli, before: list[str], after: list[str], old: Place, reason: str) -> str:
    """Install at `old` (manifests `before`), seed it, change the manifests to `after`, check
    the plan's reason, apply; the checksum and file list taken before the move."""
    cli.write(*before)
    done = cli.run("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    _seed(old)
    content, files = _content(old), _files(old)
    assert content[0] == {"node": 4, "users": 2}
    cli.write(*after)
    plan = cli.run("plan", "--format", "json")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    actions = json.loads(plan.stdout)["actions"]
    assert [(a["kind"], a["object"]["name"]) for a in actions] == [("site.upgrade", old.site)]
    assert reason in actions[0]["reason"], actions[0]["reason"]
    done = cli.run("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Plan: 0 to add, 1 to change, 0 to delete." in done.stdout
    again = cli.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    return json.dumps([content, files])


def _arrived(new: Place, moved: str, *, port: int) -> None:
    """Served at `new` with the same content and files; settings.php names the database server
    on `port`, whose database the site's own user sees, and only that one."""
    _served(new)
    assert json.dumps([_content(new), _files(new)]) == moved
    creds = _credentials(new)
    assert (creds["database"], creds["username"]) == (new.db, new.db)
    assert (creds["host"], str(creds["port"])) == ("127.0.0.1", str(port))
    assert new.admin.users(new.db) == {"localhost", "127.0.0.1"}
    assert stat.S_IMODE((new.dir / "settings.php").stat().st_mode) == 0o440
    assert stat.S_IMODE(new.dir.stat().st_mode) == 0o550


def _cli(tmp_path: Path, hosts: list[TestHost], env: dict[str, str]) -> Cli:
    return Cli(repo=tmp_path / "git", hosts=hosts, state=tmp_path / "journal.sqlite", env=env)


def test_the_second_mariadb_server_is_another_instance(
    h01: TestHost,
    h03: TestHost,
    mariadb_admin: MariaDBAdmin,
    mariadb2_admin: MariaDBAdmin,
    site: str,
) -> None:
    """What the moves below rely on: a database made on one server is not on the other, and
    each host's login user reaches the second server's admin account through its options file
    (aegir's ~/.my2.cnf, root's own)."""
    db = database_name(site)
    mariadb2_admin.run_sql(f"CREATE DATABASE `{db}`")
    assert db in mariadb2_admin.databases()
    assert db not in mariadb_admin.databases()
    for host in (h01, h03):
        cnf = str(mariadb2.admin_cnf(host))
        assert oct(os.stat(cnf).st_mode & 0o777) == "0o600"
        done = host.run(
            ["mysql", f"--defaults-file={cnf}", "-N", "-B", "-e", "SELECT @@port, DATABASE()"],
        )
        assert done.out.split() == [str(mariadb2.PORT), "NULL"]
        shown = host.run(["mysql", f"--defaults-file={cnf}", "-N", "-B", "-e", "SHOW DATABASES"])
        assert db in shown.out.split()


def test_site_moves_to_a_platform_on_another_host_and_its_database_follows(
    h01: TestHost,
    h02: TestHost,
    standin_repo: Path,
    mariadb_admin: MariaDBAdmin,
    mariadb2_admin: MariaDBAdmin,
    agent: dict[str, str],
    site: str,
    tmp_path: Path,
) -> None:
    """h01 (first MariaDB) to h02 (second MariaDB): the database follows the platform's server."""
    cli = _cli(tmp_path, [h01, h02], agent)
    servers = [
        server_yaml(h01),
        second_server_yaml(h02),
        platform_yaml("one", h01, standin_repo),
        platform_yaml("two", h02, standin_repo),
    ]
    old = Place(h01, "one", mariadb_admin, site)
    new = Place(h02, "two", mariadb2_admin, site)
    moved = _move(
        cli,
        [*servers, site_yaml(site, "one")],
        [*servers, site_yaml(site, "two")],
        old,
        "a move to another server; database moves from h01 to h02 (it follows the platform's "
        "server",
    )
    _arrived(new, moved, port=mariadb2.PORT)
    _gone_from(old, database=True)


def test_site_moves_to_another_host_while_db_server_keeps_its_database(
    h01: TestHost,
    h02: TestHost,
    standin_repo: Path,
    mariadb_admin: MariaDBAdmin,
    mariadb2_admin: MariaDBAdmin,
    agent: dict[str, str],
    site: str,
    tmp_path: Path,
) -> None:
    """h01 to h02 with `db.server: h01`: the database stays on the first MariaDB, its user
    granted for the new web server; nothing is made on the second."""
    cli = _cli(tmp_path, [h01, h02], agent)
    servers = [
        server_yaml(h01),
        second_server_yaml(h02),
        platform_yaml("one", h01, standin_repo),
        platform_yaml("two", h02, standin_repo),
    ]
    pinned = {"db": {"server": h01.name}}
    old = Place(h01, "one", mariadb_admin, site)
    new = Place(h02, "two", mariadb_admin, site)
    moved = _move(
        cli,
        [*servers, site_yaml(site, "one", **pinned)],
        [*servers, site_yaml(site, "two", **pinned)],
        old,
        "a move to another server; its database stays on h01 (db.server)",
    )
    _arrived(new, moved, port=3306)
    _gone_from(old, database=False)
    assert old.db in mariadb_admin.databases()
    assert old.db not in mariadb2_admin.databases()
    assert mariadb2_admin.users(old.db) == set()


def test_database_moves_to_another_mariadb_server(
    h01: TestHost,
    h03: TestHost,
    standin_repo: Path,
    mariadb_admin: MariaDBAdmin,
    mariadb2_admin: MariaDBAdmin,
    agent: dict[str, str],
    site: str,
    tmp_path: Path,
) -> None:
    """`db.server` changed from h01 (first MariaDB) to h03 (a root login, second MariaDB): the
    site stays on h01's platform, its database moves."""
    cli = _cli(tmp_path, [h01, h03], agent)
    servers = [server_yaml(h01), second_server_yaml(h03), platform_yaml("one", h01, standin_repo)]
    old = Place(h01, "one", mariadb_admin, site)
    new = Place(h01, "one", mariadb2_admin, site)
    moved = _move(
        cli,
        [*servers, site_yaml(site, "one")],
        [*servers, site_yaml(site, "one", db={"server": h03.name})],
        old,
        "database moves from h01 to h03 (settings.php names "
        f"{old.db} at 127.0.0.1:3306, on h01; declared on h03, db.server)",
    )
    _arrived(new, moved, port=mariadb2.PORT)
    assert old.db not in mariadb_admin.databases()
    assert mariadb_admin.users(old.db) == set()
    assert not (h03.vhost_dir / f"{site}.conf").exists()
