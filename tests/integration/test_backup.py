"""`reconciler backup SITE` and `backups SITE` on the real rig: sshd hosts, MariaDB, the stand-in.

A stand-in site is installed by hand on h01 the way the controller will (settings.php pre-written,
then `drush site:install` without `--db-url`), files are put into its files/, and the commands
run in-process through click on a committed manifest repository. What is checked is what lands
on the server: the tarball's name and place, modes, its members and their checksums, the dump's
tables, and that the database password appears in nothing printed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sqlite3
import stat
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from rig.hosts import TestHost
from rig.mariadb import FreshDatabase
from unit.gitrepo import make_repo

from integration.test_drush_driver import settings_php
from reconciler.cli import backup_cmd
from reconciler.drivers.drush import Drush

pytestmark = pytest.mark.integration

SITE = "shop.example.com"
STAMP = "%Y%m%dT%H%M%SZ"
FILES = {
    "hello.txt": b"hello from files\n",
    'we ird "name".txt': b"odd\n",
    "sub/deep.bin": bytes(range(256)) * 16,
}


def _codebase(h: TestHost, repo: Path) -> Path:
    codebase = h.platforms / "p1"
    if not codebase.exists():
        h.run(["git", "clone", "--quiet", "--branch", "10.3.6", str(repo), str(codebase)])
    return codebase


def _prepare(h: TestHost, repo: Path, site: str, database: dict[str, str] | None) -> Drush:
    """A site directory as the controller makes it before site:install: sites.php entry,
    files/, private/config/sync and a complete settings.php (`database` None: SQLite)."""
    d = Drush(str(_codebase(h, repo)), site)
    sync = d.site_dir + "/private/config/sync"
    db = database or {"driver": "sqlite", "database": d.site_dir + "/private/db.sqlite"}
    h.run(["mkdir", "-p", d.site_dir + "/files/sub", sync])
    h.run(
        [
            "sh",
            "-c",
            '[ -e "$1/sites.php" ] || cp "$1/example.sites.php" "$1/sites.php"; '
            'printf "\\$sites[\'%s\'] = \'%s\';\\n" "$2" "$2" >> "$1/sites.php"',
            "sh",
            d.root + "/sites",
            site,
        ]
    )
    h.write_file(d.settings_php, settings_php({**db, "prefix": ""}, sync).encode(), 0o440)
    return d


def _install(h: TestHost, repo: Path, site: str, database: dict[str, str] | None) -> Path:
    """A stand-in site on `h`, installed as the controller installs it (no `--db-url`), files
    in files/, the contract's modes. Returns the site directory."""
    d = _prepare(h, repo, site, database)
    admin = secrets.token_urlsafe(24)
    argv = d.site_install(account_pass=admin, account_mail="ops@example.org", site_name=site)
    assert h.run(argv, check=False).returncode == 0
    for name, data in FILES.items():
        h.write_file(f"{d.site_dir}/files/{name}", data, 0o660)
    h.run(["chmod", "2770", d.site_dir + "/files", d.site_dir + "/files/sub"])
    h.run(["chmod", "0550", d.site_dir])
    return Path(d.site_dir)


def _server(h: TestHost, db_type: str, name: str = "", port: int = 0) -> str:
    key = " ".join(h.known_hosts.read_text().split()[1:3])
    return f"""apiVersion: reconciler/v1
kind: Server
metadata: {{name: {name or h.name}}}
spec:
  host: 127.0.0.1
  port: {port or h.port}
  user: {h.user}
  hostKeys: ["{key}"]
  paths: {{platforms: {h.platforms}, backups: {h.backups}}}
  services:
    http: {{type: nginx, vhostDir: {h.vhost_dir}}}
    db: {{type: {db_type}, adminDefaultsFile: {h.admin_defaults_file}}}
---
"""


def _manifests(
    where: Path, web: TestHost, others: list[TestHost], site_db: str, db_type: str, extra: str = ""
) -> Path:
    """A committed manifest repository: the servers, platform p1 on `web`, the site."""
    text = "".join(_server(h, db_type) for h in [web, *others]) + extra
    text += f"""apiVersion: reconciler/v1
kind: Platform
metadata: {{name: p1}}
spec: {{server: {web.name}, path: {web.platforms / "p1"}, source: {{existing: true}}}}
---
apiVersion: reconciler/v1
kind: Site
metadata: {{name: {SITE}}}
spec: {{platform: p1{site_db}}}
"""
    return make_repo(where / "manifests", {"m.yaml": text.encode()})


