"""Restoring a site in place from one of its backup tarballs, and removing pruned tarballs: steps.

Pure: rendered from a `SiteContext` just before they run. Aegir's deploy (unpack beside the site,
swap by rename, undo by swapping back) for a site that stays where it is, with its credentials:

1. `unpack`: the tarball's `site/files` and `site/private` go into a work directory beside the
   site directory (`sites/.<site>.restore`, 0700: the web server cannot read it), and its
   `database.sql` is checked against the sha256 in its manifest. Nothing of the site changes.
   Then the safety backup (given as steps), so that a damaged backup costs none.
2. `files swapped in`: the site's `files/` and `private/` are renamed into the work directory
   (`old/`) and the unpacked ones renamed into place. A failure half-way puts the old ones back
   (the step's own script does it); a later failure does it through the step's undo.
3. `database`: every table dropped and the dump loaded (`database_restore_script`: drush with
   the site's own credentials from its settings.php). If loading fails, the script loads the
   safety backup's dump before it fails; a later failure does the same through its undo.
4. modes (`seal_step`), `drush cache:rebuild`, the health check (`health_step`);
5. `old files removed`: the work directory, marked committed first, so that a restore that
   is run again after a crash never swaps the site's old files back over the restored ones.

settings.php is never touched: the site keeps its current credentials and hash salt.
A crashed restore run again first puts back what the crashed one had moved (unpack step).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence

from reconciler.actions.context import SiteContext
from reconciler.actions.script import Script, Step, Transfer, lock_name, q
from reconciler.actions.site import seal_step
from reconciler.actions.web import health_step
from reconciler.drivers.backup import backup_paths, parse_backup_id
from reconciler.drivers.restore import database_restore_script
from reconciler.drivers.sitefiles import SITE_DIR_MODE

__all__ = [
    "FETCH_STEP",
    "RESTORE_TIMEOUT",
    "ROLLBACK_FAILED",
    "fetch_transfer",
    "prune_step",
    "restore_steps",
    "work_dir",
]

RESTORE_TIMEOUT = 6 * 3600.0
"""Seconds unpacking or loading a big site's backup may take."""
FETCH_STEP = "backup copied"
ROLLBACK_FAILED = "restore: putting the site back failed"
"""Printed by a step whose own rollback (the swap's, the database's) failed."""

_TREES = ("files", "private")

_PUT_BACK = f"""put_back() {{
    # undo a swap, whole or half done; nothing to do once the restore was committed
    [ ! -e "$work/committed" ] || return 0
    chmod u+w -- "$site" || return 1
    for d in {" ".join(_TREES)}; do
        if [ -e "$work/in.$d" ] && [ -e "$site/$d" ] && [ ! -e "$work/site/$d" ]; then
            mkdir -p -- "$work/site" && mv -- "$site/$d" "$work/site/$d" || return 1
        fi
        rm -f -- "$work/in.$d"
        if [ -e "$work/old/$d" ] || [ -L "$work/old/$d" ]; then
            if [ -e "$site/$d" ]; then echo "restore: $site/$d is in the way" >&2; return 1; fi
            mv -- "$work/old/$d" "$site/$d" || return 1
        fi
    done
    chmod {SITE_DIR_MODE} -- "$site"
}}"""

_SWAP_IN = f"""swap_in() {{
    mkdir -p -- "$work/old" || return 1
    for d in {" ".join(_TREES)}; do
        if [ -e "$site/$d" ] || [ -L "$site/$d" ]; then
            mv -- "$site/$d" "$work/old/$d" || return 1
        fi
        : > "$work/in.$d" || return 1
        mv -- "$work/site/$d" "$site/$d" || return 1
    done
}}"""

_WRITABLE = 'find "$work" -user "$(id -u)" -type d -exec chmod u+rwx {} + 2>/dev/null || true'


def work_dir(ctx: SiteContext) -> str:
    """Where a restore unpacks: beside the site directory, on its file system (renames)."""
    return posixpath.join(ctx.platform.sites_dir, f".{ctx.name}.restore")


def _head(ctx: SiteContext, tarball: str | None = None) -> Script:
    script = Script()
    script.raw(f"site={q(ctx.site_dir)}")
    script.raw(f"work={q(work_dir(ctx))}")
    if tarball is not None:
        script.raw(f"tarball={q(tarball)}")
    script.raw("fail() { printf 'restore: %s\\n' \"$*\" >&2; exit 1; }")
    script.raw(_PUT_BACK)
    return script


