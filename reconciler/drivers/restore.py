"""Putting a site's database back from one of its backup tarballs: pure shell fragments.

The tarball's `database.sql` is extracted into a private work directory beside the tarball, every
table of the site's database is dropped (`drush sql:drop`: tables created after the backup must
not survive it), and the dump is loaded with `drush sql:cli` — both with the site's own
credentials, read by drush from its settings.php, never on a command line.
"""

from __future__ import annotations

import posixpath

from reconciler.actions.script import q
from reconciler.drivers.drush import Drush

__all__ = ["database_restore_script"]


def database_restore_script(drush: Drush, tarball: str) -> str:
    """A script (for a step on the site's web server) loading `tarball`'s database.sql."""
    if not posixpath.isabs(tarball) or not tarball.endswith(".tar.gz"):
        raise ValueError(f"not a backup tarball path: {tarball!r}")
    parent = posixpath.dirname(tarball)
    return "\n".join(
        [
            f"work=$(mktemp -d {q(parent + '/.restore.XXXXXX')})",
            "trap 'rm -rf \"$work\"' EXIT",
            f'tar -xzf {q(tarball)} -C "$work" database.sql',
            'test -s "$work/database.sql"',
            q(*drush.sql_drop()) + " >/dev/null",
            q(*drush.sql_cli()) + ' < "$work/database.sql"',
            "",
        ]
    )
