"""A site's directory on its web server: shell fragments setting and checking its modes.

Pure: the functions return POSIX shell text for a step script; nothing runs here. This module
owns the layout and modes of ``<docroot>/sites/<name>/`` (the owner is whoever runs the script,
the SSH user: nothing is chowned; the group is the web server's ``services.http.group``):

====================================  =====================================================
``sites/<name>/``                     0550 (0750 while the controller edits it)
``sites/<name>/settings.php``         0440
``files/``, ``private/`` and below    directories 2770, regular files 0660
``private/config/sync/``              the config sync directory, 2770
``private/tmp/``                      2770
``private/db.sqlite``                 a sqlite site's database, 0660
====================================  =====================================================

Below ``files/`` and ``private/`` only what differs is changed (``find`` with ``! -group`` and
``! -perm``), so entries the web server created with the right modes, which the SSH user does
not own and so could not change, are left alone; ``chgrp -h`` and ``find``'s own walk never
follow a symbolic link. ``settings.php`` is replaced by a rename, so unsealing only gives the
owner back write access to the directory. Modes are read with GNU ``stat -c '%a %G'``.
"""

from __future__ import annotations

import posixpath
import re

from reconciler.transport.base import quote_argv

__all__ = [
    "SITE_DIR_MODE",
    "SUBDIRS",
    "modes_check",
    "prepare_site_dir_script",
    "seal_site_dir_script",
    "unseal_site_dir_script",
]


def _q(*argv: str) -> str:
    """One quoted command line (what ``reconciler.actions.script.q`` makes)."""
    return quote_argv(argv)


SITE_DIR_MODE = "0550"
_EDIT_MODE = "0750"
_SETTINGS_MODE = "0440"
_DIR_MODE = "2770"
_FILE_MODE = "0660"
SUBDIRS = ("files", "private", "private/config", "private/config/sync", "private/tmp")
"""The directories of a site, relative to its directory, parents first."""
_TREES = ("files", "private")

_GROUP_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,31}")  # fullmatch only


def prepare_site_dir_script(site_dir: str, group: str) -> str:
    """Shell text making *site_dir* and its directories, writable for the owner (0750)."""
    site, grp = _check_site_dir(site_dir), _check_group(group)
    subdirs = " ".join(_q(posixpath.join(site, sub)) for sub in SUBDIRS)
    lines = [
        f"mkdir -p {_q(site)}",
        f"chmod {_EDIT_MODE} {_q(site)}",
        f"chgrp {_q(grp)} {_q(site)}",
        f"mkdir -p {subdirs}",
        f"chgrp {_q(grp)} {subdirs}",
        f"chmod {_DIR_MODE} {subdirs}",
    ]
    return "\n".join(lines) + "\n"


def seal_site_dir_script(site_dir: str, group: str, sqlite_path: str | None) -> str:
    """Shell text giving *site_dir* and everything in it their final modes and group.

    ``settings.php`` must exist, and so must *sqlite_path* when given.
    """
    site, grp = _check_site_dir(site_dir), _check_group(group)
    settings = _q(posixpath.join(site, "settings.php"))
    trees = " ".join(_q(posixpath.join(site, tree)) for tree in _TREES)
    g = _q(grp)
    lines = [
        f"find {trees} ! -group {g} -exec chgrp -h {g} {{}} +",
        f"find {trees} -type d ! -perm {_DIR_MODE} -exec chmod {_DIR_MODE} {{}} +",
        f"find {trees} -type f ! -perm {_FILE_MODE} -exec chmod {_FILE_MODE} {{}} +",
    ]
    if sqlite_path is not None:
        db = _q(_check_path("sqlite_path", sqlite_path))
        lines += [f"chgrp {g} {db}", f"chmod {_FILE_MODE} {db}"]
    lines += [
        f"chgrp {g} {settings}",
        f"chmod {_SETTINGS_MODE} {settings}",
        f"chgrp {g} {_q(site)}",
        # a directory made in a set-group-ID sites/ inherits the bit, which GNU chmod keeps on
        # directories for a numeric mode: cleared explicitly
        f"chmod {SITE_DIR_MODE} {_q(site)}",
        f"chmod g-s {_q(site)}",
    ]
    return "\n".join(lines) + "\n"


def unseal_site_dir_script(site_dir: str) -> str:
    """Shell text letting the owner write *site_dir* (to rename a new settings.php into it)."""
    return f"chmod u+w {_q(_check_site_dir(site_dir))}\n"


def modes_check(site_dir: str, group: str) -> str:
    """A shell condition exiting 0 when *site_dir* is sealed: every mode and group as wanted."""
    site, grp = _check_site_dir(site_dir), _check_group(group)
    settings = posixpath.join(site, "settings.php")
    trees = " ".join(_q(posixpath.join(site, tree)) for tree in _TREES)
    g = _q(grp)
    stray = (
        f"find {trees} ! -group {g} -o -type d ! -perm {_DIR_MODE} -o -type f ! -perm {_FILE_MODE}"
    )
    checks = [
        f'[ "$(stat -c {_q("%a %G")} {_q(site)})" = {_q(_stat(SITE_DIR_MODE, grp))} ]',
        f'[ "$(stat -c {_q("%a %G")} {_q(settings)})" = {_q(_stat(_SETTINGS_MODE, grp))} ]',
        *(
            f'[ "$(stat -c {_q("%a %G")} {_q(posixpath.join(site, sub))})" = '
            f"{_q(_stat(_DIR_MODE, grp))} ]"
            for sub in SUBDIRS
        ),
        f'_rstray=$({stray}) && [ -z "$_rstray" ]',
    ]
    return " &&\n".join(checks) + "\n"


def _stat(mode: str, group: str) -> str:
    """What ``stat -c '%a %G'`` prints for *mode* and *group* (no leading zero)."""
    return f"{int(mode, 8):o} {group}"


def _check_site_dir(site_dir: str) -> str:
    """The normalised absolute path of a directory ``.../sites/<name>``."""
    path = _check_path("site_dir", site_dir).rstrip("/")
    parent, name = posixpath.split(path)
    if posixpath.basename(parent) != "sites" or name in ("", ".", ".."):
        raise ValueError(f"site_dir: not a directory .../sites/<name>: {site_dir!r}")
    return path


def _check_path(argument: str, path: str) -> str:
    if (
        not isinstance(path, str)
        or not path.startswith("/")
        or posixpath.normpath(path) != path.rstrip("/")
        or any(c in path for c in "\0\n\r")
    ):
        raise ValueError(f"{argument}: not a normalised absolute path: {path!r}")
    return path


def _check_group(group: str) -> str:
    if not isinstance(group, str) or not _GROUP_RE.fullmatch(group):
        raise ValueError(f"group: not a group name: {group!r}")
    return group