def _check_tarball(tarball: str, site: str) -> str:
    if not posixpath.isabs(tarball) or not tarball.endswith(".tar.gz"):
        raise ValueError(f"not a backup tarball path: {tarball!r}")
    backup_id = posixpath.basename(tarball).removesuffix(".tar.gz")
    if parse_backup_id(backup_id)[0] != site:
        raise ValueError(f"backup {backup_id} is not one of site {site}")
    return backup_id


def _unpack(ctx: SiteContext, tarball: str, database_sha256: str | None) -> Step:
    script = _head(ctx, tarball)
    script.raw('[ -f "$tarball" ] || fail "no backup tarball $tarball"')
    script.raw('[ -d "$site" ] || fail "no site directory $site"')
    script.raw('if [ -e "$work" ] || [ -L "$work" ]; then')
    script.raw(
        "    put_back || fail \"an earlier restore left $work and the site's own files could "
        'not be put back from $work/old: move them back by hand"'
    )
    script.raw(f"    {_WRITABLE}")
    script.raw('    rm -rf -- "$work" || fail "cannot remove $work, left by an earlier restore"')
    script.raw("fi")
    script.raw('mkdir -- "$work"')
    members = " ".join(f"site/{tree}" for tree in _TREES)
    script.raw(
        f'tar -xzf "$tarball" -C "$work" {members} || '
        'fail "the backup is damaged or holds no site/files and site/private"'
    )
    for tree in _TREES:
        script.raw(f'[ -d "$work/site/{tree}" ] || fail "the backup holds no site/{tree}"')
    if database_sha256 is not None:
        if len(database_sha256) != 64 or any(c not in "0123456789abcdef" for c in database_sha256):
            raise ValueError(f"not a sha256: {database_sha256!r}")
        script.raw(
            'sum=$(tar --occurrence=1 -xzOf "$tarball" database.sql 2>/dev/null | sha256sum)'
        )
        script.raw(
            f'[ "${{sum%% *}}" = {database_sha256} ] || '
            'fail "its database.sql does not match the sha256 in its manifest.json"'
        )
    undo = _head(ctx)
    for tree in _TREES:
        undo.raw(f'[ ! -e "$work/old/{tree}" ] || fail "the site\'s own {tree} is in $work/old"')
    undo.raw(_WRITABLE)
    undo.raw('rm -rf -- "$work"')
    return Step(
        name="unpack",
        script=script.text(),
        lock=lock_name("site", ctx.name),
        undo=undo.text(),
        timeout=RESTORE_TIMEOUT,
    )


def _swap(ctx: SiteContext) -> Step:
    script = _head(ctx)
    script.raw(_SWAP_IN)
    for tree in _TREES:
        script.raw(f'[ -d "$work/site/{tree}" ] || fail "nothing unpacked in $work"')
    script.raw('chmod u+w -- "$site"')
    script.raw("if ! swap_in; then")
    script.raw(
        f'    put_back || echo "{ROLLBACK_FAILED}: the site\'s own files are in $work/old" >&2'
    )
    script.raw('    fail "swapping the restored files into $site failed"')
    script.raw("fi")
    done = " && ".join(
        f'[ -e "$work/in.{t}" ] && [ ! -e "$work/site/{t}" ] && [ -d "$site/{t}" ]' for t in _TREES
    )
    undo = _head(ctx)
    undo.raw('put_back || fail "the site\'s own files could not be put back from $work/old"')
    return Step(
        name="files swapped in",
        script=script.text(),
        check=f"site={q(ctx.site_dir)}; work={q(work_dir(ctx))}; {done}",
        lock=lock_name("site", ctx.name),
        undo=undo.text(),
    )


def _guarded_load(ctx: SiteContext, tarball: str, safety_tarball: str) -> str:
    """Load `tarball`'s dump; if that fails, load the safety backup's before failing (a step's
    own failure is not undone by the runner, and a half-loaded database must not stay)."""
    drush = ctx.drush
    load = database_restore_script(drush, tarball).rstrip("\n")
    back = database_restore_script(drush, safety_tarball).rstrip("\n")
    safety = posixpath.basename(safety_tarball).removesuffix(".tar.gz")
    failed = (
        "printf 'restore: loading the database of the backup failed (exit %s): "
        'loading the safety backup %s again\\n\' "$rc" '
    )
    return "\n".join(
        [
            "set +e",
            "(",
            "set -e",
            load,
            ")",
            "rc=$?",
            "set -e",
            'if [ "$rc" -ne 0 ]; then',
            f"    {failed}{q(safety)} >&2",
            "    set +e",
            "    (",
            "    set -e",
            back,
            "    )",
            "    back=$?",
            "    set -e",
            f'    [ "$back" -eq 0 ] || echo "{ROLLBACK_FAILED}: loading the safety backup '
            'failed too (exit $back)" >&2',
            "    exit 1",
            "fi",
            "",
        ]
    )


