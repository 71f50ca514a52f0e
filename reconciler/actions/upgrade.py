"""The steps of a site's upgrade: a move to another platform (Aegir's migrate), on the same
server by renaming its directory, or to another server or database server by copying it.

Pure: rendered from two `SiteContext`s just before they run. `old` is where the site is now
(its steps run on the roles "src" and "srcdb"), `new` where git declares it (roles "web" and
"db"). `backup` is the safety backup's step list, built by the caller with its id in the step's
name, so that a resumed action finds the same tarball instead of taking a new one of a half-moved
site.

Same server, same database server (the common case): the site directory is renamed into the
new platform and the database stays where it is; `drush updatedb` changes it in place, so every
failure from there on puts it back from the backup tarball:

1. the backup; maintenance mode on at the old place (undo: off);
2. the database restore point: the tarball holds a `database.sql` (undo: the database put back
   from it, `database_restore_script`, by the old platform's drush once the directory is back:
   a new codebase whose drush does not even start cannot keep the site from its rollback);
3. the new platform's `sites.php` entries (undo: removed);
4. `sites/<name>` renamed into the new platform (undo: renamed back);
5. the vhost pointing at the new docroot (undo: the old place's vhost);
6. `drush updatedb -y`, `cache:rebuild`, maintenance mode off, the health check;
7. the old platform's `sites.php` entries removed; modes.

A step that fails runs the undos of the steps before it, newest first: the site ends on its old
platform, its database as the backup holds it, its vhost back, maintenance mode off. The
action's error is the failing command's own output (for updatedb: drush's error lines).

Kill points: every step is safe to run again in order after a SIGKILL of the controller. A
step's check decides whether it is done (the backup's tarball, maintenance mode on or the site
gone from its old place, the `sites.php` entries, the directory at its new place and not at its
old one); the others converge when repeated (vhost, updatedb with nothing pending, caches,
maintenance off, modes). Every step on the site holds its lock, so a resumed step waits for a
remote command of the killed run (a running updatedb, a restore) before it runs again.

To another server or database server: `reconciler.actions.upgrade_move`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Literal

from reconciler.actions.context import SiteContext
from reconciler.actions.script import Step, Transfer, lock_name, q
from reconciler.actions.site import seal_step, sites_php_step
from reconciler.actions.web import health_step, vhost_steps
from reconciler.drivers.backup import backup_paths, parse_backup_id
from reconciler.drivers.drush_output import MAINT_ON_EXIT, parse_log
from reconciler.drivers.restore import database_restore_script
from reconciler.drivers.sitesphp import remove_entries_script
from reconciler.errors import PermanentError
from reconciler.transport.base import CommandResult

__all__ = [
    "RESTORE_TIMEOUT",
    "UPDATE_TIMEOUT",
    "backup_tarball",
    "database_moves",
    "finish_upgrade_steps",
    "maintenance_on_step",
    "old_sites_php_step",
    "on_old",
    "post_update_steps",
    "restore_point_step",
    "served_state",
    "upgrade_steps",
    "vhost_switch_steps",
]

UPDATE_TIMEOUT = 6 * 3600.0
"""Seconds `drush updatedb` may take: the updates of a big site run for hours."""
RESTORE_TIMEOUT = 6 * 3600.0
"""Seconds putting a big site's database back from its backup may take."""

_OLD_ROLES = {"web": "src", "db": "srcdb"}


def on_old(steps: Sequence[Step]) -> list[Step]:
    """Steps built for the old place (roles "web"/"db") run on its servers ("src"/"srcdb")."""
    return [replace(step, on=_OLD_ROLES.get(step.on, step.on)) for step in steps]


def served_state(ctx: SiteContext) -> Literal["present", "disabled"]:
    """What the vhost serves at the end: the site, or the 503 of a disabled site."""
    disabled = ctx.site is not None and ctx.site.spec.state == "disabled"
    return "disabled" if disabled else "present"


def backup_tarball(old: SiteContext, backup: Sequence[Step]) -> str:
    """The tarball of the safety backup (`backup <id>` is its step's name) on the old server."""
    if not backup:
        raise ValueError(f"site {old.name}: an upgrade takes a safety backup first: none given")
    backup_id = backup[0].name.rsplit(" ", 1)[-1]
    site, _ = parse_backup_id(backup_id)
    if site != old.name:
        raise ValueError(f"backup {backup_id!r} is not one of site {old.name!r}")
    return backup_paths(old.web.backups, backup_id).tarball


