"""Upgrades on the real rig (h01: sshd, nginx + php-fpm, MariaDB; the STAND-IN platform at three
versions): a site installed on 10.2.8 with content of its own, its `platform` changed to 10.3.6,
then to 10.4.0-failing, whose `system_update_10401` creates `menu_tree` and throws.

Checked against the real parts: the content tables (`node`, `users`, selected in order by the
admin account) and the site's files are the same before and after each upgrade; the upgrade to
10.3.6 ran updatedb (`path_alias`, made by `system_update_10301`, exists), `status` says 10.3.6,
Synced and Healthy, the site directory is in the new platform only, with its `sites.php`
entries, nginx's vhost serving its docroot, settings.php byte for byte as it was; the failing
upgrade exits 1 with the update's own message, leaves the site on 10.3.6, served, its database
as before (no `menu_tree`), `status` Failed with that message, and the upgrade still pending.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from rig.hosts import TestHost
from rig.manifests import Cli, platform_yaml, server_yaml, site_yaml
from rig.mariadb import MariaDBAdmin
from rig.web import http_get

from integration.test_apply_lifecycle import _credentials
from reconciler.drivers.drush import Drush
from reconciler.manifests.names import database_name

pytestmark = pytest.mark.integration

VERSIONS = {"d1028": "10.2.8", "d1036": "10.3.6", "d1040": "10.4.0-failing"}
FAILURE = "STAND-IN: system_update_10401 fails on purpose after creating the menu_tree table."


@pytest.fixture
def site(mariadb_admin: MariaDBAdmin) -> Iterator[str]:
    name = f"up-{secrets.token_hex(3)}.example.com"
    try:
        yield name
    finally:
        db = database_name(name)
        mariadb_admin.run_sql(f"DROP DATABASE IF EXISTS `{db}`")
        for host in ("localhost", "127.0.0.1"):
            mariadb_admin.run_sql(f"DROP USER IF EXISTS '{db}'@'{host}'")


def manifests(cli: Cli, h: TestHost, repo: Path, site: str, platform: str) -> None:
    """The three platforms on `h`, and `site` on `platform`."""
    docs = [server_yaml(h)]
    docs += [platform_yaml(name, h, repo, ref=ref) for name, ref in VERSIONS.items()]
    cli.write(*docs, site_yaml(site, platform))


def site_dirs(h: TestHost, site: str) -> list[str]:
    """The platforms holding a directory of `site` (exactly one, always)."""
    return [p for p in VERSIONS if (h.platforms / p / "web/sites" / site).exists()]


def mapped(h: TestHost, site: str) -> list[str]:
    """The platforms whose sites.php maps `site`."""
    line = f"$sites['{site}'] = '{site}';"
    found = []
    for p in VERSIONS:
        sites_php = h.platforms / p / "web/sites/sites.php"
        if sites_php.exists() and line in sites_php.read_text().splitlines():
            found.append(p)
    return found


def served_from(h: TestHost, site: str) -> str | None:
    """The platform whose docroot the site's nginx vhost serves."""
    text = (h.vhost_dir / f"{site}.conf").read_text()
    root = re.search(r"^\s*root\s+(\S+);", text, re.M)
    assert root is not None, text
    return Path(root.group(1)).parent.name


def add_content(h: TestHost, site: str, platform: str) -> None:
    """Rows of the site's own (through its drush sql:query) and files in files/."""
    drush = Drush(str(h.platforms / platform), site)
    for title in ("Before the upgrade", "Ünïcode & 'quotes'"):
        sql = (
            "INSERT INTO node (uuid, type, title, body, uid, status, created) VALUES "
            f"(UUID(), 'article', '{title.replace(chr(39), chr(39) * 2)}', 'body', 1, 1, 0)"
        )
        h.run(drush.sql_query(sql))
    h.run(drush.sql_query("UPDATE users SET mail = 'moved@example.com' WHERE uid = 1"))
    files = h.platforms / platform / "web/sites" / site / "files"
    h.run(["mkdir", "-p", str(files / "sub")])
    h.run(["chmod", "2770", str(files / "sub")])
    h.write_file(files / "hello.txt", b"hello\n", 0o660)
    h.write_file(files / "sub" / "blob.bin", bytes(range(256)) * 64, 0o660)


def content(admin: MariaDBAdmin, site: str) -> str:
    """A checksum of the content tables: every row of `node` and `users`, in order."""
    db = database_name(site)
    rows = admin.query("SELECT * FROM node ORDER BY nid", database=db)
    rows += admin.query("SELECT * FROM users ORDER BY uid", database=db)
    assert len(rows) >= 5, rows
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


def tables(admin: MariaDBAdmin, site: str) -> set[str]:
    return {row[0] for row in admin.query("SHOW TABLES", database=database_name(site))}


