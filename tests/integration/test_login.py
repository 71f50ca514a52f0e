"""`reconciler login SITE` on the real rig: a site installed by `reconciler apply`, its one-time
login link from drush user:login, used through nginx with the site's Host header.

The STAND-IN front controller checks a `/user/reset/<uid>/<timestamp>/<hash>/login` link as
Drupal does (the hash from the user's row and the site's hash salt, at most a day old, not
older than the account's last login): 200 "logged in" the first time, 403 once used. A blocked
admin account makes drush fail: exit 1 with drush's reason; an unknown site: exit 1.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from rig.hosts import TestHost
from rig.manifests import Cli, platform_yaml, server_yaml, site_yaml
from rig.mariadb import MariaDBAdmin
from rig.web import http_get

from integration.test_apply_lifecycle import _credentials
from reconciler.manifests.names import database_name

pytestmark = pytest.mark.integration

LINK = re.compile(r"http://(?P<host>[^/]+)(?P<path>/user/reset/1/\d+/[A-Za-z0-9_-]+/login)")


@pytest.fixture
def site(mariadb_admin: MariaDBAdmin) -> Iterator[str]:
    name = f"login-{secrets.token_hex(3)}.example.com"
    try:
        yield name
    finally:
        db = database_name(name)
        mariadb_admin.run_sql(f"DROP DATABASE IF EXISTS `{db}`")
        for host in ("localhost", "127.0.0.1"):
            mariadb_admin.run_sql(f"DROP USER IF EXISTS '{db}'@'{host}'")


def _use(h: TestHost, site: str, url: str) -> tuple[int, str]:
    """GET the link's path through the host's nginx with the site's Host, as a browser would."""
    got = http_get("127.0.0.1", h.http_port, urlsplit(url).path, site)
    return got.status, got.body.decode("utf-8", "replace")


def test_login_link_works_once_and_failures_are_clear(
    h01: TestHost, standin_repo: Path, tmp_path: Path, site: str, mariadb_admin: MariaDBAdmin
) -> None:
    cli = Cli(repo=tmp_path / "git", hosts=[h01], state=tmp_path / "journal.sqlite")
    cli.write(server_yaml(h01), platform_yaml("std", h01, standin_repo), site_yaml(site, "std"))
    installed = cli.run("apply", "--yes")
    assert installed.returncode == 0, installed.stdout + installed.stderr

    first = cli.run("login", site)
    assert first.returncode == 0, first.stdout + first.stderr
    url = first.stdout.strip()
    m = LINK.fullmatch(url)
    assert m is not None, url
    assert m.group("host") == site
    status, body = _use(h01, site, url)
    assert status == 200 and "logged in" in body, body[:300]
    assert "User admin is logged in" in body
    again, _ = _use(h01, site, url)
    assert again == 403  # one-time: used already

    as_json = cli.run("login", site, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    doc = json.loads(as_json.stdout)
    assert (doc["site"], doc["server"]) == (site, h01.name)
    assert LINK.fullmatch(doc["url"]) is not None
    # a new link, made after the first login: valid (its timestamp is not older than it)
    assert doc["url"] != url
    status, body = _use(h01, site, doc["url"])
    assert status == 200 and "logged in" in body, body[:300]

    missing = cli.run("login", "nowhere.example.com")
    assert missing.returncode == 1
    assert "site nowhere.example.com was not found on any declared server" in missing.stderr
    assert missing.stdout == ""

    db = database_name(site)
    mariadb_admin.run_sql("UPDATE users SET status = 0 WHERE uid = 1", database=db)
    blocked = cli.run("login", site)
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert blocked.stdout == ""  # no URL printed for a failure
    assert f"drush user:login for {site} on {h01.name} failed (exit 1)" in blocked.stderr
    assert "is blocked" in blocked.stderr

    creds = _credentials(h01.platforms / "std" / "web" / "sites" / site / "settings.php")
    for out in (installed, first, as_json, missing, blocked):
        assert creds["password"] not in out.stdout + out.stderr
        assert creds["hash_salt"] not in out.stdout + out.stderr