def database_moves(old: SiteContext, new: SiteContext) -> bool:
    """Whether the site's database goes to another database server (a copy, not a rename)."""
    if new.sqlite:
        return False
    before = old.db.name if old.db is not None else None
    after = new.db.name if new.db is not None else None
    return before != after


def _site_lock(ctx: SiteContext) -> str:
    return lock_name("site", ctx.name)


# ---------------------------------------------------------------- pieces both paths share


def maintenance_on_step(old: SiteContext) -> Step:
    """Maintenance mode on at the old place (on "src"); undo: off again. Done when it is on, or
    when the site is gone from its old place (it was moved or retired after this step)."""
    drush = old.drush
    settings = q(old.settings_php)
    status = q(*drush.maint_status())
    return Step(
        name="maintenance mode on",
        script=q(*drush.maint_set(True)) + "\n",
        check=f"[ ! -f {settings} ] || {{ {status}; [ $? -eq {MAINT_ON_EXIT} ]; }}",
        on="src",
        lock=_site_lock(old),
        undo=f"if [ -f {settings} ]; then {q(*drush.maint_set(False))}; fi\n",
    )


def restore_point_step(ctx: SiteContext, tarball: str, *, on: str) -> Step:
    """Before updatedb changes a database that has no other copy: the backup must hold its
    dump (checked here, cheaply: it is the tarball's second member); the undo loads it back
    with `ctx`'s drush (the old place's, where the site directory is when the undo runs)."""
    return Step(
        name="database restore point",
        script=f"tar -tzf {q(tarball)} --occurrence=1 database.sql >/dev/null\n",
        on=on,
        lock=_site_lock(ctx),
        undo=database_restore_script(ctx.drush, tarball),
        timeout=RESTORE_TIMEOUT,
    )


def _explain_updatedb(platform: str) -> Callable[[CommandResult], str | None]:
    def explain(result: CommandResult) -> str | None:
        errors = [line.message for line in parse_log(result.err) if line.level == "error"]
        if errors:
            shown = "; ".join(dict.fromkeys(m.strip() for m in errors if m.strip()))
        else:
            tail = [line for line in result.err.splitlines() if line.strip()]
            shown = " ".join(tail[-5:]) if tail else "no output"
        return f"drush updatedb failed on platform {platform} (exit {result.exit_status}): {shown}"

    return explain


def post_update_steps(new: SiteContext, secrets: tuple[str, ...] = ()) -> list[Step]:
    """At the new place (on "web"): `drush updatedb -y`, `cache:rebuild`, maintenance mode off
    and the health check. updatedb fails with drush's own error lines (the failing update's
    message); a second run has nothing pending and succeeds again."""
    drush = new.drush
    lock = _site_lock(new)
    explain = _explain_updatedb(new.platform.name)
    state = served_state(new)
    return [
        Step(
            name="updatedb",
            script=q(*drush.updatedb()) + "\n",
            on="web",
            lock=lock,
            timeout=UPDATE_TIMEOUT,
            secrets=secrets,
            explain=explain,
        ),
        Step(
            name="cache:rebuild",
            script=q(*drush.cache_rebuild()) + "\n",
            on="web",
            lock=lock,
            secrets=secrets,
        ),
        Step(
            name="maintenance mode off",
            script=q(*drush.maint_set(False)) + "\n",
            on="web",
            lock=lock,
            secrets=secrets,
        ),
        replace(health_step(new, disabled=state == "disabled"), secrets=secrets),
    ]


def old_sites_php_step(old: SiteContext) -> Step:
    """The old platform's `sites.php` entries of the site removed (on "src"); idempotent."""
    return Step(
        name="sites.php entries removed (old platform)",
        script=remove_entries_script(old.platform.sites_php, old.name),
        on="src",
        lock=lock_name("platform", old.platform.codebase),
    )


# ---------------------------------------------------------------- same server: rename


def _move_script(source: str, target: str) -> str:
    """Rename the site directory `source` to `target` (another `sites/`), keeping its mode: the
    owner needs write permission on a directory to give it another parent (its `..` changes)."""
    s, t = q(source), q(target)
    return "\n".join(
        [
            f"if [ -e {t} ]; then echo {q(f'{target} is in the way: not moving {source}')} >&2;"
            " exit 1; fi",
            f"if [ ! -d {s} ]; then echo {q(f'no site directory {source}')} >&2; exit 1; fi",
            f"mode=$(stat -c %a {s})",
            f"chmod u+w {s}",
            f"mv -T -- {s} {t}",
            f'chmod "$mode" {t}',
            "",
        ]
    )


