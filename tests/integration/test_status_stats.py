"""`reconciler status` statistics on the real rig (h01: sshd, nginx + php-fpm, MariaDB; the STAND-IN
platform), each checked against an independent reading of the same fact:

* filesBytes / privateBytes grow by exactly the bytes the web server user put into `files/` and
  `private/`, and stay within the filesystem's block rounding of what `du` counts;
* databaseBytes is what `information_schema` says for the site's database, asked with the rig's
  own MariaDB admin account; for a SQLite site, the size of its database file;
* the platform's modules are exactly what the codebase's `*.info.yml` files say (read here with a
  YAML parser), the site's modules the ones its `core.extension` config enables (read from its
  database);
* lastCron is the controller's latest `drush core:cron` run, and that run really happened
  (`system.cron_last` in the site's state); the controller's `/api/status` carries the same
  statistics, gathered at its start.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from rig.hosts import TestHost
from rig.manifests import Cli, platform_yaml, server_yaml, site_yaml
from rig.mariadb import MariaDBAdmin
from ruamel.yaml import YAML

from integration.controller_proc import (
    ControllerProc,
    ManifestRepo,
    journal_rows,
    running,
    wait_until,
)
from reconciler.manifests.names import database_name

pytestmark = pytest.mark.integration

KNOWN = {"files/known-a.bin": 10_000, "files/sub/known-b.bin": 1, "private/known-c.bin": 70_001}


@pytest.fixture
def site(mariadb_admin: MariaDBAdmin) -> Iterator[str]:
    name = f"stats-{secrets.token_hex(3)}.example.com"
    try:
        yield name
    finally:
        db = database_name(name)
        mariadb_admin.run_sql(f"DROP DATABASE IF EXISTS `{db}`")
        for host in ("localhost", "127.0.0.1"):
            mariadb_admin.run_sql(f"DROP USER IF EXISTS '{db}'@'{host}'")


def _status(cli: Cli) -> dict[str, Any]:
    done = cli.run("status", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def _row(document: dict[str, Any], key: str, name: str) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {r["name"]: r for r in document[key]}
    return rows[name]


def _as_web_user(script: str, *args: str) -> None:
    """`sh -c script` as the web server user (as PHP writes uploads)."""
    subprocess.run(
        ["runuser", "-u", "www-data", "--", "sh", "-c", script, "sh", *args],
        check=True,
        capture_output=True,
        timeout=60,
    )


def _apparent_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file() and not p.is_symlink())


def _du_bytes(directory: Path) -> tuple[int, int]:
    """What `du` counts (allocated blocks, in bytes), and the number of entries it counted."""
    done = subprocess.run(["du", "-s", "-B1", str(directory)], capture_output=True, text=True)
    entries = 1 + sum(1 for _ in directory.rglob("*"))
    return int(done.stdout.split()[0]), entries


def _information_schema_bytes(admin: MariaDBAdmin, db: str) -> int:
    rows = admin.query(
        "SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES"
        f" WHERE TABLE_SCHEMA = '{db}'"
    )
    return int(rows[0][0])


def _codebase_inventory(docroot: Path) -> list[dict[str, str | None]]:
    """The modules and themes of a codebase, read here from its *.info.yml files (not under
    tests/), core ones at the version in core/lib/Drupal.php."""
    text = (docroot / "core/lib/Drupal.php").read_text()
    core = re.search(r"const VERSION = '([^']+)';", text)
    assert core is not None
    yaml = YAML(typ="safe")
    found: dict[str, dict[str, str | None]] = {}
    for path in sorted(docroot.rglob("*.info.yml")):
        if "tests" in path.relative_to(docroot).parts:
            continue
        info = yaml.load(path.read_text())
        if info.get("type") not in ("module", "theme"):
            continue
        version = info.get("version")
        if version in (None, "VERSION") and path.is_relative_to(docroot / "core"):
            version = core.group(1)
        name = path.name.removesuffix(".info.yml")
        found.setdefault(name, {"name": name, "version": version, "type": info["type"]})
    return [found[name] for name in sorted(found)]


def _php_unserialize(data: str) -> Any:
    done = subprocess.run(
        ["php", "-r", "echo json_encode(unserialize(stream_get_contents(STDIN)));"],
        input=data,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def _enabled_names(admin: MariaDBAdmin, db: str) -> set[str]:
    """Modules (not the install profile) and themes enabled in the site's core.extension."""
    (row,) = admin.query("SELECT data FROM config WHERE name = 'core.extension'", db)
    extension = _php_unserialize(row[0])
    return (set(extension["module"]) - {extension["profile"]}) | set(extension["theme"])


def _cron_last(admin: MariaDBAdmin, db: str) -> int:
    (row,) = admin.query(
        "SELECT value FROM key_value WHERE collection = 'state' AND name = 'system.cron_last'", db
    )
    return int(_php_unserialize(row[0]))


