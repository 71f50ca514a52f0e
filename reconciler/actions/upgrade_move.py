"""An upgrade that copies the site: to a platform on another server, or with its database going
to another database server. Pure: steps rendered from two `SiteContext`s.

The old copy is never changed except for maintenance mode until the new one has passed the
health check; a failure before that removes the new copy (directory, database and user, vhost,
`sites.php` entries) and switches maintenance mode off at the old place, which serves again.

1. the backup; maintenance mode on at the old place;
2. the site directory streamed through the controller (`tar` on "src", unpacked on "web" beside
   its final place and renamed into it: it appears whole or not at all); none for a database-only
   move (same platform on the same server);
3. a database that moves: the two database servers checked to be two MariaDB instances (the copy
   recreates the database by name on the new one), a new database and user with new credentials
   (`credential_steps`), the database streamed from the old server to the new one with their
   admin accounts (`mysqldump` → `mysql`: it does not depend on which settings.php is where, so
   it can run again at any point before the switch), then settings.php written with the new
   credentials. A database that stays on its server while the site changes web server gets a
   user for the new web server's grant hosts instead (none when the old ones cover it), and a
   restore point: updatedb changes the only copy;
4. the web server's group on the copy (its modes kept), the new platform's `sites.php`
   entries, the vhost;
5. `drush updatedb -y`, `cache:rebuild`, maintenance mode off, the health check;
6. the point of no return: from here a failure undoes nothing (the old copy is being removed;
   the site is healthy at its new place), and the action's error says which clean-up failed.
   A run killed between maintenance mode off and the old copy's retirement is resumed from the
   start (the old copy is intact): the database is copied again, and what was written to the
   new one in those seconds is lost;
7. the old copy retired (its settings.php removed first: from then on observe no longer sees a
   site there, which is how a resumed action knows it is past step 6 and runs `cleanup_steps`
   only), its vhost, its `sites.php` entries, its directory, and its database and user (or the
   database users of the old web server's grant hosts).

A SQLite site's database is a file in its directory: it moves with it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import replace

from reconciler.actions.context import SiteContext
from reconciler.actions.script import Step, Transfer, lock_name, q
from reconciler.actions.site import credential_steps, sites_php_step
from reconciler.actions.upgrade import (
    RESTORE_TIMEOUT,
    database_moves,
    maintenance_on_step,
    old_sites_php_step,
    on_old,
    post_update_steps,
    restore_point_step,
    served_state,
    vhost_switch_steps,
)
from reconciler.actions.web import remove_vhost_steps, vhost_steps
from reconciler.drivers import database as sql
from reconciler.drivers.mysql import admin_argv
from reconciler.drivers.sitefiles import SITE_DIR_MODE
from reconciler.errors import PermanentError

__all__ = ["GONE", "NO_RETURN", "cleanup_steps", "group_step", "move_steps"]

GONE = "@@reconciler-old-database-gone@@"
"""What the database copy's source sends instead of a dump when the old database is gone (it
was dropped after the switch): the destination then keeps the copy it has."""
NO_RETURN = "point of no return"
"""The name of the step after which a failure undoes nothing."""

_REFUSE = (
    "echo 'not undone: the site had passed its health check at its new place, and its old "
    "copy is being removed' >&2\nexit 1\n"
)
_IDENTITY_SQL = "SELECT CONCAT_WS(':', @@hostname, @@port, @@datadir)"


def _site_lock(ctx: SiteContext) -> str:
    return lock_name("site", ctx.name)


def _defaults(ctx: SiteContext) -> str:
    """The admin options file of `ctx`'s database server, as one shell word (`~/` resolved by
    the server's shell)."""
    service = ctx.db_service
    if service is None or ctx.db is None:
        raise PermanentError(f"site {ctx.name}: its database server has no `services.db`")
    path = service.admin_defaults_file
    return '"$HOME"/' + q(path[2:]) if path.startswith("~/") else q(path)


def _mysql(ctx: SiteContext, *args: str) -> str:
    return f"mysql --defaults-file={_defaults(ctx)} --batch --skip-column-names " + q(*args)