@pytest.fixture
def agent(rig_workspace: list[TestHost], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An ssh-agent holding every rig host's client key, in this process's environment."""
    out = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env = {
        name: out.split(f"{name}=")[1].split(";")[0] for name in ("SSH_AUTH_SOCK", "SSH_AGENT_PID")
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        for host in rig_workspace:
            subprocess.run(
                ["ssh-add", "-q", str(host.identity_file)], check=True, capture_output=True
            )
        yield
    finally:
        subprocess.run(["ssh-agent", "-k"], capture_output=True, check=False)


def _cli(command: click.Command, repo: Path, *args: str) -> tuple[Any, Result]:
    """Run a command in-process as a user types it; its exit code and the captured output."""
    result = CliRunner().invoke(command, [*args, "--repo", str(repo)], standalone_mode=False)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.return_value, result


def _members(tarball: Path) -> tuple[list[tarfile.TarInfo], dict[str, bytes]]:
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
        data = {}
        for m in members:
            if m.isfile():
                fh = tar.extractfile(m)
                assert fh is not None
                data[m.name] = fh.read()
    return members, data


def _check_tarball(tarball: Path, site_dir: Path, driver: str) -> dict[str, Any]:
    """The contract's layout and modes, manifest first, every checksum right; the manifest."""
    assert stat.S_IMODE(tarball.stat().st_mode) == 0o600
    for directory in (tarball.parent, tarball.parent.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    members, data = _members(tarball)
    assert [m.name for m in members[:3]] == ["manifest.json", "database.sql", "site"]
    manifest = json.loads(data["manifest.json"])
    assert manifest["formatVersion"] == 1
    assert (manifest["site"], manifest["id"]) == (SITE, tarball.name.removesuffix(".tar.gz"))
    assert (manifest["platform"], manifest["coreVersion"]) == ("p1", "10.3.6")
    assert manifest["database"]["driver"] == driver
    assert manifest["database"]["sha256"] == hashlib.sha256(data["database.sql"]).hexdigest()
    site_files = {name: body for name, body in data.items() if name.startswith("site/")}
    assert set(manifest["files"]) == set(site_files)
    for name, body in site_files.items():
        assert manifest["files"][name] == hashlib.sha256(body).hexdigest(), name
    for name, body in FILES.items():
        assert site_files[f"site/files/{name}"] == body
    modes = {m.name: stat.S_IMODE(m.mode) for m in members}
    assert modes["site"] == 0o550
    assert modes["site/settings.php"] == 0o440
    assert modes["site/files"] == stat.S_IMODE((site_dir / "files").stat().st_mode) == 0o2770
    assert site_files["site/settings.php"] == (site_dir / "settings.php").read_bytes()
    return {"manifest": manifest, "dump": data["database.sql"].decode()}


def test_backup_of_a_mariadb_site_and_its_listing(
    rig_workspace: list[TestHost],
    standin_repo: Path,
    fresh_db: Callable[[], FreshDatabase],
    agent: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    h01, h02 = rig_workspace[0], rig_workspace[1]
    db = fresh_db()
    database = {
        "driver": "mysql",
        "database": db.name,
        "username": db.user,
        "password": db.password,
        "host": db.host,
        "port": str(db.port),
    }
    site_dir = _install(h01, standin_repo, SITE, database)
    assert db.password in (site_dir / "settings.php").read_text()  # the secret is there to leak
    repo = _manifests(
        tmp_path, h01, [h02], f", db: {{name: {db.name}, user: {db.user}}}", "mariadb"
    )
    known = tmp_path / "known_hosts"
    known.write_text(h01.known_hosts.read_text() + h02.known_hosts.read_text())
    ssh = ("--known-hosts", str(known))
    now = datetime.now(UTC).replace(microsecond=0)
    monkeypatch.setattr(backup_cmd, "_now", lambda: now)
    printed = []

    code, first = _cli(backup_cmd.backup, repo, SITE, "--format", "json", *ssh)
    printed.append(first.output)
    assert code == 0, first.output
    entry = json.loads(first.stdout)
    base = f"{SITE}-{now.strftime(STAMP)}"
    assert entry["id"] == base
    assert entry["site"] == SITE and entry["server"] == h01.name
    assert entry["time"] == now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (entry["platform"], entry["coreVersion"]) == ("p1", "10.3.6")
    tarball = h01.backups / SITE / f"{base}.tar.gz"
    assert entry["path"] == str(tarball)
    assert entry["size"] == tarball.stat().st_size > 0
    assert sorted(os.listdir(tarball.parent)) == [tarball.name]  # no .part, no work dir left
    got = _check_tarball(tarball, site_dir, "mysql")
    tables = [row[0] for row in db.query("SHOW TABLES")]
    assert "users" in tables
    for table in tables:
        assert f"CREATE TABLE `{table}`" in got["dump"], table
    assert "INSERT INTO `users`" in got["dump"]
    assert db.password not in got["dump"] and db.password not in json.dumps(got["manifest"])

    code, second = _cli(backup_cmd.backup, repo, SITE, *ssh)
    printed.append(second.output)
    assert code == 0, second.output
    assert f"Backup {base}-1 of {SITE} taken on {h01.name}" in second.stdout
    _check_tarball(h01.backups / SITE / f"{base}-1.tar.gz", site_dir, "mysql")

    # the site was on h02 before: its backups stayed there, and are listed too
    older = (now - timedelta(days=1)).strftime(STAMP)
    moved = h02.backups / SITE / f"{SITE}-{older}.tar.gz"
    h02.run(
        [
            "sh",
            "-c",
            'mkdir -m 700 "$1" && cp "$2" "$3"',
            "sh",
            str(moved.parent),
            str(tarball),
            str(moved),
        ]
    )
    code, listed = _cli(backup_cmd.backups, repo, SITE, "--format", "json", *ssh)
    printed.append(listed.output)
    assert code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [(r["id"], r["server"]) for r in rows] == [
        (f"{base}-1", h01.name),
        (base, h01.name),
        (moved.name.removesuffix(".tar.gz"), h02.name),
    ]
    assert rows[1] == entry
    assert rows[2]["time"] == (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for row in rows:
        assert {"id", "site", "time", "size", "platform", "coreVersion"} <= set(row)
    code, text = _cli(backup_cmd.backups, repo, SITE, *ssh)
    printed.append(text.output)
    assert code == 0
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["ID", "TIME", "SIZE", "SERVER", "PLATFORM", "CORE"]
    assert [line.split()[0] for line in lines[1:]] == [r["id"] for r in rows]

    code, missing = _cli(backup_cmd.backup, repo, "nowhere.example.com", *ssh)
    printed.append(missing.output)
    assert code == 1
    assert "site nowhere.example.com was not found on any declared server" in missing.stderr
    assert "hint:" in missing.stderr

    names = [p.name for h in (h01, h02) for p in h.backups.rglob("*")]
    for text_out in [*printed, *names]:
        assert db.password not in text_out


def test_a_failed_backup_leaves_nothing_and_says_why(
    h01: TestHost, standin_repo: Path, fresh_db: Callable[[], FreshDatabase], tmp_path: Path
) -> None:
    db = fresh_db()
    wrong = secrets.token_urlsafe(18)
    database = {
        "driver": "mysql",
        "database": db.name,
        "username": db.user,
        "password": wrong,
        "host": db.host,
        "port": str(db.port),
    }
    _prepare(h01, standin_repo, SITE, database)
    repo = _manifests(tmp_path, h01, [], "", "mariadb")
    ssh = ("--ssh-key", str(h01.identity_file), "--known-hosts", str(h01.known_hosts))
    code, failed = _cli(backup_cmd.backup, repo, SITE, *ssh)
    assert code == 1
    assert f"the backup of {SITE} on {h01.name} failed" in failed.stderr
    assert "sql:dump failed" in failed.stderr
    assert "Access denied for user" in failed.stderr  # mysqldump's own reason, shown
    assert wrong not in failed.output
    assert os.listdir(h01.backups / SITE) == []  # the work dir and the partial tarball removed


def test_backup_of_a_sqlite_site_with_a_server_down(
    h01: TestHost, standin_repo: Path, tmp_path: Path
) -> None:
    site_dir = _install(h01, standin_repo, SITE, None)
    down = _server(h01, "sqlite", name="down", port=1)  # nothing listens on port 1
    repo = _manifests(tmp_path, h01, [], "", "sqlite", extra=down)
    ssh = ("--ssh-key", str(h01.identity_file), "--known-hosts", str(h01.known_hosts))
    code, done = _cli(backup_cmd.backup, repo, SITE, "--format", "json", *ssh)
    assert code == 0, done.output
    entry = json.loads(done.stdout)
    tarball = Path(entry["path"])
    assert tarball.parent == h01.backups / SITE
    got = _check_tarball(tarball, site_dir, "sqlite")
    uri = f"file:{site_dir / 'private/db.sqlite'}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as live:
        rows = live.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    tables = {name for (name,) in rows} - {"sqlite_sequence"}
    assert "users" in tables
    for table in tables:
        assert f'CREATE TABLE IF NOT EXISTS "{table}"' in got["dump"], table
    assert "INSERT INTO users VALUES(" in got["dump"]
    assert got["manifest"]["files"]["site/private/db.sqlite"]
    code, listed = _cli(backup_cmd.backups, repo, SITE, "--format", "json", *ssh)
    assert code == 1  # one server could not be listed: said, and the others still printed
    assert [r["id"] for r in json.loads(listed.stdout)] == [entry["id"]]
    assert "error: the backups on down could not be listed" in listed.stderr