def restore_steps(
    ctx: SiteContext,
    *,
    tarball: str,
    safety_tarball: str,
    database_sha256: str | None,
    safety: Sequence[Step] = (),
) -> list[Step]:
    """Restore the site at `ctx` in place from `tarball` (on its web server), with
    `safety_tarball` as the way back: unpack (a damaged backup stops here), the `safety` steps
    that take that backup (same server), swap the files, load the database, modes,
    cache:rebuild, health, then remove the old files."""
    _check_tarball(tarball, ctx.name)
    _check_tarball(safety_tarball, ctx.name)
    disabled = ctx.site is not None and ctx.site.spec.state == "disabled"
    cache = Script().run(*ctx.drush.cache_rebuild())
    cleanup = Script()
    cleanup.raw(f"work={q(work_dir(ctx))}")
    cleanup.raw('if [ -d "$work" ]; then')
    cleanup.raw('    : > "$work/committed"')
    cleanup.raw(f"    {_WRITABLE}")
    cleanup.raw(
        '    rm -rf -- "$work" 2>/dev/null || echo "restore: note: $work could not be removed '
        'whole (files of the web server user?): remove it by hand" >&2'
    )
    cleanup.raw("fi")
    site_lock = lock_name("site", ctx.name)
    return [
        _unpack(ctx, tarball, database_sha256),
        *safety,
        _swap(ctx),
        Step(
            name="database",
            script=_guarded_load(ctx, tarball, safety_tarball),
            lock=site_lock,
            undo=database_restore_script(ctx.drush, safety_tarball),
            timeout=RESTORE_TIMEOUT,
        ),
        seal_step(ctx),
        Step(name="cache:rebuild", script=cache.text(), lock=site_lock, timeout=1800),
        health_step(ctx, disabled=disabled),
        Step(name="old files removed", script=cleanup.text(), lock=site_lock),
    ]


def fetch_transfer(ctx: SiteContext, source_path: str) -> Transfer:
    """Copy the tarball at `source_path` on the "src" server into the site's backups directory
    on its web server, under the same name (checked with `gzip -t` before it is renamed into
    place; nothing is left of a copy that failed)."""
    backup_id = _check_tarball(source_path, ctx.name)
    paths = backup_paths(ctx.web.backups, backup_id)
    source = Script()
    source.raw(f'[ -f {q(source_path)} ] || {{ echo "no tarball {source_path}" >&2; exit 1; }}')
    source.run("cat", "--", source_path)
    dest = Script()
    dest.raw(f"root={q(paths.root)}; dir={q(paths.directory)}")
    dest.raw(f"final={q(paths.tarball)}; part={q(paths.part)}")
    dest.raw('mkdir -p -- "$root" "$dir"')
    dest.raw('chmod u=rwx,go=,g-s -- "$root" "$dir"')
    dest.raw("trap 'rm -f -- \"$part\"' EXIT")
    dest.raw('cat > "$part"')
    dest.raw('gzip -t -- "$part" || { echo "the copy of the backup is damaged" >&2; exit 1; }')
    dest.raw('chmod 0600 -- "$part"')
    dest.raw('mv -f -- "$part" "$final"')
    dest.raw("trap - EXIT")
    return Transfer(
        name=FETCH_STEP,
        source_on="src",
        source_script=source.text(),
        script=dest.text(),
        on="web",
        check=f"[ -s {q(paths.tarball)} ]",
        lock=lock_name("site", ctx.name),
    )


def prune_step(site: str, tarballs: Sequence[str]) -> Step:
    """Remove the given tarballs of `site` (absolute paths, as a listing printed them) on one
    server, under the site's lock (a backup of it is not being written meanwhile)."""
    script = Script()
    for path in tarballs:
        _check_tarball(path, site)
        if posixpath.basename(posixpath.dirname(path)) != site:
            raise ValueError(f"not in a backups directory of {site}: {path!r}")
        script.run("rm", "-f", "--", path)
    return Step(
        name=f"prune {len(tarballs)} backup(s)",
        script=script.text() or ":\n",
        lock=lock_name("site", site),
    )