def _admin_script(ctx: SiteContext, payload: bytes) -> str:
    """Administrative SQL run on `ctx`'s database server, the SQL in a here-document."""
    service = ctx.db_service
    if service is None:  # pragma: no cover - checked by `_defaults` first
        raise PermanentError(f"site {ctx.name}: its database server has no `services.db`")
    end = "RECONCILER_SQL_EOF"
    return f"{q(*admin_argv(service.admin_defaults_file))} <<'{end}'\n{payload.decode()}{end}\n"


def _writable(path: str) -> str:
    d = q(path)
    return f'if [ -d {d} ]; then find {d} -user "$(id -u)" -exec chmod u+w {{}} + ; fi'


def _in_the_way(path: str, what: str) -> str:
    return f"if [ -e {q(path)} ]; then echo {q(f'{path} is in the way: {what}')} >&2; exit 1; fi"


# ---------------------------------------------------------------- the copy


def _copy_directory(old: SiteContext, new: SiteContext) -> Transfer:
    """`tar` of the old site directory on "src", unpacked on "web" into a hidden directory in
    the new `sites/` (never a site directory of its own, nor served: nginx refuses dot paths) and
    renamed into place. Done when the new site directory holds a settings.php."""
    tmp = posixpath.join(new.platform.sites_dir, f".{new.name}.reconciler-tmp")
    part = posixpath.join(tmp, "site")
    n, t, p = q(new.site_dir), q(tmp), q(part)
    script = "\n".join(
        [
            _in_the_way(new.site_dir, f"not copying {old.name} there"),
            _writable(tmp),
            f"rm -rf -- {t}",
            f"mkdir -p -- {p}",
            f"tar -xpf - -C {p}",
            f"chmod u+w -- {p}",
            f"mv -T -- {p} {n}",
            f"rmdir -- {t}",
            "",
        ]
    )
    undo = "\n".join([_writable(new.site_dir), _writable(tmp), f"rm -rf -- {n} {t}", ""])
    return Transfer(
        name="site directory copied",
        source_on="src",
        source_script=f"cd {q(old.site_dir)}\ntar -cf - .\n",
        script=script,
        on="web",
        check=f"[ -f {q(new.settings_php)} ]",
        lock=_site_lock(new),
        undo=undo,
    )


def _distinct_servers(old: SiteContext, new: SiteContext) -> Transfer:
    """The database copy recreates the site's database by name on the new server: that must not
    be the MariaDB instance the old one is on (two declared servers naming one instance)."""
    assert old.db is not None
    assert new.db is not None
    message = (
        f"the database servers {old.db.name} and {new.db.name} are one MariaDB instance "
        "(hostname:port:datadir): the site's database would be copied onto itself; pin "
        f"`db.server: {old.db.name}` on the site to keep its database where it is"
    )
    return Transfer(
        name="database servers distinct",
        source_on="srcdb",
        source_script=_mysql(old, "-e", _IDENTITY_SQL) + "\n",
        script="\n".join(
            [
                "theirs=$(cat)",
                "mine=$(" + _mysql(new, "-e", _IDENTITY_SQL) + ")",
                'if [ -z "$mine" ] || [ "$mine" = "$theirs" ]; then',
                f'  printf "%s: %s\\n" {q(message)} "$mine" >&2; exit 1',
                "fi",
                "",
            ]
        ),
        on="db",
        timeout=300.0,
    )


