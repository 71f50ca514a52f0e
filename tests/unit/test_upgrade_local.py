"""Upgrades run for real through the local transport, on two platform trees in a temporary
directory with a fake drush (its "database" the file private/db.sqlite in the site directory, its
updatedb failing when the platform holds a FAIL file): the rename on one server and the copy to
another server (SQLite, so that the database travels in the directory), each succeeding,
failing in updatedb, and killed after every step and run again as apply resumes it (the rest of
the steps after the point of no return, all of them before)."""

from __future__ import annotations

import asyncio
import grp
import os
import stat
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from reconciler.actions.backup import backup_steps
from reconciler.actions.context import SiteContext, platform_context, server_facts, site_context
from reconciler.actions.script import Step, Transfer
from reconciler.actions.site import seal_step
from reconciler.actions.upgrade import finish_upgrade_steps, upgrade_steps
from reconciler.apply.runner import ActionOutcome, run_steps
from reconciler.transport.local import LocalTransport
from unit import builders as b

SITE = "www.example.com"
BACKUP_ID = f"{SITE}-20260102T030405Z"
FAKE_DRUSH = r"""#!/bin/sh
root=$(cd "$(dirname "$0")/../../web" && pwd)
cmd=$1
site=
for a; do
    last=$a
    case $a in --uri=http://*) site=${a#--uri=http://} ;; --result-file=*) out=${a#*=} ;; esac
done
dir=$root/sites/$site
if [ ! -f "$dir/settings.php" ]; then
    if [ "$cmd" = core:status ]; then echo '{"bootstrap": ""}'; exit 0; fi
    echo "fake drush: no site $site in $root" >&2; exit 1
fi
db=$dir/private/db.sqlite
case $cmd in
core:status) echo '{"bootstrap": "Successful"}' ;;
maint:set) echo "$last" > "$dir/private/maint" ;;
maint:status) if [ "$(cat "$dir/private/maint" 2>/dev/null)" = 1 ]; then exit 3; fi ;;
updatedb)
    if [ -e "$root/FAIL" ]; then
        echo half-updated >> "$db"
        printf '>  [error]  RuntimeException: it fails on purpose in x_update_2() \n' >&2
        printf '>  [error]  Update failed: x_update_2 \n' >&2
        printf ' [error]  Update aborted by: x_update_2 \n' >&2
        exit 1
    fi
    grep -qx updated "$db" || echo updated >> "$db" ;;
cache:rebuild) ;;
sql:dump) cp "$db" "$out" ;;
sql:drop) : > "$db" ;;
sql:cli) cat > "$db" ;;
*) echo "fake drush: $cmd" >&2; exit 1 ;;
esac
"""


@dataclass
class Rig:
    old: SiteContext
    new: SiteContext
    root: Path

    @property
    def old_dir(self) -> Path:
        return Path(self.old.site_dir)

    @property
    def new_dir(self) -> Path:
        return Path(self.new.site_dir)

    def steps(self, *, resumed: bool = False) -> list[Step | Transfer]:
        """As apply renders them: a resumed upgrade whose site left its old place gets
        `finish_upgrade_steps`. Locks dropped: they would live in this user's home."""
        backup = [
            replace(s, name=f"backup {BACKUP_ID}")
            for s in backup_steps(self.old, BACKUP_ID, "10.2.8")
        ]
        gone = resumed and not (self.old_dir / "settings.php").exists()
        build = finish_upgrade_steps if gone else upgrade_steps
        steps = build(self.old, self.new, backup=backup, core_version="10.2.8")
        return [
            replace(s, lock=None, source_lock=None)
            if isinstance(s, Transfer)
            else replace(s, lock=None)
            for s in steps
        ]

    def run(self, steps: list[Step | Transfer]) -> ActionOutcome:
        local = LocalTransport("local", cwd=self.root)
        roles = {role: local for role in ("web", "db", "src", "srcdb")}
        return asyncio.run(run_steps(steps, roles))

    def entries(self, ctx: SiteContext) -> bool:
        sites_php = Path(ctx.platform.sites_php)
        return sites_php.exists() and f"$sites['{SITE}'] = '{SITE}';" in sites_php.read_text()


