"""The backup driver: ids, the backup script, the listing script and its parser.

Tables for the pure parts; the scripts are also run here with this host's `sh`, GNU tar and
coreutils on a temporary directory, with a small shell script in the place of drush that writes
the dump file it is given (the real drush and MariaDB are in tests/integration/test_backup.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import subprocess
import tarfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from reconciler.actions.backup import backup_steps
from reconciler.actions.context import observed_site_context, server_facts
from reconciler.actions.script import DONE, Step, render_step
from reconciler.drivers.backup import (
    LISTING_MARKER,
    BackupEntry,
    backup_paths,
    backup_script,
    list_script,
    new_backup_id,
    parse_backup_id,
    parse_listing,
)
from reconciler.drivers.drush import Drush
from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.models import Platform, Server, Site
from reconciler.transport.base import CommandResult
from unit import builders

T = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
A = "a.example.com"
BASE = f"{A}-20240102T030405Z"
ISO = "2024-01-02T03:04:05Z"


# ---------------------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    ("site", "now", "existing", "expected"),
    [
        (A, T, [], BASE),
        (A, T.replace(microsecond=999_999), [], BASE),
        (A, T.astimezone(timezone(timedelta(hours=5, minutes=30))), [], BASE),
        (A, T, [BASE], BASE + "-1"),
        (A, T, {BASE}, BASE + "-1"),
        (A, T, [BASE, BASE + "-1"], BASE + "-2"),
        (A, T, [BASE + "-1"], BASE + "-2"),  # the first one was pruned
        (A, T, [BASE, BASE + "-9", BASE + "-10"], BASE + "-11"),
        (A, T, [f"{A}-20240102T030404Z", "b.example.com-20240102T030405Z"], BASE),
        (A, T, [BASE + "-x", BASE + "-0", BASE + "-01", "x" + BASE], BASE),
        ("my-a.example.com", T, ["my-" + BASE], "my-" + BASE + "-1"),
    ],
)
def test_new_backup_id(site: str, now: datetime, existing: list[str], expected: str) -> None:
    assert new_backup_id(site, now, existing) == expected
    assert parse_backup_id(expected) == (site, T)


@pytest.mark.parametrize(
    ("site", "now"), [(A, datetime(2024, 1, 2)), ("", T), ("a/b", T), ("..", T)]
)
def test_new_backup_id_refuses(site: str, now: datetime) -> None:
    with pytest.raises(ValueError, match=r"timezone-aware|not a site name"):
        new_backup_id(site, now, [])


@pytest.mark.parametrize(
    ("backup_id", "site", "when"),
    [
        (BASE, A, T),
        (BASE + "-1", A, T),
        (BASE + "-12", A, T),
        ("x-1-20991231T235959Z", "x-1", datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("x-20240102T030405Z-20240102T030405Z", "x-20240102T030405Z", T),
    ],
)
def test_parse_backup_id(backup_id: str, site: str, when: datetime) -> None:
    assert parse_backup_id(backup_id) == (site, when)


@pytest.mark.parametrize(
    "backup_id",
    [
        "",
        A,
        "-20240102T030405Z",
        "a-20240102T030405",
        "a-20240102T030405Z-0",
        "a-20240102T030405Z-",
        "a-20241302T030405Z",  # no month 13
        "a-20240230T030405Z",  # no 30 February
        "a-20240102T030405Z.tar.gz",
    ],
)
def test_parse_backup_id_refuses(backup_id: str) -> None:
    with pytest.raises(ValueError, match="not a backup id"):
        parse_backup_id(backup_id)


def test_backup_paths() -> None:
    p = backup_paths("/var/aegir/backups/", BASE + "-1")
    d = "/var/aegir/backups/a.example.com"
    assert (p.root, p.directory, p.work) == ("/var/aegir/backups", d, f"{d}/.{BASE}-1.work")
    assert (p.tarball, p.part) == (f"{d}/{BASE}-1.tar.gz", f"{d}/{BASE}-1.tar.gz.part")
    with pytest.raises(ValueError, match="absolute"):
        backup_paths("~/backups", BASE)
    with pytest.raises(ValueError, match="not a backup id"):
        backup_paths("/b", A)


# ---------------------------------------------------------------------------------- the script


def _script(drush: Drush, root: str, backup_id: str = BASE) -> str:
    facts = {"platform": "p1", "core_version": "10.3.6", "driver": "mysql"}
    return backup_script(drush, backups_root=root, backup_id=backup_id, **facts)


def test_backup_script_dumps_with_drush_to_an_absolute_file() -> None:
    d = Drush("/srv/p1", A)
    text = _script(d, "/b")
    work = f"/b/a.example.com/.{BASE}.work"
    assert (
        f"/srv/p1/vendor/bin/drush sql:dump --result-file={work}/database.sql --format=json "
        "--uri=http://a.example.com >&2"
    ) in text
    assert "--gzip" not in text and "--root" not in text
    tar = text[text.index("tar -czf") :]
    assert tar.index("manifest.json") < tar.index("database.sql") < tar.index("$site_dir")
    with pytest.raises(ValueError, match="not one of site"):
        _script(d, "/b", "b.example.com-20240102T030405Z")
    with pytest.raises(ValueError, match="absolute"):
        _script(d, "b")


FAKE_DRUSH = """#!/bin/sh
# stands in for drush sql:dump: writes the --result-file it is given
for a; do case $a in --result-file=*) f=${a#--result-file=} ;; esac; done
case ${FAKE_DUMP:-ok} in
  fail) echo " [error]  Unable to dump database." >&2; exit 1 ;;
  empty) : > "$f" ;;
  *) printf 'CREATE TABLE `users` (uid int);\\nINSERT INTO `users` VALUES (1);\\n' > "$f" ;;