def _move_step(old: SiteContext, new: SiteContext) -> Step:
    """`sites/<name>` renamed from the old platform into the new one (one `rename()`: the site
    is never in both, nor half in either); done when it is at its new place and not at its old
    one. Undo: renamed back, when it is (still) at its new place."""
    o, n = q(old.site_dir), q(new.site_dir)
    undo = f"if [ -d {n} ] && [ ! -e {o} ]; then\n{_move_script(new.site_dir, old.site_dir)}fi\n"
    return Step(
        name="site directory moved",
        script=_move_script(old.site_dir, new.site_dir),
        check=f"[ -d {n} ] && [ ! -e {o} ]",
        on="web",
        lock=_site_lock(new),
        undo=undo,
        timeout=RESTORE_TIMEOUT,
    )


def vhost_switch_steps(new: SiteContext, old: SiteContext) -> list[Step]:
    """The vhost (or built-in server) serving the site from the new docroot; undo: the one of
    the old place written again (same server: the same file)."""
    state = served_state(new)
    steps = vhost_steps(new, state)
    before = vhost_steps(old, state)
    if len(before) != len(steps):  # pragma: no cover - one server, one web server type
        raise ValueError("the old and new vhost steps differ in number")
    return [replace(step, undo=prev.script) for step, prev in zip(steps, before, strict=True)]


def _rename_steps(
    old: SiteContext, new: SiteContext, backup: Sequence[Step], tarball: str
) -> list[Step | Transfer]:
    sites_php = replace(sites_php_step(new), name="sites.php entries (new platform)")
    return [
        *on_old(backup),
        maintenance_on_step(old),
        restore_point_step(old, tarball, on="src"),
        sites_php,
        _move_step(old, new),
        *vhost_switch_steps(new, old),
        *post_update_steps(new),
        old_sites_php_step(old),
        seal_step(new),
    ]


# ---------------------------------------------------------------- entry points


def _same_place(old: SiteContext, new: SiteContext) -> bool:
    return old.web.name == new.web.name and old.site_dir == new.site_dir


def _check(old: SiteContext, new: SiteContext) -> None:
    if old.name != new.name:
        raise ValueError(f"an upgrade keeps the site's name: {old.name!r} != {new.name!r}")
    if old.sqlite != new.sqlite:
        raise PermanentError(
            f"Site {new.name}: its database cannot move from "
            f"{'SQLite' if old.sqlite else 'MariaDB/MySQL'} to "
            f"{'SQLite' if new.sqlite else 'MariaDB/MySQL'}: a database is not converted "
            "from one engine to another",
            hint="declare a database server of the same type for the site (`db.server`)",
        )
    if _same_place(old, new) and not database_moves(old, new):
        raise PermanentError(
            f"Site {new.name}: nothing to move: it is on platform {new.platform.name} with "
            "its database on its declared server already"
        )


def upgrade_steps(
    old: SiteContext, new: SiteContext, *, backup: Sequence[Step], core_version: str | None
) -> list[Step | Transfer]:
    """Every step of the upgrade of the site at `old` to `new`, in order; a run resumed after a
    crash runs them all again and their checks skip what is done. `core_version` is the old
    platform's (the caller recorded it in the backup's manifest already)."""
    _check(old, new)
    tarball = backup_tarball(old, backup)
    if old.web.name == new.web.name and not database_moves(old, new):
        return _rename_steps(old, new, backup, tarball)
    from reconciler.actions.upgrade_move import move_steps

    return move_steps(old, new, backup=backup, tarball=tarball)


def finish_upgrade_steps(
    old: SiteContext, new: SiteContext, *, backup: Sequence[Step], core_version: str | None
) -> list[Step | Transfer]:
    """The steps of an upgrade resumed after the site left its old place (`old` is that place,
    no longer holding it): a rename is finished by its own steps again; a copy to another server
    or database server had passed its point of no return (the site healthy at its new place, the
    old copy retired): only its clean-up is left, and nothing is undone any more."""
    _check(old, new)
    tarball = backup_tarball(old, backup)
    if old.web.name == new.web.name and not database_moves(old, new):
        return _rename_steps(old, new, backup, tarball)
    from reconciler.actions.upgrade_move import cleanup_steps, group_step

    return [*on_old(backup), *cleanup_steps(old, new), group_step(new)]
