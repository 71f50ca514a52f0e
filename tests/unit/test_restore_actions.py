"""The restore and prune steps: their order, servers and locks as tables, and their scripts run
for real through the local transport on a site tree in a temporary directory, with a fake
drush (sql:drop / sql:cli into a file) and a fake `mv` that fails at a chosen call, to show
that a swap failing at any point, an undo, a crashed restore run again and a failed database
load all leave the site as it was.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest

from reconciler.actions.context import SiteContext, platform_context, server_facts, site_context
from reconciler.actions.restore import (
    FETCH_STEP,
    ROLLBACK_FAILED,
    fetch_transfer,
    prune_step,
    restore_steps,
    work_dir,
)
from reconciler.actions.script import Step, render_step
from reconciler.apply.runner import run_steps
from reconciler.cli import restore_cmd
from reconciler.drivers.backup import BackupEntry
from reconciler.transport.local import LocalTransport
from unit import builders as b

SITE = "www.example.com"
OLD = {"files/a.txt": b"old a\n", "files/sub/keep.txt": b"old keep\n", "private/p.txt": b"old p\n"}
NEW = {"files/b.txt": b"new b\n", "files/sub/keep.txt": b"new keep\n", "private/q.txt": b"new q\n"}


def _ctx(root: Path) -> SiteContext:
    manifests = b.check(
        [
            b.server("web1", paths={"backups": str(root / "backups")}),
            b.platform("p1", "web1", path=str(root / "platform")),
            b.site(SITE, "p1"),
        ]
    ).require()
    facts = {n: server_facts(s, "aegir", str(root)) for n, s in manifests.servers.items()}
    site = manifests.sites[SITE]
    where = platform_context(manifests, manifests.platform_of(site), facts["web1"])
    return site_context(manifests, site, where, facts)


def _tarball(path: Path, database: bytes, tree: dict[str, bytes]) -> Path:
    """A tarball laid out as the backup script writes one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:

        def add(name: str, data: bytes | None) -> None:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o2770
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o660
                tar.addfile(info, io.BytesIO(data))

        add("manifest.json", json.dumps({"site": SITE}).encode())
        add("database.sql", database)
        for directory in ("site", "site/files", "site/files/sub", "site/private"):
            add(directory, None)
        add("site/settings.php", b"<?php // the backup's own settings\n")
        for name, data in tree.items():
            add(f"site/{name}", data)
    return path


@pytest.fixture
def rig(tmp_path: Path) -> SiteContext:
    """A site directory with OLD files, a fake drush whose database is a file, two tarballs."""
    ctx = _ctx(tmp_path)
    site = Path(ctx.site_dir)
    for name, data in OLD.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_bytes(data)
    (site / "settings.php").write_text("<?php // the live settings\n")
    (tmp_path / "db").write_text("live rows\n")
    drush = Path(ctx.drush.executable)
    drush.parent.mkdir(parents=True)
    drush.write_text(
        f"""#!/bin/sh
db={tmp_path / "db"}
case "$1" in
sql:drop) : > "$db" ;;
sql:cli) cat > "$db.in"
    if grep -q BREAK "$db.in"; then head -n 1 "$db.in" > "$db"; echo "ERROR 1064" >&2; exit 1; fi
    mv "$db.in" "$db" ;;
*) echo "fake drush: $1" >&2; exit 1 ;;
esac
"""
    )
    drush.chmod(0o755)
    backups = tmp_path / "backups" / SITE
    _tarball(backups / f"{SITE}-20240501T100000Z.tar.gz", b"restored rows\n", NEW)
    _tarball(backups / f"{SITE}-20240601T100000Z.tar.gz", b"safety rows\n", OLD)
    return ctx


def _steps(ctx: SiteContext, tarball: str = "20240501T100000Z") -> dict[str, Step]:
    backups = Path(ctx.web.backups) / SITE
    steps = restore_steps(
        ctx,
        tarball=str(backups / f"{SITE}-{tarball}.tar.gz"),
        safety_tarball=str(backups / f"{SITE}-20240601T100000Z.tar.gz"),
        database_sha256=None,
    )
    return {s.name: replace(s, lock=None) for s in steps}


def _run(*steps: Step) -> bool:
    outcome = asyncio.run(run_steps(list(steps), {"web": LocalTransport("local")}))
    return outcome.ok


def _undo(step: Step) -> None:
    assert _run(replace(step, script=step.undo or "", undo=None, check=None))