def _copy_database(old: SiteContext, new: SiteContext, secrets: tuple[str, ...]) -> Transfer:
    """The old database dumped on "srcdb" and loaded into the new one, emptied first, on "db",
    both with the servers' admin accounts. Once the old database is gone (dropped after the
    switch) the source says `GONE` and the destination keeps what it has."""
    ident, text = sql.quote_identifier(new.db_name), sql.quote_string(new.db_name)
    # the values are quoted by `quote_string`, the names checked by `quote_identifier`
    schemata = "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = "
    exists = schemata + sql.quote_string(old.db_name)
    in_schema = "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = "
    tables = in_schema + text
    recreate = (
        f"DROP DATABASE IF EXISTS {ident}; "
        f"CREATE DATABASE {ident} CHARACTER SET {sql.CHARSET} COLLATE {sql.COLLATION}"
    )
    source = "\n".join(
        [
            "n=$(" + _mysql(old, "-e", exists) + ")",
            f'if [ "$n" = 0 ]; then echo {GONE}; exit 0; fi',
            f"mysqldump --defaults-file={_defaults(old)} --single-transaction --quick "
            "--no-autocommit --no-tablespaces --skip-lock-tables "
            f"--default-character-set=utf8mb4 {q(old.db_name)}",
            "",
        ]
    )
    gone = f"{new.db_name}: the old database is gone and the new one has no tables"
    script = "\n".join(
        [
            "IFS= read -r first || first=",
            f'if [ "$first" = {GONE} ]; then',
            "  n=$(" + _mysql(new, "-e", tables) + ")",
            f'  if [ "$n" = 0 ]; then echo {q(gone)} >&2; exit 1; fi',
            "  exit 0",
            "fi",
            _mysql(new, "-e", recreate),
            "{ printf '%s\\n' \"$first\"; cat; } | "
            f"mysql --defaults-file={_defaults(new)} --default-character-set=utf8mb4 "
            + q(new.db_name),
            "",
        ]
    )
    return Transfer(
        name="database copied",
        source_on="srcdb",
        source_script=source,
        script=script,
        on="db",
        lock=_site_lock(new),
        secrets=secrets,
    )


def _settings_back(old: SiteContext, tarball: str) -> str:
    """A database-only move rewrote the site's own settings.php: its undo takes the old one
    back out of the safety backup (member `site/settings.php`), with its group and mode."""
    settings, tmp = q(old.settings_php), q(old.settings_php + ".reconciler-tmp")
    return "\n".join(
        [
            f"chmod u+w {q(old.site_dir)}",
            f"rm -f {tmp}",
            f"tar -xzOf {q(tarball)} --occurrence=1 site/settings.php > {tmp}",
            f"[ -s {tmp} ]",
            f"chgrp {q(old.web.group)} {tmp}",
            f"chmod 0440 {tmp}",
            f"mv -f {tmp} {settings}",
            f"chmod {SITE_DIR_MODE} {q(old.site_dir)}",
            "",
        ]
    )


def group_step(ctx: SiteContext) -> Step:
    """The copy's files given the web server's group (unpacked by the SSH user, they have its
    own), settings.php 0440 and the site directory 0550; the modes of everything else are kept
    as they were at the old place (drift is `verify`'s to report, not an upgrade's to repair)."""
    site, settings, group = q(ctx.site_dir), q(ctx.settings_php), q(ctx.web.group)
    script = "\n".join(
        [
            f"find {site} ! -group {group} -exec chgrp -h {group} {{}} +",
            f"chmod 0440 {settings}",
            f"chmod {SITE_DIR_MODE} {site}",
            "",
        ]
    )
    check = (
        f'[ -z "$(find {site} ! -group {group} -print -quit)" ] && '
        f'[ "$(stat -c %a {settings})" = 440 ] && '
        f'[ "$(stat -c %a {site})" = {int(SITE_DIR_MODE, 8):o} ]'
    )
    return Step(name="web server group", script=script, check=check, lock=_site_lock(ctx))


def _drop_accounts(ctx: SiteContext, hosts: Sequence[str], name: str, on: str) -> Step:
    payload = "".join(f"DROP USER IF EXISTS {sql.quote_account(ctx.db_user, h)};\n" for h in hosts)
    return Step(name=name, script=_admin_script(ctx, payload.encode()), on=on, lock=_site_lock(ctx))


def _hosts(old: SiteContext, new: SiteContext) -> tuple[list[str], list[str]]:
    """The grant hosts only the new place needs, and those only the old place had."""
    before, after = old.grant_hosts, new.grant_hosts
    return [h for h in after if h not in before], [h for h in before if h not in after]


