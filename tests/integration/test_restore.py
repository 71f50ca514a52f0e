"""`reconciler restore` on the real rig: sites installed by `reconciler apply` (sshd, nginx +
php-fpm, MariaDB, the STAND-IN platform), backed up, changed, restored.

Checked against the real parts: the checksum of the content tables (`CHECKSUM TABLE node,
users` through the admin account) and the list and contents of the site's files are those at
backup time, a table made after the backup is gone, settings.php is byte for byte unchanged,
the site answers 200 with its old content, the modes are the contract's, the safety backup
holds the state before the restore, nothing is left in the work directory; a backup held on
another host is copied to the site's host first; a bad backup id changes nothing; no database
password or hash salt appears in any output.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import secrets
import sqlite3
import stat
import subprocess
import sys
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from rig.hosts import TestHost
from rig.manifests import Cli, platform_yaml, server_yaml, site_yaml
from rig.mariadb import MariaDBAdmin
from rig.web import http_get

from integration.test_apply_lifecycle import _credentials
from integration.test_backup import agent as agent
from reconciler.drivers.drush import Drush
from reconciler.manifests.names import database_name

pytestmark = pytest.mark.integration


@pytest.fixture
def site(mariadb_admin: MariaDBAdmin) -> Iterator[str]:
    name = f"restore-{secrets.token_hex(3)}.example.com"
    try:
        yield name
    finally:
        db = database_name(name)
        mariadb_admin.run_sql(f"DROP DATABASE IF EXISTS `{db}`")
        for host in ("localhost", "127.0.0.1"):
            mariadb_admin.run_sql(f"DROP USER IF EXISTS '{db}'@'{host}'")


def site_dir(h: TestHost, site: str) -> Path:
    return h.platforms / "std" / "web" / "sites" / site


def drush_sql(h: TestHost, site: str, sql: str) -> None:
    """A query run as the tests of the drush driver do: the site's own drush sql:query."""
    h.run(Drush(str(h.platforms / "std"), site).sql_query(sql))


def content(admin: MariaDBAdmin, site: str) -> dict[str, Any]:
    """The content tables' checksums, the table list and the node titles, as the admin sees."""
    db = database_name(site)
    return {
        "checksum": admin.query("CHECKSUM TABLE node, users", database=db),
        "tables": sorted(row[0] for row in admin.query("SHOW TABLES", database=db)),
        "titles": admin.query("SELECT nid, title FROM node ORDER BY nid", database=db),
    }


def files(h: TestHost, site: str) -> dict[str, str]:
    """Every entry under files/ and private/: a file's sha256, or `dir`."""
    base = site_dir(h, site)
    found = {}
    for tree in ("files", "private"):
        for path in sorted((base / tree).rglob("*")):
            rel = str(path.relative_to(base))
            found[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def page(h: TestHost, site: str) -> tuple[int, str]:
    got = http_get("127.0.0.1", h.http_port, "/", site)
    return got.status, got.body.decode("utf-8", "replace")


def run_with_agent(
    repo: Path, state: Path, hosts: Sequence[TestHost], *args: str
) -> subprocess.CompletedProcess[str]:
    """`python -m reconciler` with the ssh-agent holding every host's key (no --ssh-key)."""
    known = repo.parent / "known_hosts"
    known.write_text("".join(h.known_hosts.read_text() for h in hosts))
    argv = [sys.executable, "-m", "reconciler", *args, "--repo", str(repo), "--worktree"]
    argv += ["--state", str(state), "--known-hosts", str(known)]
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False, env=env)


def prepare(h: TestHost, site: str) -> None:
    """Files of the site's own, with the contract's modes, before the backup."""
    base = site_dir(h, site)
    h.run(["mkdir", "-p", str(base / "files" / "sub")])
    h.run(["chmod", "2770", str(base / "files" / "sub")])
    for name, data in (("hello.txt", b"hello\n"), ("sub/deep.txt", b"deep\n" * 100)):
        h.write_file(base / "files" / name, data, 0o660)
    h.write_file(base / "private" / "secret-report.txt", b"private data\n", 0o660)