esac
echo '{"path": "'"$f"'"}'
"""

ODD_NAMES = {
    "plain.txt": b"a",
    'we ird "q".txt': b"b",
    "nl\nx\ttab\\back\x01ctl\x1besc": b"c",
    "caf\u00e9": b"d",
    os.fsdecode(b"bad\xffbyte"): b"e",
    "sub/deep": b"f" * 5000,
}


def _site(tmp_path: Path, site: str = A) -> Drush:
    codebase = tmp_path / "cb"
    (codebase / "vendor/bin").mkdir(parents=True)
    drush = codebase / "vendor/bin/drush"
    drush.write_text(FAKE_DRUSH)
    drush.chmod(0o755)
    d = Drush(str(codebase), site)
    site_dir = Path(d.site_dir)
    (site_dir / "files/sub").mkdir(parents=True)
    (site_dir / "settings.php").write_text("<?php\n")
    (site_dir / "settings.php").chmod(0o440)
    for name, data in ODD_NAMES.items():
        (site_dir / "files" / name).write_bytes(data)
    (site_dir / "files/link").symlink_to("plain.txt")
    (site_dir / "files").chmod(0o2770)
    return d


def _run(
    d: Drush, root: Path, fake: str = "ok", backup_id: str = BASE
) -> subprocess.CompletedProcess[bytes]:
    return _sh(render_step(Step("backup", _script(d, str(root), backup_id))), root.parent, fake)


def _sh(script: str, cwd: Path, fake: str = "ok") -> subprocess.CompletedProcess[bytes]:
    """`sh -s` with `script` on stdin, as a transport runs it; HOME is `cwd`."""
    env = {**os.environ, "FAKE_DUMP": fake, "HOME": str(cwd)}
    return subprocess.run(
        ["sh", "-s"], input=script.encode(), capture_output=True, env=env, cwd=cwd, check=False
    )


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    fh = tar.extractfile(member)
    assert fh is not None
    return fh.read()


def test_backup_script_writes_the_tarball(tmp_path: Path) -> None:
    d = _site(tmp_path)
    root = tmp_path / "backups"
    root.mkdir(mode=0o2775)
    done = _run(d, root)
    assert done.returncode == 0, done.stderr
    assert DONE.encode() in done.stdout
    tarball = root / A / f"{BASE}.tar.gz"
    assert os.listdir(tarball.parent) == [tarball.name]
    size = tarball.stat().st_size
    for path, mode in ((root, 0o700), (tarball.parent, 0o700), (tarball, 0o600)):
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
    (entry,) = parse_listing(done.stdout.decode())
    assert (entry.id, entry.site, entry.size, entry.path) == (BASE, A, size, str(tarball))
    assert (entry.time, entry.platform, entry.core_version) == (T, "p1", "10.3.6")
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
        data = {m.name: _read(tar, m) for m in members if m.isfile()}
        link = tar.getmember("site/files/link")
    assert [m.name for m in members[:3]] == ["manifest.json", "database.sql", "site"]
    assert link.issym() and link.linkname == "plain.txt"
    manifest = json.loads(data["manifest.json"].decode("utf-8", "surrogateescape"))
    assert entry.manifest == manifest
    assert manifest["formatVersion"] == 1
    assert (manifest["id"], manifest["site"], manifest["time"]) == (BASE, A, ISO)
    assert manifest["database"] == {
        "driver": "mysql",
        "file": "database.sql",
        "sha256": hashlib.sha256(data["database.sql"]).hexdigest(),
    }
    files = {k: v for k, v in data.items() if k.startswith("site/")}
    assert manifest["files"] == {k: hashlib.sha256(v).hexdigest() for k, v in files.items()}
    for name, body in ODD_NAMES.items():
        assert files["site/files/" + name] == body
    modes = {m.name: stat.S_IMODE(m.mode) for m in members}
    assert (modes["site/settings.php"], modes["site/files"]) == (0o440, 0o2770)


def test_a_hostile_site_name_is_one_quoted_word(tmp_path: Path) -> None:
    site = "a'b;touch pwned;$(touch pwned2)`touch pwned3` \\x\"y"
    d = _site(tmp_path, site)
    backup_id = f"{site}-20240102T030405Z"
    done = _run(d, tmp_path / "backups", backup_id=backup_id)
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.rglob("pwned*"))
    (entry,) = parse_listing(done.stdout.decode())
    assert (entry.id, entry.site) == (backup_id, site)
    assert Path(entry.path) == tmp_path / "backups" / site / f"{backup_id}.tar.gz"
    with tarfile.open(entry.path) as tar:
        assert tar.getnames()[:3] == ["manifest.json", "database.sql", "site"]
    assert entry.manifest is not None and entry.manifest["site"] == site


@pytest.mark.parametrize(
    ("fake", "message"),
    [("fail", "drush sql:dump failed"), ("empty", "drush sql:dump wrote no database dump")],
)
def test_a_failed_backup_removes_its_partial_files(tmp_path: Path, fake: str, message: str) -> None:
    d = _site(tmp_path)
    root = tmp_path / "backups"
    done = _run(d, root, fake)
    assert done.returncode != 0
    assert DONE.encode() not in done.stdout
    assert f"backup {BASE}: {message}" in done.stderr.decode()
    assert os.listdir(root / A) == []


def test_an_existing_tarball_is_never_overwritten(tmp_path: Path) -> None:
    d = _site(tmp_path)
    root = tmp_path / "backups"
    (root / A).mkdir(parents=True)
    (root / A / f"{BASE}.tar.gz").write_bytes(b"older")
    done = _run(d, root)
    assert done.returncode != 0
    assert b"exists already" in done.stderr
    assert (root / A / f"{BASE}.tar.gz").read_bytes() == b"older"


@pytest.mark.parametrize(("db", "driver"), [("sqlite", "sqlite"), ("mariadb", "mysql")])
def test_backup_steps(db: str, driver: str) -> None:
    http = {"type": "nginx"}
    web1 = Server.model_validate(
        builders.server(paths={"backups": "~/bk"}, services={"http": http, "db": {"type": db}})
    )
    site = Site.model_validate(builders.site(A))
    declared = ManifestSet(
        "rev", {"web1": web1}, {"p1": Platform.model_validate(builders.platform())}, {A: site}
    )
    facts = {"web1": server_facts(web1, "aegir", "/home/aegir")}
    ctx = observed_site_context(declared, facts, "web1", "/srv/p1", "web", "p1", A, None, None)
    (step,) = backup_steps(ctx, BASE, "10.3.6")
    tarball = f"/home/aegir/bk/{A}/{BASE}.tar.gz"
    assert (step.on, step.lock, step.undo) == ("web", f"site-{A}.lock", None)
    assert step.check == f"[ -s {tarball} ]"
    assert f'"driver": "{driver}"' in step.script and "--result-file=/home/aegir/bk/" in step.script
    (other,) = backup_steps(ctx, BASE, None, driver="pgsql")
    assert '"driver": "pgsql"' in other.script

    def result(out: str) -> CommandResult:
        return CommandResult("web1", ("sh",), 0, out.encode(), b"")

    line = f"{LISTING_MARKER} 10 1700000000 {_b64(tarball.encode())} -"
    assert step.expect(result(f"{line}\n{DONE}\n")) is None
    assert "did not report" in (step.expect(result(DONE)) or "")
    assert "is empty" in (step.expect(result(line.replace(" 10 ", " 0 "))) or "")


# ---------------------------------------------------------------------------------- listing


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


MANIFEST = {"time": ISO, "platform": "p1", "coreVersion": "10.3.6"}
OURS = _b64(json.dumps(MANIFEST).encode())
M, MT = LISTING_MARKER, "1700000000"
P, X = _b64(f"/b/{A}/{BASE}.tar.gz".encode()), _b64(b"/b/x/manual.tar.gz")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (f"{M} 10 {MT} {P} {OURS}", (BASE, A, T, 10, "p1", "10.3.6")),
        (f"{M} 10 {MT} {P} -", (BASE, A, T, 10, None, None)),  # no manifest: time from the id
        (f"{M} 10 {MT} {P} {_b64(b'[1, 2]')}", (BASE, A, T, 10, None, None)),  # no object
        (f"{M} 10 {MT} {P} {_b64(b'{not json')}", (BASE, A, T, 10, None, None)),
        (f"{M} 7 {MT} {X} {OURS}", ("manual", "x", T, 7, "p1", "10.3.6")),  # the manifest's time
        (f"{M} 7 {MT} {X} -", ("manual", "x", datetime.fromtimestamp(int(MT), UTC), 7, None, None)),
    ],
)
def test_parse_listing(line: str, expected: tuple[object, ...]) -> None:
    (entry,) = parse_listing(f"noise\n{line}\n@@reconciler-step-done@@\n")
    got = (entry.id, entry.site, entry.time, entry.size, entry.platform, entry.core_version)
    assert got == expected


@pytest.mark.parametrize(
    "line",
    [
        "",
        f"{M} 10 {MT} {P}",
        f"{M} 10 {MT} {P} - extra",
        f"{M} x {MT} {P} -",
        f"{M} 10 17.5 {P} -",
        f"{M} 10 {MT} not-base64! -",
        f"{M} 10 {MT} {_b64(b'/b/x/file.tar')} -",
        f"other 10 {MT} {P} -",
    ],
)
def test_parse_listing_skips_what_is_no_listing_line(line: str) -> None:
    assert parse_listing(line) == []


def test_entries_sort_by_time_then_sequence() -> None:
    def entry(backup_id: str, when: datetime = T) -> BackupEntry:
        return BackupEntry(backup_id, A, when, 1, None, None, "/x", 0.0, None)

    earlier = f"{A}-20240102T030404Z"
    ids = [BASE + "-10", BASE, BASE + "-2", earlier]
    ordered = sorted((entry(i, parse_backup_id(i)[1]) for i in ids), key=BackupEntry.sort_key)
    assert [e.id for e in ordered] == [earlier, BASE, BASE + "-2", BASE + "-10"]
    keys = {"id": BASE, "site": A, "time": ISO, "size": 1, "platform": None, "coreVersion": None}
    assert entry(BASE).as_json() == {**keys, "path": "/x"}


def test_list_script_lists_every_tarball_of_a_site(tmp_path: Path) -> None:
    d = _site(tmp_path)
    root = tmp_path / "backups"
    assert _run(d, root).returncode == 0
    assert _run(d, root, backup_id=BASE + "-1").returncode == 0
    (root / "b.example.com").mkdir()
    (tmp_path / "x.txt").write_text("no manifest here")
    foreign = ["tar", "-czf", str(root / "b.example.com/manual.tar.gz"), "-C", str(tmp_path)]
    subprocess.run([*foreign, "x.txt"], check=True)
    (root / A / "notes.txt").write_text("not a tarball")

    def listing(backups_root: str, site: str | None) -> list[tuple[str, str, str | None]]:
        done = _sh(list_script(backups_root, site), tmp_path)
        assert done.returncode == 0, done.stderr
        return sorted((e.site, e.id, e.platform) for e in parse_listing(done.stdout.decode()))

    ours = [(A, BASE, "p1"), (A, BASE + "-1", "p1")]
    assert listing(str(root), A) == ours
    assert listing("~/backups", A) == ours
    assert listing(str(root), None) == [*ours, ("b.example.com", "manual", None)]
    assert listing(str(root), "c.example.com") == []
    assert listing(str(tmp_path / "nothing"), None) == []
    with pytest.raises(ValueError, match="not a site directory name"):
        list_script(str(root), "../etc")