def move_steps(
    old: SiteContext, new: SiteContext, *, backup: Sequence[Step], tarball: str
) -> list[Step | Transfer]:
    """Every step of a copying upgrade (module docstring), for `upgrade_steps`."""
    same_web = old.web.name == new.web.name
    same_dir = same_web and old.site_dir == new.site_dir
    moves = database_moves(old, new)
    shared = not new.sqlite and not moves
    added = _hosts(old, new)[0] if shared else []
    if added and len(added) != len(new.grant_hosts):
        raise PermanentError(
            f"Site {new.name}: its database user would be granted for "
            f"{', '.join(new.grant_hosts)} on {new.web.name}, of which "
            f"{', '.join(h for h in new.grant_hosts if h not in added)} it has already: "
            "moving it would change the password the old place uses",
            hint="give the servers distinct `address`es, or move the site in two steps",
        )
    steps: list[Step | Transfer] = [*on_old(backup), maintenance_on_step(old)]
    if not same_dir:
        steps.append(_copy_directory(old, new))
    secrets: tuple[str, ...] = ()
    if moves or added:
        db_step, settings = credential_steps(new)
        secrets = settings.secrets
        if shared:
            drop = _drop_accounts(new, added, db_step.name, "db")
            db_step = replace(db_step, undo=drop.script)
        if same_dir:
            settings = replace(settings, undo=_settings_back(old, tarball))
        if moves:
            steps += [_distinct_servers(old, new), db_step, _copy_database(old, new, secrets)]
        else:
            steps.append(db_step)
        steps.append(settings)
    steps.append(group_step(new))
    if not same_dir:
        steps.append(replace(sites_php_step(new), name="sites.php entries (new platform)"))
        steps += _vhost_steps(old, new, same_web)
    if shared:
        steps.append(restore_point_step(old, tarball, on="src"))
    steps += post_update_steps(new, secrets)
    steps.append(Step(name=NO_RETURN, script=":\n", on="web", undo=_REFUSE))
    steps += cleanup_steps(old, new)
    return steps


def _vhost_steps(old: SiteContext, new: SiteContext, same_web: bool) -> list[Step]:
    if same_web:
        return vhost_switch_steps(new, old)
    steps = vhost_steps(new, served_state(new))
    gone = remove_vhost_steps(new)
    if len(gone) != len(steps):  # pragma: no cover - one server, one web server type
        raise ValueError("the vhost steps and their removal differ in number")
    return [replace(step, undo=rm.script) for step, rm in zip(steps, gone, strict=True)]


def cleanup_steps(old: SiteContext, new: SiteContext) -> list[Step]:
    """What is left of the old copy removed, once the site is healthy at its new place: each
    step idempotent, none with an undo."""
    same_web = old.web.name == new.web.name
    same_dir = same_web and old.site_dir == new.site_dir
    steps: list[Step] = []
    if not same_dir:
        o, settings = q(old.site_dir), q(old.settings_php)
        steps.append(
            Step(
                name="old site retired",
                script=f"if [ -d {o} ]; then chmod u+w {o}; rm -f {settings}; fi\n",
                check=f"[ ! -e {settings} ]",
                on="src",
                lock=_site_lock(old),
            )
        )
        if not same_web:
            steps += [replace(s, name=f"old {s.name}") for s in on_old(remove_vhost_steps(old))]
        steps.append(old_sites_php_step(old))
        steps.append(
            Step(
                name="old site directory removed",
                script=f"{_writable(old.site_dir)}\nrm -rf -- {o}\n",
                check=f"[ ! -e {o} ]",
                on="src",
                lock=_site_lock(old),
                timeout=RESTORE_TIMEOUT,
            )
        )
    if database_moves(old, new):
        drop = sql.drop_site_database(old.db_name, old.db_user, old.grant_hosts)
        steps.append(
            Step(
                name="old database and user dropped",
                script=_admin_script(old, drop),
                on="srcdb",
                lock=_site_lock(old),
            )
        )
    elif not new.sqlite:
        _, removed = _hosts(old, new)
        if removed:
            steps.append(_drop_accounts(old, removed, "old database users dropped", "srcdb"))
    return steps