def _at(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_status_reports_sizes_inventories_and_last_cron(
    h01: TestHost, standin_repo: Path, tmp_path: Path, site: str, mariadb_admin: MariaDBAdmin
) -> None:
    repo = ManifestRepo(tmp_path / "git")
    repo.commit(
        server_yaml(h01),
        platform_yaml("std", h01, standin_repo),
        site_yaml(site, "std", cron={"interval": "2s"}),
    )
    state = tmp_path / "journal.sqlite"
    cli = Cli(repo=repo.path, hosts=[h01], state=state)
    done = cli.run("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    site_dir = h01.platforms / "std/web/sites" / site
    db = database_name(site)

    before = _row(_status(cli), "sites", site)["stats"]
    _as_web_user(
        'mkdir "$1/files/sub" && head -c 10000 /dev/urandom > "$1/files/known-a.bin"'
        ' && head -c 1 /dev/urandom > "$1/files/sub/known-b.bin"'
        ' && head -c 70001 /dev/urandom > "$1/private/known-c.bin"',
        str(site_dir),
    )
    for rel, size in KNOWN.items():
        assert (site_dir / rel).stat().st_size == size
        assert (site_dir / rel).stat().st_uid == 33  # written by www-data

    # databaseBytes: what information_schema says, asked before and after (InnoDB may
    # recalculate its statistics in the background between two questions: then ask again)
    for _ in range(3):
        asked_before = _information_schema_bytes(mariadb_admin, db)
        document = _status(cli)
        asked_after = _information_schema_bytes(mariadb_admin, db)
        if asked_before == asked_after:
            break
    assert asked_before == asked_after
    row = _row(document, "sites", site)
    stats = row["stats"]
    assert stats["databaseBytes"] == asked_after > 0, stats

    files_known = KNOWN["files/known-a.bin"] + KNOWN["files/sub/known-b.bin"]
    assert stats["filesBytes"] - before["filesBytes"] == files_known
    assert stats["privateBytes"] - before["privateBytes"] == KNOWN["private/known-c.bin"]
    block = os.statvfs(site_dir).f_bsize
    for key, directory in (("filesBytes", "files"), ("privateBytes", "private")):
        assert stats[key] == _apparent_bytes(site_dir / directory)
        du, entries = _du_bytes(site_dir / directory)
        assert abs(du - stats[key]) <= entries * block, (key, du, stats[key], entries)

    # the platform's modules: the codebase's *.info.yml files; the site's: core.extension
    inventory = _codebase_inventory(h01.platforms / "std/web")
    platform = _row(document, "platforms", "std")
    assert platform["modules"] == inventory
    assert {"name": "token", "version": "1.14.0", "type": "module"} in inventory
    assert {"name": "gin", "version": "1.1.0", "type": "theme"} in inventory
    assert {"name": "olivero", "version": "10.3.6", "type": "theme"} in inventory
    enabled = _enabled_names(mariadb_admin, db)
    assert {"node", "token", "pathauto", "olivero"} <= enabled
    assert row["modules"] == [m for m in inventory if m["name"] in enabled]
    assert row["lastCron"] is None  # the controller has not run yet

    # cron through the controller's job; its /api/status carries the statistics from its start
    controller = ControllerProc(repo, [h01], state)
    with running(controller):

        def served() -> dict[str, Any] | None:
            found = controller.sites().get(site)  # none before the manifests are loaded
            if found is None or found["lastCron"] is None or found["modules"] is None:
                return None
            return found

        seen = wait_until(f"a cron run and the statistics\n{controller.tail()}", served, 90)
        assert seen["lastCron"]["result"] == "succeeded", seen["lastCron"]
        assert seen["modules"] == row["modules"]
        assert isinstance(seen["stats"]["databaseBytes"], int)
        assert seen["stats"]["filesBytes"] == stats["filesBytes"]
        status = controller.status()
        assert _row(status, "platforms", "std")["modules"] == inventory

    after = _row(_status(cli), "sites", site)
    ((kind, result, ended),) = journal_rows(
        state,
        "SELECT kind, status, ended_at FROM actions WHERE object_kind = 'Cron'"
        " AND object_name = ? ORDER BY started_at DESC, id DESC LIMIT 1",
        site,
    )
    assert (kind, result) == ("site.cron", "succeeded")
    assert after["lastCron"] == {"at": ended, "result": "succeeded", "error": None}
    ran = _cron_last(mariadb_admin, db)  # set by `drush core:cron` on the site itself
    assert _at(ended) - 60 <= ran <= _at(ended) + 1


def test_sqlite_database_bytes_is_the_size_of_its_file(
    h01: TestHost, standin_repo: Path, tmp_path: Path
) -> None:
    name = f"lite-{secrets.token_hex(3)}.example.com"
    cli = Cli(repo=tmp_path / "git", hosts=[h01], state=tmp_path / "journal.sqlite")
    cli.write(
        server_yaml(h01, db="sqlite"),
        platform_yaml("lite", h01, standin_repo),
        site_yaml(name, "lite", cron={"interval": 0}),
    )
    done = cli.run("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    database = h01.platforms / "lite/web/sites" / name / "private/db.sqlite"
    row = _row(_status(cli), "sites", name)
    assert row["stats"]["databaseBytes"] == database.stat().st_size > 0
    assert row["stats"]["privateBytes"] >= database.stat().st_size  # the file is in private/
    assert {"name": "node", "version": "10.3.6", "type": "module"} in row["modules"]