def change(h: TestHost, site: str) -> None:
    """What happens after the backup: content added and changed, a table, files gone and new."""
    drush_sql(
        h,
        site,
        "INSERT INTO node (uuid, type, title, body, uid, status, created) "
        "VALUES ('after', 'article', 'Written after the backup', 'x', 1, 1, 0)",
    )
    drush_sql(h, site, "UPDATE users SET mail = 'changed@example.org' WHERE uid = 1")
    drush_sql(h, site, "CREATE TABLE after_backup (id INT)")
    base = site_dir(h, site)
    h.run(["rm", str(base / "files" / "hello.txt")])
    h.write_file(base / "files" / "new-after-backup.txt", b"new\n", 0o660)


def check_restored(
    h: TestHost, site: str, before: dict[str, Any], admin: MariaDBAdmin, settings: bytes
) -> None:
    assert content(admin, site) == before["content"]
    assert "after_backup" not in before["content"]["tables"]
    assert files(h, site) == before["files"]
    base = site_dir(h, site)
    assert (base / "settings.php").read_bytes() == settings
    assert stat.S_IMODE((base / "settings.php").stat().st_mode) == 0o440
    assert stat.S_IMODE(base.stat().st_mode) == 0o550
    for tree in ("files", "private", "files/sub"):
        assert stat.S_IMODE((base / tree).stat().st_mode) == 0o2770, tree
    assert not (base.parent / f".{site}.restore").exists()
    status, body = page(h, site)
    assert status == 200 and 'id="content-count">3<' in body, body[:300]


def safety_dump(h: TestHost, site: str, safety: str) -> str:
    with tarfile.open(h.backups / site / f"{safety}.tar.gz") as tar:
        member = tar.extractfile("database.sql")
        assert member is not None
        return member.read().decode()


