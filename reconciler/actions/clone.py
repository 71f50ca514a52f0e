"""The steps of a clone: a new site copied from an existing one (`cloneFrom`), as Aegir's clone
deploys a site under a new name.

Pure: rendered from two `SiteContext`s just before they run. Roles: "web"/"db" are the new site's
servers, "src" the source's web server (steps_for maps them). The order:

1. the new site's directory, its own database and user with a new password, settings.php written
   fresh (nothing of the source's settings.php is copied), its sites.php entries — install's own
   steps, with install's undo;
2. the database: `drush sql:dump` of the source to stdout on its server, streamed through the
   controller into `drush sql:cli` of the new site (after `sql:drop`, or removing an SQLite
   database file, so that a resumed copy starts clean), rewritten on the way by `dump_rewriter`:
   `sites/<source>/` paths and `//<source>` URLs name the clone, with PHP-serialized lengths
   corrected. Cache tables come without their rows;
3. the files: a tar of the source's `files/` and `private/` (not settings.php, not an SQLite
   source's database file, whose data came through the dump; not generated CSS/JS aggregates and
   compiled PHP, which name the source and are rebuilt), unpacked into the new site directory;
4. modes sealed, `drush cache:rebuild`, the new site's vhost (its own aliases only: a clone's
   aliases are those of its own manifest, never the source's), the health check.

The source is only read: its site lock is held while it is dumped and archived, and no step or undo
names it. A failure undoes the new site's directory, sites.php entries, database and user.
Both sites must use the same kind of database: a dump of SQLite does not load into MariaDB.
"""

from __future__ import annotations

import posixpath

from reconciler.actions.context import SiteContext
from reconciler.actions.script import Script, Step, Transfer, lock_name, q
from reconciler.actions.site import credential_steps, directory_steps, seal_step, sites_php_step
from reconciler.actions.web import health_step, vhost_steps
from reconciler.drivers.rewrite import Dialect, dump_rewriter
from reconciler.errors import PermanentError

__all__ = ["CACHE_TABLES", "TRANSFER_STEPS", "clone_steps", "copied_excludes"]

CACHE_TABLES = "cache_*"
"""Tables dumped without their rows (drush expands the wildcard; SQLite dumps ignore it)."""
TRANSFER_STEPS = ("database copied", "files copied")
_GENERATED = ("files/css", "files/js", "files/php", "private/tmp/*")
"""Copied from no site: aggregates and compiled templates name the source and are rebuilt."""


def _kind(ctx: SiteContext) -> str:
    service = ctx.db_service
    where = ctx.db.name if ctx.db is not None else ctx.web.name
    return f"{service.type if service is not None else 'no database service'} on {where}"


def _refuse(target: SiteContext, source: SiteContext) -> None:
    """Clones that cannot be made without harm to the source, or at all."""
    if target.db_service is None or source.db_service is None:
        raise PermanentError(
            f"Site {target.name}: cannot be cloned from {source.name}: "
            f"{target.name}'s database is {_kind(target)}, {source.name}'s is {_kind(source)}",
            hint="declare `services.db` on the database servers of both sites",
        )
    if target.sqlite != source.sqlite:
        raise PermanentError(
            f"Site {target.name}: cannot be cloned from {source.name}: its database would be "
            f"{_kind(target)}, {source.name}'s is {_kind(source)}; a dump of one kind does not "
            "load into the other",
            hint=f"put {target.name} on a platform (or `db.server`) whose database service is "
            f"the same kind as {source.name}'s",
        )
    if not target.sqlite and (target.db_name == source.db_name or target.db_user == source.db_user):
        raise PermanentError(
            f"Site {target.name}: cannot be cloned from {source.name}: it names {source.name}'s "
            f"database or database user ({source.db_name}, {source.db_user}); a clone gets its own",
            hint=f"remove `db.name` and `db.user` from {target.name}'s manifest",
        )


def copied_excludes(source: SiteContext) -> list[str]:
    """The `tar --exclude` patterns (anchored, relative to the site directory) of a copy."""
    excludes = list(_GENERATED)
    if source.sqlite:
        database = posixpath.relpath(source.sqlite_path, source.site_dir)
        excludes += [database, f"{database}-*"]
    return excludes


def _database_transfer(target: SiteContext, source: SiteContext) -> Transfer:
    src, dest = source.drush, target.drush
    # drush sql:dump without --result-file writes the dump to stdout (and nothing else there)
    dump = [
        src.executable,
        "sql:dump",
        f"--structure-tables-list={CACHE_TABLES}",
        f"--uri={src.uri}",
    ]
    load = Script()
    if target.sqlite:  # a resumed copy starts from no database (sql:drop needs one)
        path = target.sqlite_path
        load.run("rm", "-f", path, f"{path}-journal", f"{path}-wal", f"{path}-shm")
    else:  # a resumed copy starts from no tables
        load.raw(q(*dest.sql_drop()) + " </dev/null >/dev/null")
    load.raw(q(*dest.sql_cli()) + " >&2")
    dialect: Dialect = "sqlite" if source.sqlite else "mysql"
    return Transfer(
        name=TRANSFER_STEPS[0],
        source_on="src",
        source_script=q(*dump) + "\n",
        script=load.text(),
        on="web",
        lock=lock_name("site", target.name),
        source_lock=lock_name("site", source.name),
        rewrite=dump_rewriter(source.name, target.name, dialect),
    )


def _files_transfer(target: SiteContext, source: SiteContext) -> Transfer:
    excludes = [f"--exclude={pattern}" for pattern in copied_excludes(source)]
    archive = Script()
    archive.run("cd", source.site_dir)
    archive.raw(
        'set --\nfor d in files private; do if [ -e "$d" ]; then set -- "$@" "$d"; fi; done'
    )
    archive.raw('if [ "$#" -eq 0 ]; then exec tar -cf - -T /dev/null; fi')
    # exit 1 is "a file changed while it was read" (a live site): the copy is still whole
    archive.raw(f'rc=0\ntar -cf - --anchored {q(*excludes)} "$@" || rc=$?\n[ "$rc" -le 1 ]')
    unpack = Script()
    unpack.run("cd", target.site_dir)
    unpack.run("tar", "-xf", "-", "--no-same-owner", "--no-same-permissions", "--no-overwrite-dir")
    return Transfer(
        name=TRANSFER_STEPS[1],
        source_on="src",
        source_script=archive.text(),
        script=unpack.text(),
        on="web",
        lock=lock_name("site", target.name),
        source_lock=lock_name("site", source.name),
    )


def _cache_rebuild(target: SiteContext) -> Step:
    """After the seal: files drush writes get the modes of their sealed directories."""
    script = Script().raw("umask 0007").run(*target.drush.cache_rebuild())
    return Step(name="cache:rebuild", script=script.text(), lock=lock_name("site", target.name))


def clone_steps(target: SiteContext, source: SiteContext) -> list[Step | Transfer]:
    """The steps that make `target` a copy of `source` (see the module text); raises
    `PermanentError` for a clone that cannot be made (databases of different kinds, or a
    manifest naming the source's own database)."""
    _refuse(target, source)
    disabled = target.site is not None and target.site.spec.state == "disabled"
    return [
        *directory_steps(target),
        *credential_steps(target),
        sites_php_step(target),
        _database_transfer(target, source),
        _files_transfer(target, source),
        seal_step(target),
        _cache_rebuild(target),
        *vhost_steps(target, "disabled" if disabled else "present"),
        health_step(target, disabled=disabled),
    ]
