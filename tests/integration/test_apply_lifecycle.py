"""`reconciler apply` on the real rig: one non-root server (h01: sshd, nginx + php-fpm, MariaDB),
one platform built from git (the STAND-IN platform), two sites, through their whole lifecycle.

Checked against the real parts: databases and users in MariaDB with grants on their own database
only, pages served by nginx with the right Host, settings.php 0440, a converged plan, disable
answering 503 with the data kept, a site removed from git left alone as Unmanaged, `state:
absent` taking a backup and removing database, user, directory and vhost, and `--max-deletes`.
"""

from __future__ import annotations

import json
import secrets
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from rig.hosts import TestHost
from rig.manifests import Cli, platform_yaml, server_yaml, site_yaml
from rig.mariadb import MariaDBAdmin
from rig.web import http_get

from reconciler.manifests.names import database_name

pytestmark = pytest.mark.integration


@pytest.fixture
def names(mariadb_admin: MariaDBAdmin) -> Iterator[list[str]]:
    token = secrets.token_hex(3)
    sites = [f"one-{token}.example.com", f"two-{token}.example.com"]
    try:
        yield sites
    finally:
        for site in sites:
            db = database_name(site)
            mariadb_admin.run_sql(f"DROP DATABASE IF EXISTS `{db}`")
            for host in ("localhost", "127.0.0.1"):
                mariadb_admin.run_sql(f"DROP USER IF EXISTS '{db}'@'{host}'")


def _cli(tmp_path: Path, host: TestHost) -> Cli:
    return Cli(repo=tmp_path / "git", hosts=[host], state=tmp_path / "journal.sqlite")


def _docs(host: TestHost, repo: Path, sites: dict[str, dict[str, object]]) -> list[str]:
    docs = [server_yaml(host), platform_yaml("std", host, repo)]
    docs += [site_yaml(name, "std", **spec) for name, spec in sites.items()]
    return docs


def _status(host: TestHost, site: str) -> int:
    return http_get("127.0.0.1", host.http_port, "/", site).status


def _credentials(settings: Path) -> dict[str, str]:
    """The `$databases` entry of a settings.php, read by PHP itself (the test runs as root)."""
    code = (
        '$app_root = "/"; $site_path = "x"; include $argv[1]; '
        'echo json_encode($databases["default"]["default"] + '
        '["hash_salt" => $settings["hash_salt"]]);'
    )
    done = subprocess.run(
        ["php", "-r", code, str(settings)], capture_output=True, text=True, check=True
    )
    data: dict[str, str] = json.loads(done.stdout)
    return data