def test_restore_in_place_round_trip_and_bad_ids(
    h01: TestHost, standin_repo: Path, tmp_path: Path, site: str, mariadb_admin: MariaDBAdmin
) -> None:
    cli = Cli(repo=tmp_path / "git", hosts=[h01], state=tmp_path / "journal.sqlite")
    cli.write(server_yaml(h01), platform_yaml("std", h01, standin_repo), site_yaml(site, "std"))
    installed = cli.run("apply", "--yes")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    prepare(h01, site)
    taken = cli.run("backup", site, "--format", "json")
    assert taken.returncode == 0, taken.stderr
    backup_id = json.loads(taken.stdout)["id"]
    settings = (site_dir(h01, site) / "settings.php").read_bytes()
    before = {"content": content(mariadb_admin, site), "files": files(h01, site)}
    assert len(before["content"]["titles"]) == 3

    change(h01, site)
    assert content(mariadb_admin, site) != before["content"]
    assert files(h01, site) != before["files"]
    assert 'id="content-count">4<' in page(h01, site)[1]

    done = cli.run("restore", site, backup_id, "--yes", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    safety = doc["safetyBackup"]
    assert doc["restored"] is True and doc["backup"] == backup_id and doc["server"] == h01.name
    assert f"Safety backup of {site} before the restore: {safety}" in done.stderr
    check_restored(h01, site, before, mariadb_admin, settings)
    # the safety backup holds the state before the restore: a way back
    assert "after_backup" in safety_dump(h01, site, safety)
    assert "Written after the backup" in safety_dump(h01, site, safety)

    # bad ids: refused before anything is done, nothing changed, no safety backup taken
    tarballs = sorted(p.name for p in (h01.backups / site).iterdir())
    outputs = [installed, taken, done]
    for bad, why in [
        (f"{site}-20000101T000000Z", "was not found on any declared server"),
        ("not-an-id", "is not a backup id"),
        ("other.example.com-20240101T000000Z", "cloneFrom: other.example.com"),
    ]:
        refused = cli.run("restore", site, bad, "--yes")
        outputs.append(refused)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert why in refused.stderr and "nothing was changed" in refused.stderr
        assert sorted(p.name for p in (h01.backups / site).iterdir()) == tarballs
    check_restored(h01, site, before, mariadb_admin, settings)

    text = cli.run("restore", site, backup_id, "--yes")
    outputs.append(text)
    assert text.returncode == 0, text.stderr
    assert f"Restored {site} on {h01.name} from {backup_id}." in text.stdout
    creds = _credentials(site_dir(h01, site) / "settings.php")
    for out in outputs:
        for secret in (creds["password"], creds["hash_salt"]):
            assert secret not in out.stdout + out.stderr


@pytest.mark.usefixtures("agent")
def test_restore_of_a_backup_held_on_another_host(
    h01: TestHost,
    h02: TestHost,
    standin_repo: Path,
    tmp_path: Path,
    site: str,
    mariadb_admin: MariaDBAdmin,
) -> None:
    repo, state = tmp_path / "git", tmp_path / "journal.sqlite"
    repo.mkdir()
    docs = [server_yaml(h01), server_yaml(h02), platform_yaml("std", h01, standin_repo)]
    (repo / "manifests.yaml").write_text("---\n".join([*docs, site_yaml(site, "std")]))
    installed = run_with_agent(repo, state, [h01, h02], "apply", "--yes")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    prepare(h01, site)
    taken = run_with_agent(repo, state, [h01, h02], "backup", site, "--format", "json")
    assert taken.returncode == 0, taken.stderr
    backup_id = json.loads(taken.stdout)["id"]
    settings = (site_dir(h01, site) / "settings.php").read_bytes()
    before = {"content": content(mariadb_admin, site), "files": files(h01, site)}
    # the backup lives on h02 only (as when the site was on h02 before a move)
    held = h01.backups / site / f"{backup_id}.tar.gz"
    moved = h02.backups / site / held.name
    copy = 'mkdir -m 700 "$1" && cp "$2" "$3"'
    h02.run(["sh", "-c", copy, "sh", str(moved.parent), str(held), str(moved)])
    h01.run(["rm", str(held)])
    digest = hashlib.sha256(moved.read_bytes()).hexdigest()

    change(h01, site)
    done = run_with_agent(
        repo, state, [h01, h02], "restore", site, backup_id, "--yes", "--format", "json"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert (doc["server"], doc["heldOn"]) == (h01.name, h02.name)
    check_restored(h01, site, before, mariadb_admin, settings)
    assert hashlib.sha256(held.read_bytes()).hexdigest() == digest  # copied whole
    assert stat.S_IMODE(held.stat().st_mode) == 0o600
    assert moved.exists()
    assert not list(held.parent.glob("*.part"))
    creds = _credentials(site_dir(h01, site) / "settings.php")
    for out in (installed, taken, done):
        assert creds["password"] not in out.stdout + out.stderr
        assert creds["hash_salt"] not in out.stdout + out.stderr


def _altered(source: Path, dest: Path, *, junk: bytes, fix_manifest: bool) -> None:
    """A copy of a backup whose database.sql ends in `junk`; its manifest's sha256 updated
    (`fix_manifest`) or left stale (a tampered backup). Owned and moded as the original."""
    members: list[tuple[tarfile.TarInfo, bytes | None]] = []
    with tarfile.open(source) as tar:
        for member in tar:
            handle = tar.extractfile(member) if member.isfile() else None
            members.append((member, handle.read() if handle is not None else None))
    data = {member.name: body for member, body in members}
    dump = (data["database.sql"] or b"") + junk
    manifest = json.loads(data["manifest.json"] or b"{}")
    if fix_manifest:
        manifest["database"]["sha256"] = hashlib.sha256(dump).hexdigest()
    with tarfile.open(dest, "w:gz") as out:
        for member, body in members:
            if member.name == "database.sql":
                body = dump
            elif member.name == "manifest.json":
                body = json.dumps(manifest).encode()
            member.size = len(body) if body is not None else 0
            out.addfile(member, io.BytesIO(body) if body is not None else None)
    owner = source.stat()
    os.chown(dest, owner.st_uid, owner.st_gid)
    dest.chmod(0o600)


def test_a_failed_restore_leaves_the_site_as_it_was(
    h01: TestHost, standin_repo: Path, tmp_path: Path, site: str, mariadb_admin: MariaDBAdmin
) -> None:
    cli = Cli(repo=tmp_path / "git", hosts=[h01], state=tmp_path / "journal.sqlite")
    cli.write(server_yaml(h01), platform_yaml("std", h01, standin_repo), site_yaml(site, "std"))
    assert cli.run("apply", "--yes").returncode == 0
    prepare(h01, site)
    taken = cli.run("backup", site, "--format", "json")
    assert taken.returncode == 0, taken.stderr
    good = h01.backups / site / f"{json.loads(taken.stdout)['id']}.tar.gz"
    change(h01, site)
    settings = (site_dir(h01, site) / "settings.php").read_bytes()
    now = {"content": content(mariadb_admin, site), "files": files(h01, site)}
    assert "after_backup" in now["content"]["tables"]

    tampered = f"{site}-20000103T000000Z"
    _altered(good, good.with_name(f"{tampered}.tar.gz"), junk=b"-- x\n", fix_manifest=False)
    refused = cli.run("restore", site, tampered, "--yes")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "does not match the sha256 in its manifest.json" in refused.stderr
    assert (
        "failed at step unpack" in refused.stderr and "the site was not changed" in refused.stderr
    )

    broken = f"{site}-20000102T000000Z"
    _altered(good, good.with_name(f"{broken}.tar.gz"), junk=b"NOT SQL AT ALL;\n", fix_manifest=True)
    failed = cli.run("restore", site, broken, "--yes")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert f"the restore of {site} from backup {broken} failed at step database" in failed.stderr
    assert "the site was put back as it was" in failed.stderr
    assert "loading the safety backup" in failed.stderr
    assert content(mariadb_admin, site) == now["content"]
    assert files(h01, site) == now["files"]
    assert (site_dir(h01, site) / "settings.php").read_bytes() == settings
    assert not (site_dir(h01, site).parent / f".{site}.restore").exists()
    status, body = page(h01, site)
    assert status == 200 and 'id="content-count">4<' in body
    creds = _credentials(site_dir(h01, site) / "settings.php")
    for out in (taken, refused, failed):
        assert creds["password"] not in out.stdout + out.stderr


def sqlite_content(h: TestHost, site: str) -> dict[str, Any]:
    """An SQLite site's tables and its content tables' rows, read from its database file."""
    path = site_dir(h, site) / "private" / "db.sqlite"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        return {
            "tables": [name for (name,) in tables],
            "node": db.execute("SELECT * FROM node ORDER BY nid").fetchall(),
            "users": db.execute("SELECT * FROM users ORDER BY uid").fetchall(),
        }


def test_restore_of_a_sqlite_site(h01: TestHost, standin_repo: Path, tmp_path: Path) -> None:
    site = f"lite-{secrets.token_hex(3)}.example.com"
    cli = Cli(repo=tmp_path / "git", hosts=[h01], state=tmp_path / "journal.sqlite")
    server = server_yaml(h01, db="sqlite")
    cli.write(server, platform_yaml("std", h01, standin_repo), site_yaml(site, "std"))
    installed = cli.run("apply", "--yes")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    prepare(h01, site)
    taken = cli.run("backup", site, "--format", "json")
    assert taken.returncode == 0, taken.stderr
    before = sqlite_content(h01, site)
    listing = {k: v for k, v in files(h01, site).items() if k != "private/db.sqlite"}
    change(h01, site)
    assert sqlite_content(h01, site) != before

    done = cli.run("restore", site, json.loads(taken.stdout)["id"], "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sqlite_content(h01, site) == before
    assert {k: v for k, v in files(h01, site).items() if k != "private/db.sqlite"} == listing
    database = site_dir(h01, site) / "private" / "db.sqlite"
    assert stat.S_IMODE(database.stat().st_mode) == 0o660
    status, body = page(h01, site)
    assert status == 200 and 'id="content-count">3<' in body, body[:300]