def _make(tmp_path: Path, *, move: bool) -> Rig:
    group = grp.getgrgid(os.getgid()).gr_name
    http = {"type": "none", "group": group}
    db = {"type": "sqlite"} if move else {"type": "mariadb"}
    backups = {"backups": str(tmp_path / "backups")}
    docs = [
        b.server("web1", paths=backups, services={"http": http, "db": db}),
        b.platform("p1", "web1", path=str(tmp_path / "a/p1")),
        b.platform("p2", "web2" if move else "web1", path=str(tmp_path / "b/p2")),
        b.site(SITE, "p2"),
    ]
    if move:
        docs.append(b.server("web2", paths=backups, services={"http": http, "db": db}))
    manifests = b.check(docs).require()
    facts = {n: server_facts(s, "me", str(tmp_path)) for n, s in manifests.servers.items()}
    site = manifests.sites[SITE]
    contexts = []
    for name in ("p1", "p2"):
        platform = manifests.platforms[name]
        where = platform_context(manifests, platform, facts[platform.spec.server])
        contexts.append(site_context(manifests, site, where, facts))
        drush = Path(contexts[-1].drush.executable)
        drush.parent.mkdir(parents=True)
        drush.write_text(FAKE_DRUSH)
        drush.chmod(0o755)
        Path(contexts[-1].platform.sites_dir).mkdir(parents=True)
    old, new = contexts
    site_dir = Path(old.site_dir)
    for sub in ("files", "private/config/sync", "private/tmp"):
        (site_dir / sub).mkdir(parents=True)
    (site_dir / "settings.php").write_text("<?php // settings\n")
    (site_dir / "files/a.txt").write_text("a file\n")
    (site_dir / "private/db.sqlite").write_text("rows\n")
    Path(old.platform.sites_php).write_text(f"<?php\n$sites['{SITE}'] = '{SITE}';\n")
    rig = Rig(old, new, tmp_path)
    assert rig.run([replace(seal_step(old), lock=None)]).ok  # 0550, settings.php 0440
    own = site_dir / "files/own"
    rig.run(
        [
            Step(
                name="mkdir",
                script=f"chmod u+w {site_dir}\nmkdir -m 0750 {own}\nchmod u-w {site_dir}\n",
            )
        ]
    )
    assert stat.S_IMODE(own.stat().st_mode) == 0o2750  # not the contract's 2770: a copy keeps it
    return rig


def _upgraded(rig: Rig, *, move: bool) -> None:
    assert not rig.old_dir.exists()
    if move:
        assert stat.S_IMODE((rig.new_dir / "files/own").stat().st_mode) == 0o2750
    assert (rig.new_dir / "files/a.txt").read_text() == "a file\n"
    assert (rig.new_dir / "private/db.sqlite").read_text() == "rows\nupdated\n"
    assert (rig.new_dir / "private/maint").read_text() == "0\n"
    assert stat.S_IMODE(rig.new_dir.stat().st_mode) == 0o550
    assert rig.entries(rig.new) and not rig.entries(rig.old)
    assert not list(Path(rig.new.platform.sites_dir).glob(".*"))


def _put_back(rig: Rig) -> None:
    assert not rig.new_dir.exists()
    assert (rig.old_dir / "files/a.txt").read_text() == "a file\n"
    assert (rig.old_dir / "private/db.sqlite").read_text() == "rows\n"
    assert (rig.old_dir / "private/maint").read_text() == "0\n"
    assert stat.S_IMODE(rig.old_dir.stat().st_mode) == 0o550
    assert rig.entries(rig.old) and not rig.entries(rig.new)
    assert not list(Path(rig.new.platform.sites_dir).glob(".*"))


@pytest.mark.parametrize("move", [False, True], ids=["rename", "copy"])
def test_an_upgrade_moves_the_site_and_updates_its_database(tmp_path: Path, move: bool) -> None:
    rig = _make(tmp_path, move=move)
    outcome = rig.run(rig.steps())
    assert outcome.ok, outcome.error
    _upgraded(rig, move=move)
    again = rig.run(rig.steps(resumed=True))
    assert again.ok, again.error
    _upgraded(rig, move=move)


@pytest.mark.parametrize("move", [False, True], ids=["rename", "copy"])
def test_a_failing_update_leaves_the_site_where_it_was(tmp_path: Path, move: bool) -> None:
    rig = _make(tmp_path, move=move)
    (Path(rig.new.platform.root) / "FAIL").touch()
    outcome = rig.run(rig.steps())
    assert not outcome.ok and outcome.undone
    assert outcome.error is not None
    assert outcome.error.startswith("drush updatedb failed on platform p2 (exit 1): ")
    assert "it fails on purpose in x_update_2()" in outcome.error
    assert "Update aborted by: x_update_2" in outcome.error
    _put_back(rig)


@pytest.mark.parametrize("move", [False, True], ids=["rename", "copy"])
def test_a_new_platform_whose_drush_does_not_start_is_rolled_back(
    tmp_path: Path, move: bool
) -> None:
    rig = _make(tmp_path, move=move)
    Path(rig.new.drush.executable).write_text("#!/bin/sh\necho 'PHP 8.3 is needed' >&2\nexit 255\n")
    outcome = rig.run(rig.steps())
    assert not outcome.ok and outcome.undone, outcome.error
    assert outcome.error is not None and "PHP 8.3 is needed" in outcome.error
    _put_back(rig)


def _count(move: bool) -> int:
    return 13 if move else 11


@pytest.mark.parametrize("fail", [False, True], ids=["newer", "failing"])
@pytest.mark.parametrize(
    ("move", "killed_after"),
    [(m, k) for m in (False, True) for k in range(_count(m))],
)
def test_killed_after_any_step_then_run_again(
    tmp_path: Path, move: bool, killed_after: int, fail: bool
) -> None:
    rig = _make(tmp_path, move=move)
    if fail:
        (Path(rig.new.platform.root) / "FAIL").touch()
    steps = rig.steps()
    assert len(steps) == _count(move)
    rig.run(steps[:killed_after])  # the killed run (a failure in it undoes what it did)
    outcome = rig.run(rig.steps(resumed=True))
    if fail:
        assert not outcome.ok
        _put_back(rig)
    else:
        assert outcome.ok, (killed_after, outcome.error)
        _upgraded(rig, move=move)