def _tree(ctx: SiteContext) -> dict[str, bytes]:
    site = Path(ctx.site_dir)
    return {
        str(p.relative_to(site)): p.read_bytes()
        for p in sorted(site.rglob("*"))
        if p.is_file() and p.name != "settings.php"
    }


def test_order_servers_locks_and_valid_sh(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    steps = restore_steps(
        ctx,
        tarball=f"/b/{SITE}/{SITE}-20240501T100000Z.tar.gz",
        safety_tarball=f"/b/{SITE}/{SITE}-20240601T100000Z.tar.gz",
        database_sha256="ab" * 32,
        safety=[Step(name="safety backup", script="true\n")],
    )
    names = [s.name for s in steps]
    assert names == [
        "unpack",
        "safety backup",
        "files swapped in",
        "database",
        "modes",
        "cache:rebuild",
        "health",
        "old files removed",
    ]
    steps = [s for s in steps if s.name != "safety backup"]
    assert {s.on for s in steps} == {"web"}
    assert {s.lock for s in steps if s.name != "health"} == {f"site-{SITE}.lock"}
    undo = {s.name for s in steps if s.undo is not None}
    assert undo == {"unpack", "files swapped in", "database"}
    database = steps[2]
    assert database.undo is not None and "20240601T100000Z" in database.undo
    assert "ab" * 32 in steps[0].script
    assert work_dir(ctx) == f"{ctx.platform.sites_dir}/.{SITE}.restore"
    fetch = fetch_transfer(ctx, f"/elsewhere/{SITE}/{SITE}-20240501T100000Z.tar.gz")
    assert (fetch.name, fetch.source_on, fetch.on) == (FETCH_STEP, "src", "web")
    assert fetch.check is not None and ctx.web.backups in fetch.check
    for step in [*steps, fetch.as_step(fetch.script)]:
        for as_undo in (False, True):
            if as_undo and step.undo is None:
                continue
            text = render_step(step, undo=as_undo)
            done = subprocess.run(["sh", "-n"], input=text, capture_output=True, text=True)
            assert done.returncode == 0, (step.name, done.stderr)
    assert "settings.php" not in steps[0].script.replace("no settings.php", "")


def test_other_sites_tarballs_and_bad_checksums_are_refused(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path)
    good = f"/b/{SITE}/{SITE}-20240601T100000Z.tar.gz"
    cases = [
        ("/b/x/other.example.com-20240501T100000Z.tar.gz", "not one of site"),
        ("relative.tar.gz", "not a backup tarball path"),
    ]
    for tarball, why in cases:
        with pytest.raises(ValueError, match=why):
            restore_steps(ctx, tarball=tarball, safety_tarball=good, database_sha256=None)
    with pytest.raises(ValueError, match="sha256"):
        restore_steps(ctx, tarball=good, safety_tarball=good, database_sha256="'; rm -rf /")
    with pytest.raises(ValueError, match="not in a backups directory"):
        prune_step(SITE, ["/b/other/www.example.com-20240501T100000Z.tar.gz"])
    step = prune_step(SITE, [good, f"/c/{SITE}/{SITE}-20240501T100000Z.tar.gz"])
    assert step.lock == f"site-{SITE}.lock" and step.script.count("rm -f --") == 2


def test_restore_then_undo_gives_the_site_back(rig: SiteContext) -> None:
    steps = _steps(rig)
    settings = Path(rig.settings_php).read_bytes()
    assert _run(steps["unpack"], steps["files swapped in"], steps["database"])
    assert _tree(rig) == NEW
    assert (Path(rig.web.home) / "db").read_text() == "restored rows\n"
    assert Path(rig.settings_php).read_bytes() == settings
    work = Path(work_dir(rig))
    assert stat.S_IMODE(work.stat().st_mode) == 0o700
    _undo(steps["database"])
    _undo(steps["files swapped in"])
    _undo(steps["unpack"])
    assert _tree(rig) == OLD
    assert (Path(rig.web.home) / "db").read_text() == "safety rows\n"
    assert not work.exists()
    assert stat.S_IMODE(Path(rig.site_dir).stat().st_mode) == 0o550


def test_restore_and_cleanup(rig: SiteContext) -> None:
    steps = _steps(rig)
    assert _run(steps["unpack"], steps["files swapped in"])
    assert _run(steps["files swapped in"])  # its check: done already, skipped
    assert _run(steps["old files removed"])
    assert _tree(rig) == NEW
    assert not Path(work_dir(rig)).exists()


@pytest.mark.parametrize("failing_call", [1, 2, 3, 4])
def test_a_swap_failing_at_any_rename_puts_the_old_files_back(
    rig: SiteContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing_call: int
) -> None:
    steps = _steps(rig)
    assert _run(steps["unpack"])
    shim = tmp_path / "shim"
    shim.mkdir()
    count = tmp_path / "mv-calls"
    (shim / "mv").write_text(
        f'#!/bin/sh\necho x >> {count}\n[ "$(wc -l < {count})" -ne {failing_call} ] || exit 1\n'
        'exec /bin/mv "$@"\n'
    )
    (shim / "mv").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    assert not _run(steps["files swapped in"])
    assert _tree(rig) == OLD
    monkeypatch.undo()
    _undo(steps["unpack"])
    assert not Path(work_dir(rig)).exists()


def test_a_crashed_restore_run_again_starts_from_the_sites_own_files(rig: SiteContext) -> None:
    steps = _steps(rig)
    assert _run(steps["unpack"], steps["files swapped in"])  # then the controller died
    assert _tree(rig) == NEW
    assert _run(steps["unpack"])  # the restore run again: the old files put back first
    assert _tree(rig) == OLD
    assert _run(steps["files swapped in"], steps["old files removed"])
    assert _tree(rig) == NEW
    # a crash after the commit mark: a new restore never swaps the old files back
    assert _run(steps["unpack"], steps["files swapped in"])
    (Path(work_dir(rig)) / "committed").touch()
    assert _run(steps["unpack"])
    assert _tree(rig) == NEW


def test_a_failed_database_load_loads_the_safety_backup(rig: SiteContext) -> None:
    broken = Path(rig.web.backups) / SITE / f"{SITE}-20240502T100000Z.tar.gz"
    _tarball(broken, b"first row\nBREAK\n", NEW)
    steps = _steps(rig, "20240502T100000Z")
    outcome = asyncio.run(
        run_steps(
            [steps["unpack"], steps["files swapped in"], steps["database"]],
            {"web": LocalTransport("local")},
        )
    )
    assert not outcome.ok and outcome.undone
    assert (Path(rig.web.home) / "db").read_text() == "safety rows\n"
    assert _tree(rig) == OLD
    assert not Path(work_dir(rig)).exists()
    assert "ERROR 1064" in outcome.steps[-1].output
    assert "loading the safety backup" in outcome.steps[-1].output


def test_restore_asks_on_a_tty_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """`restore` asks on a TTY unless --yes, and proceeds off a TTY (CI: nobody could answer)."""
    when = datetime(2024, 5, 1, 10, tzinfo=UTC)
    entry = BackupEntry(
        id=f"{SITE}-20240501T100000Z",
        site=SITE,
        time=when,
        size=1,
        platform=None,
        core_version=None,
        path=f"/b/{SITE}/{SITE}-20240501T100000Z.tar.gz",
        mtime=0.0,
        manifest=None,
    )
    found = restore_cmd.Found(entry, "web2")
    asked: list[str] = []

    def answer(text: str, default: bool) -> bool:
        asked.append(text)
        return False

    monkeypatch.setattr(click, "confirm", answer)
    for tty in (False, True):
        monkeypatch.setattr(sys.stdin, "isatty", lambda tty=tty: tty)
        monkeypatch.setattr(sys.stdout, "isatty", lambda tty=tty: tty)
        assert restore_cmd._confirm(SITE, "web1", found, yes=True) is True
        assert restore_cmd._confirm(SITE, "web1", found, yes=False) is (not tty)
    assert len(asked) == 1
    assert f"Restore {SITE} on web1 from {entry.id} (taken 2024-05-01T10:00:00Z" in asked[0]
    assert "held on web2" in asked[0] and "safety backup" in asked[0]


def test_a_swap_whose_own_rollback_fails_says_so(
    rig: SiteContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = _steps(rig)
    assert _run(steps["unpack"])
    shim = tmp_path / "shim"
    shim.mkdir()
    count = tmp_path / "mv-calls"
    (shim / "mv").write_text(  # every rename from the third on fails: the swap and its rollback
        f'#!/bin/sh\necho x >> {count}\n[ "$(wc -l < {count})" -lt 3 ] || exit 1\n'
        'exec /bin/mv "$@"\n'
    )
    (shim / "mv").chmod(0o755)
    monkeypatch.setenv("PATH", f"{shim}{os.pathsep}{os.environ['PATH']}")
    outcome = asyncio.run(run_steps([steps["files swapped in"]], {"web": LocalTransport("local")}))
    assert not outcome.ok
    assert ROLLBACK_FAILED in outcome.steps[0].output
    assert "the site's own files are in" in outcome.steps[0].output
