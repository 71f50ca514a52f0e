"""The backup action as steps: one script on the site's web server, under the site's lock.

Pure: rendered from a `SiteContext` just before it runs. The tarball goes to the web server's
`paths.backups` (the platform's server, CONTRACT.md section 2). The step is done when the tarball
of its id exists (a resumed backup does not take a second one); it has no undo: a backup changes
nothing of the site, and a failed one removes its own partial files.
"""

from __future__ import annotations

from reconciler.actions.context import SiteContext
from reconciler.actions.script import Step, lock_name, q
from reconciler.drivers.backup import backup_paths, backup_script, parse_listing
from reconciler.transport.base import CommandResult

__all__ = ["BACKUP_TIMEOUT", "STEP_NAME", "backup_steps", "database_driver"]

STEP_NAME = "backup"
BACKUP_TIMEOUT = 6 * 3600.0
"""Seconds a backup may take: the files of a big site are many gigabytes."""


def database_driver(ctx: SiteContext) -> str | None:
    """Drupal's driver name for the site's database service (`mysql` or `sqlite`)."""
    if ctx.db_service is None:
        return None
    return "sqlite" if ctx.db_service.type == "sqlite" else "mysql"


def backup_steps(
    ctx: SiteContext,
    backup_id: str,
    core_version: str | None,
    *,
    driver: str | None = None,
) -> list[Step]:
    """Take backup `backup_id` of the site at `ctx` into `<web paths.backups>/<site>/`.

    `core_version` (the platform's) and `driver` (the database driver its settings.php names;
    default: from the site's database service) are recorded in the tarball's manifest.json.
    The step's stdout ends with the listing line of the new tarball (`parse_listing`)."""
    paths = backup_paths(ctx.web.backups, backup_id)

    def expect(result: CommandResult) -> str | None:
        for entry in parse_listing(result.out):
            if entry.id == backup_id:
                return None if entry.size > 0 else f"backup {backup_id}: the tarball is empty"
        return f"backup {backup_id}: the script did not report its tarball"

    return [
        Step(
            name=STEP_NAME,
            script=backup_script(
                ctx.drush,
                backups_root=paths.root,
                backup_id=backup_id,
                platform=ctx.platform.name,
                core_version=core_version,
                driver=driver if driver is not None else database_driver(ctx),
            ),
            check=f"[ -s {q(paths.tarball)} ]",
            on="web",
            lock=lock_name("site", ctx.name),
            timeout=BACKUP_TIMEOUT,
            expect=expect,
        )
    ]