def file_list(h: TestHost, site: str) -> dict[str, str]:
    """Every entry under files/ and private/ of the site, wherever it is: sha256 or `dir`."""
    (where,) = site_dirs(h, site)
    base = h.platforms / where / "web/sites" / site
    found = {}
    for tree in ("files", "private"):
        for path in sorted((base / tree).rglob("*")):
            rel = str(path.relative_to(base))
            found[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    assert "files/hello.txt" in found, found
    return found


def on_platform(h: TestHost, site: str, platform: str) -> None:
    """The site is on `platform` only: directory, sites.php, vhost; served by it."""
    assert site_dirs(h, site) == [platform]
    assert mapped(h, site) == [platform]
    assert served_from(h, site) == platform
    page = http_get("127.0.0.1", h.http_port, "/", site)
    assert page.status == 200, page.body[:300]
    version = VERSIONS[platform].split("-")[0]
    assert f"Drupal {version}".encode() in page.body, page.body[:300]
    leftovers = [p.name for p in (h.platforms / platform / "web/sites").iterdir()]
    assert not [n for n in leftovers if ".reconciler-" in n or n.startswith(".")], leftovers


def site_status(cli: Cli, site: str) -> dict[str, object]:
    done = cli.run("status", "--format", "json")
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)["sites"]}
    row: dict[str, object] = rows[site]
    return row


@pytest.mark.timeout(900)
def test_upgrade_then_a_failing_upgrade(
    h01: TestHost, standin_repo: Path, tmp_path: Path, site: str, mariadb_admin: MariaDBAdmin
) -> None:
    cli = Cli(repo=tmp_path / "git", hosts=[h01], state=tmp_path / "journal.sqlite")
    manifests(cli, h01, standin_repo, site, "d1028")
    done = cli.run("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    add_content(h01, site, "d1028")
    before = (content(mariadb_admin, site), file_list(h01, site))
    settings = h01.platforms / "d1028/web/sites" / site / "settings.php"
    settings_text = settings.read_bytes()
    creds = _credentials(settings)

    # 10.2.8 -> 10.3.6
    manifests(cli, h01, standin_repo, site, "d1036")
    plan = cli.run("plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "site.upgrade" in plan.stdout and "10.2.8" in plan.stdout, plan.stdout
    done = cli.run("apply", "--yes")
    outputs = [done.stdout + done.stderr]
    assert done.returncode == 0, outputs[-1]
    on_platform(h01, site, "d1036")
    assert (content(mariadb_admin, site), file_list(h01, site)) == before
    assert "path_alias" in tables(mariadb_admin, site)  # system_update_10301 ran
    moved = h01.platforms / "d1036/web/sites" / site / "settings.php"
    assert moved.read_bytes() == settings_text  # same credentials, paths relative
    row = site_status(cli, site)
    assert (row["platform"], row["coreVersion"]) == ("d1036", "10.3.6"), row
    assert (row["sync"], row["health"]) == ("Synced", "Healthy"), row
    last = row["lastAction"]
    assert isinstance(last, dict), row
    assert (last["kind"], last["result"]) == ("site.upgrade", "succeeded"), last
    again = cli.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    backups = list((h01.backups / site).glob("*.tar.gz"))
    assert len(backups) == 1, backups  # the safety backup, kept

    # 10.3.6 -> 10.4.0-failing
    manifests(cli, h01, standin_repo, site, "d1040")
    done = cli.run("apply", "--yes")
    outputs.append(done.stdout + done.stderr)
    assert done.returncode == 1, outputs[-1]
    assert FAILURE in done.stdout, outputs[-1]
    on_platform(h01, site, "d1036")
    assert (content(mariadb_admin, site), file_list(h01, site)) == before
    assert "menu_tree" not in tables(mariadb_admin, site)  # the database was restored
    assert "path_alias" in tables(mariadb_admin, site)
    row = site_status(cli, site)
    assert (row["platform"], row["coreVersion"], row["health"]) == ("d1036", "10.3.6", "Failed")
    last = row["lastAction"]
    assert isinstance(last, dict) and last["kind"] == "site.upgrade", row
    assert last["result"] == "failed" and FAILURE in str(last["error"]), last
    plan = cli.run("plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "site.upgrade" in plan.stdout
    page = http_get("127.0.0.1", h01.http_port, "/", site)
    assert b"maintenance" not in page.body.lower()

    # no secret of the site in any output, nor in the journal
    journal = b"".join(p.read_bytes() for p in tmp_path.glob("journal.sqlite*"))
    for secret in (creds["password"], creds["hash_salt"]):
        assert all(secret not in text for text in outputs)
        assert secret.encode() not in journal