def _visible_databases(creds: dict[str, str], tmp_path: Path) -> set[str]:
    """What the site's own database user can see: `SHOW DATABASES` with its credentials."""
    cnf = tmp_path / f"{creds['username']}.cnf"
    cnf.write_text(
        f'[client]\nuser={creds["username"]}\npassword="{creds["password"]}"\n'
        f"host={creds['host']}\nport={creds['port']}\n"
    )
    cnf.chmod(0o600)
    done = subprocess.run(
        [
            "mysql",
            f"--defaults-file={cnf}",
            "--batch",
            "--skip-column-names",
            "-e",
            "SHOW DATABASES",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(done.stdout.split()) - {"information_schema"}


def test_install_two_sites_then_converged(
    h01: TestHost, standin_repo: Path, tmp_path: Path, names: list[str], mariadb_admin: MariaDBAdmin
) -> None:
    cli = _cli(tmp_path, h01)
    cli.write(*_docs(h01, standin_repo, {n: {} for n in names}))
    done = cli.run("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Plan: 3 to add, 0 to change, 0 to delete." in done.stdout
    platform = h01.platforms / "std"
    secrets_seen: list[str] = []
    for site in names:
        db = database_name(site)
        assert db in mariadb_admin.databases()
        settings = platform / "web/sites" / site / "settings.php"
        creds = _credentials(settings)
        assert creds["database"] == db and creds["username"] == db
        assert len(creds["password"]) >= 32
        assert _visible_databases(creds, tmp_path) == {db}
        secrets_seen += [creds["password"], creds["hash_salt"]]
        assert len(creds["hash_salt"]) >= 32
        assert mariadb_admin.users(db) == {"localhost", "127.0.0.1"}
        page = http_get("127.0.0.1", h01.http_port, "/", site)
        assert page.status == 200, page.body[:300]
        assert stat.S_IMODE(settings.stat().st_mode) == 0o440
        assert stat.S_IMODE(settings.parent.stat().st_mode) == 0o550
    again = cli.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Plan: 0 to add, 0 to change, 0 to delete." in again.stdout
    status = cli.run("status", "--format", "json")
    assert status.returncode == 0, status.stderr
    rows = {s["name"]: s for s in json.loads(status.stdout)["sites"]}
    for site in names:
        assert rows[site]["sync"] == "Synced" and rows[site]["health"] == "Healthy", rows[site]
        assert rows[site]["lastAction"]["kind"] == "site.install"
        assert rows[site]["lastAction"]["result"] == "succeeded"
    # the secrets exist only in settings.php: not in any output, nor in the journal
    journal = b"".join(p.read_bytes() for p in tmp_path.glob("journal.sqlite*"))
    outputs = "".join(r.stdout + r.stderr for r in (done, again, status))
    for secret in secrets_seen:
        assert secret not in outputs
        assert secret.encode() not in journal


def test_disable_enable_unmanaged_absent_and_max_deletes(
    h01: TestHost, standin_repo: Path, tmp_path: Path, names: list[str], mariadb_admin: MariaDBAdmin
) -> None:
    one, two = names
    cli = _cli(tmp_path, h01)
    cli.write(*_docs(h01, standin_repo, {one: {}, two: {}}))
    assert cli.run("apply", "--yes").returncode == 0

    cli.write(*_docs(h01, standin_repo, {one: {"state": "disabled"}, two: {}}))
    done = cli.run("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _status(h01, one) == 503
    assert database_name(one) in mariadb_admin.databases()
    cli.write(*_docs(h01, standin_repo, {one: {}, two: {}}))
    assert cli.run("apply", "--yes").returncode == 0
    assert _status(h01, one) == 200

    # removed from git: Unmanaged, reported, left alone
    cli.write(*_docs(h01, standin_repo, {one: {}}))
    plan = cli.run("plan", "--format", "json")
    assert plan.returncode == 0, plan.stderr
    unmanaged = json.loads(plan.stdout)["unmanaged"]
    assert {"kind": "Site", "name": two, "server": h01.name} in unmanaged
    assert cli.run("apply", "--yes").returncode == 0
    assert _status(h01, two) == 200

    # more deletions than --max-deletes: refused, nothing done
    cli.write(*_docs(h01, standin_repo, {one: {"state": "absent"}, two: {"state": "absent"}}))
    refused = cli.run("apply", "--yes", "--max-deletes", "1")
    assert refused.returncode == 1
    assert "--max-deletes" in refused.stderr
    assert _status(h01, one) == 200 and _status(h01, two) == 200

    # state: absent: a backup, then database, user, directory and vhost removed
    done = cli.run("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    for site in (one, two):
        db = database_name(site)
        assert db not in mariadb_admin.databases()
        assert mariadb_admin.users(db) == set()
        assert not (h01.platforms / "std/web/sites" / site).exists()
        assert not (h01.vhost_dir / f"{site}.conf").exists()
        backups = list((h01.backups / site).glob(f"{site}-*.tar.gz"))
        assert len(backups) == 1
        assert _status(h01, site) == 404


def test_drift_is_named_and_repaired(
    h01: TestHost, standin_repo: Path, tmp_path: Path, names: list[str]
) -> None:
    one, two = names
    cli = _cli(tmp_path, h01)
    cli.write(*_docs(h01, standin_repo, {one: {}, two: {}}))
    assert cli.run("apply", "--yes").returncode == 0
    site_dir = h01.platforms / "std/web/sites" / one
    h01.run(["chmod", "u+w", str(site_dir)])
    h01.run(["chmod", "0666", str(site_dir / "settings.php")])
    h01.run(["rm", str(h01.vhost_dir / f"{two}.conf")])
    h01.nginx_reload()
    plan = cli.run("plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert "settings.php mode is 0666, want 0440" in plan.stdout
    assert f"vhost {h01.vhost_dir}/{two}.conf is missing" in plan.stdout
    done = cli.run("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert stat.S_IMODE((site_dir / "settings.php").stat().st_mode) == 0o440
    assert _status(h01, two) == 200
    assert cli.run("plan", "--detailed-exitcode").returncode == 0
