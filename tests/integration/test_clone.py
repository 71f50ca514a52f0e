"""`cloneFrom` on the real rig: sshd hosts, nginx + php-fpm, MariaDB and SQLite, the stand-in.

A source site is installed with `apply`, given content that names it (a node linking to
`http://<source>/sites/<source>/files/x.txt`, a PHP-serialized state value holding the same link
and a serialized string inside it, files in files/ and private/), then a second Site declares
`cloneFrom: <source>` and `apply` runs again. Checked: the clone is served with its own Host,
its content equals the source's except the links, which name the clone (the serialized values
still unserialize), its files are there, its database user sees its own database only, the source's
tables and files are byte for byte as before, and the next plan is empty. On one server, onto
another server, and with SQLite, where a clone into MariaDB is refused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from rig.hosts import TestHost
from rig.manifests import Cli, platform_yaml, server_yaml, site_yaml, ssh_agent
from rig.mariadb import MariaDBAdmin
from rig.web import http_get

from integration.test_apply_lifecycle import _credentials, _visible_databases
from reconciler.manifests.names import database_name

pytestmark = pytest.mark.integration

CONTENT_TABLES = ("node", "users", "config", "key_value")
FILES = {"files/x.txt": b"the linked file\n", "files/sub/y.bin": bytes(range(256)) * 8}
PRIVATE = {"private/secret.txt": b"private to the site\n"}
LEAD = '\nit\'s a "line"\r\n'
"""Before the links in an SQLite body: sqlite3 .dump writes it with replace() markers."""


@pytest.fixture
def agent(rig_workspace: list[TestHost]) -> Iterator[dict[str, str]]:
    with ssh_agent(rig_workspace) as env:
        yield env


@pytest.fixture
def names(mariadb_admin: MariaDBAdmin) -> Iterator[tuple[str, str]]:
    """A source and a clone name of different lengths (serialized byte counts must change)."""
    token = secrets.token_hex(3)
    sites = (f"src-{token}.example.com", f"copy-{token}.example.com")
    try:
        yield sites
    finally:
        for site in sites:
            db = database_name(site)
            mariadb_admin.run_sql(f"DROP DATABASE IF EXISTS `{db}`")
            for host in ("localhost", "127.0.0.1"):
                mariadb_admin.run_sql(f"DROP USER IF EXISTS '{db}'@'{host}'")


@dataclass(frozen=True)
class Place:
    """A site on a rig host: platform `std` (or another) there."""

    host: TestHost
    platform: str
    site: str

    @property
    def codebase(self) -> Path:
        return self.host.platforms / self.platform

    @property
    def dir(self) -> Path:
        return self.codebase / "web/sites" / self.site

    def drush(self, *args: str) -> str:
        argv = [str(self.codebase / "vendor/bin/drush"), *args, f"--uri=http://{self.site}"]
        return self.host.run(argv).out


def _body(site: str, lead: str = "", clone: str | None = None) -> str:
    """A node body naming `site`: as written on the source, or as the clone must hold it (three
    names rewritten, four that are not links to the site left alone)."""
    new = clone or site
    return (
        f'<p>{lead}Read <a href="http://{new}/sites/{new}/files/x.txt">x</a>, '
        f"or https://{new}:8443/?q=1; mail admin@{site}; "
        f"not http://{site}.evil/ nor //x{site}/ nor mysites/{site}/</p>"
    )


def _link(site: str) -> str:
    return f"http://{site}/sites/{site}/files/x.txt"


def _state(site: str) -> dict[str, str]:
    """A state value (serialized by the stand-in) holding a link and a serialized link."""
    inner = _link(site)
    return {"link": _link(site), "inner": f's:{len(inner.encode())}:"{inner}";'}


def _seed(place: Place, insert: list[str]) -> None:
    """Content naming the source: a node (by `insert`, SQL run by the caller's client), a state
    value, files and a private file."""
    for path, data in {**FILES, **PRIVATE}.items():
        target = place.dir / path
        place.host.run(["mkdir", "-p", str(target.parent)])
        place.host.write_file(target, data, 0o660)
    value = json.dumps(_state(place.site))
    place.drush("state:set", "clone_test", value, "--input-format=json")
    insert.append(
        "INSERT INTO node (uuid, type, title, body, uid, status, created) VALUES "
        f"('0b3e1c2a-7d8e-4f00-9a1b-000000000001', 'article', 'Links', '{_body(place.site)}', "
        "1, 1, 1700000000)"
    )


def _tree(root: Path) -> dict[str, tuple[int, str]]:
    """Every file and directory under `root`: its mode and (files) sha256."""
    found: dict[str, tuple[int, str]] = {}
    for path in sorted([root, *root.rglob("*")]):
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        found[str(path.relative_to(root))] = (stat.S_IMODE(st.st_mode), digest)
    return found


def _mysql_rows(admin: MariaDBAdmin, db: str) -> dict[str, list[list[str]]]:
    return {
        t: admin.query(f"SELECT * FROM `{t}` ORDER BY 1, 2", database=db) for t in CONTENT_TABLES
    }


def _checksums(admin: MariaDBAdmin, db: str) -> list[list[str]]:
    tables = [row[0] for row in admin.query("SHOW TABLES", database=db)]
    return admin.query("CHECKSUM TABLE " + ", ".join(f"`{t}`" for t in tables), database=db)


Rows = dict[str, list[list[str]]]


def _expected(rows: Rows, source: str, clone: str, lead: str = "") -> Rows:
    """The source's content rows as the clone must hold them: the two rows naming the source's
    links rewritten (the serialized state value with its byte counts), everything else equal."""
    out = {table: [list(row) for row in found] for table, found in rows.items()}
    nodes = [row for row in out["node"] if row[3] == "Links"]
    assert len(nodes) == 1 and nodes[0][4] == _body(source, lead)
    nodes[0][4] = _body(source, lead, clone)
    state = [row for row in out["key_value"] if row[:2] == ["state", "clone_test"]]
    assert len(state) == 1
    state[0][2] = _php_serialize(_state(clone))
    return out


def _php_serialize(value: dict[str, str]) -> str:
    done = subprocess.run(
        ["php", "-r", "echo serialize(json_decode($argv[1], true));", json.dumps(value)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def _check_files(source: Place, clone: Place) -> None:
    for path, data in {**FILES, **PRIVATE}.items():
        assert (clone.dir / path).read_bytes() == data, path
        assert stat.S_IMODE((clone.dir / path).stat().st_mode) == 0o660
    assert stat.S_IMODE((clone.dir / "files/sub").stat().st_mode) == 0o2770
    assert stat.S_IMODE((clone.dir / "settings.php").stat().st_mode) == 0o440
    assert source.site not in (clone.dir / "settings.php").read_text()


def _check_served(clone: Place, count: int) -> None:
    page = http_get("127.0.0.1", clone.host.http_port, "/", clone.site)
    assert page.status == 200, page.body[:300]
    assert f'<span id="content-count">{count}</span>'.encode() in page.body
    assert b"<li>Links</li>" in page.body
    state = json.loads(clone.drush("state:get", "clone_test", "--format=json"))
    assert state == {"clone_test": _state(clone.site)}  # unserialized by PHP, lengths right


def _mariadb_clone(
    cli: Cli, source: Place, clone: Place, docs: list[str], admin: MariaDBAdmin, tmp: Path
) -> None:
    """Install the source, seed it, clone it, and check everything the clone promises."""
    cli.write(*docs, site_yaml(source.site, source.platform))
    done = cli.run("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    src_db, clone_db = database_name(source.site), database_name(clone.site)
    insert: list[str] = []
    _seed(source, insert)
    admin.run_sql(";\n".join(insert), database=src_db)
    before = (_checksums(admin, src_db), _tree(source.dir))
    rows = _mysql_rows(admin, src_db)

    cli.write(
        *docs,
        site_yaml(source.site, source.platform),
        site_yaml(clone.site, clone.platform, cloneFrom=source.site),
    )
    plan = cli.run("plan")
    assert f"cloneFrom {source.site}" in plan.stdout, plan.stdout + plan.stderr
    done = cli.run("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Plan: 1 to add, 0 to change, 0 to delete." in done.stdout

    _check_served(clone, 4)
    assert _mysql_rows(admin, clone_db) == _expected(rows, source.site, clone.site)
    assert admin.query("SELECT COUNT(*) FROM cache_default", database=clone_db) == [["0"]]
    _check_files(source, clone)
    creds = _credentials(clone.dir / "settings.php")
    assert creds["database"] == clone_db and creds["username"] == clone_db
    assert _visible_databases(creds, tmp) == {clone_db}
    assert (_checksums(admin, src_db), _tree(source.dir)) == before  # the source untouched
    again = cli.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
    outputs = done.stdout + done.stderr + again.stdout + again.stderr
    assert creds["password"] not in outputs and creds["hash_salt"] not in outputs


def test_clone_on_the_same_server(
    h01: TestHost,
    standin_repo: Path,
    tmp_path: Path,
    names: tuple[str, str],
    mariadb_admin: MariaDBAdmin,
) -> None:
    src, copy = names
    cli = Cli(repo=tmp_path / "git", hosts=[h01], state=tmp_path / "journal.sqlite")
    docs = [server_yaml(h01), platform_yaml("std", h01, standin_repo)]
    _mariadb_clone(
        cli, Place(h01, "std", src), Place(h01, "std", copy), docs, mariadb_admin, tmp_path
    )


def test_clone_onto_another_server(
    h01: TestHost,
    h02: TestHost,
    standin_repo: Path,
    tmp_path: Path,
    names: tuple[str, str],
    mariadb_admin: MariaDBAdmin,
    agent: dict[str, str],
) -> None:
    src, copy = names
    cli = Cli(repo=tmp_path / "git", hosts=[h01, h02], state=tmp_path / "j.sqlite", env=agent)
    docs = [server_yaml(h01), server_yaml(h02)]
    docs += [platform_yaml("std", h01, standin_repo), platform_yaml("two", h02, standin_repo)]
    _mariadb_clone(
        cli, Place(h01, "std", src), Place(h02, "two", copy), docs, mariadb_admin, tmp_path
    )
    assert not (h01.platforms / "std/web/sites" / copy).exists()


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return "NULL" if value is None else str(value)


def _sqlite_rows(path: Path) -> Rows:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        return {
            t: [[_text(v) for v in row] for row in db.execute(f"SELECT * FROM {t} ORDER BY 1, 2")]
            for t in CONTENT_TABLES
        }


def test_sqlite_clone_and_a_clone_across_database_kinds_refused(
    h01: TestHost,
    h02: TestHost,
    standin_repo: Path,
    tmp_path: Path,
    names: tuple[str, str],
    mariadb_admin: MariaDBAdmin,
    agent: dict[str, str],
) -> None:
    src, copy = names
    mixed = f"mixed-{secrets.token_hex(3)}.example.com"
    cli = Cli(repo=tmp_path / "git", hosts=[h01, h02], state=tmp_path / "j.sqlite", env=agent)
    docs = [server_yaml(h01, db="sqlite"), server_yaml(h02)]
    docs += [platform_yaml("std", h01, standin_repo), platform_yaml("two", h02, standin_repo)]
    source, clone = Place(h01, "std", src), Place(h01, "std", copy)
    cli.write(*docs, site_yaml(src, "std"))
    assert cli.run("apply", "--yes").returncode == 0
    _seed(source, [])
    database = source.dir / "private/db.sqlite"
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute(
            "INSERT INTO node (uuid, type, title, body, uid, status, created) "
            "VALUES ('u', 'article', 'Links', ?, 1, 1, 1700000000)",
            (_body(src, LEAD),),
        )
        db.commit()
    before = _tree(source.dir)
    rows = _sqlite_rows(database)

    cli.write(
        *docs,
        site_yaml(src, "std"),
        site_yaml(copy, "std", cloneFrom=src),
        site_yaml(mixed, "two", cloneFrom=src),
    )
    done = cli.run("apply", "--yes")
    assert done.returncode == 1, done.stdout + done.stderr
    both = f"{mixed}: cannot be cloned from {src}: its database would be mariadb on {h02.name}"
    assert both in done.stdout + done.stderr
    assert f"{src}'s is sqlite on {h01.name}" in done.stdout + done.stderr
    assert not (h02.platforms / "two/web/sites" / mixed).exists()
    assert database_name(mixed) not in mariadb_admin.databases()
    _check_served(clone, 4)
    assert _sqlite_rows(clone.dir / "private/db.sqlite") == _expected(rows, src, copy, LEAD)
    assert stat.S_IMODE((clone.dir / "private/db.sqlite").stat().st_mode) == 0o660
    _check_files(source, clone)
    assert _tree(source.dir) == before
    assert (clone.dir / "private/db.sqlite").stat().st_ino != database.stat().st_ino
    cli.write(*docs, site_yaml(src, "std"), site_yaml(copy, "std", cloneFrom=src))
    again = cli.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
