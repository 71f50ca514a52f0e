"""Foreign nginx vhosts set aside: the name a file gets when the reconciler takes it out of
nginx's configuration, which files of a vhost directory nginx may load, and the shell that
renames them (and puts them back).

Pure: names and shell text only, no I/O.

A vhost directory is loaded by an `include` glob: `include /etc/nginx/sites-enabled/*;` in
Debian's stock `nginx.conf` (the contract's default `vhostDir`), `include .../*.conf;` in many
other setups. `<file>.replaced-by-reconciler` would still be loaded by the first. nginx's glob
never matches a name starting with a dot (unless the pattern itself starts with one), so a file
set aside becomes `.<file>.replaced-by-reconciler` in the same directory: out of nginx's
configuration under either pattern, never deleted, and `ls -a` shows it beside the others.
"""

from __future__ import annotations

import posixpath
from collections.abc import Container, Sequence

from reconciler.transport.base import quote_argv

__all__ = [
    "ASIDE_FAILED",
    "SET_ASIDE_SUFFIX",
    "loadable",
    "restore_lines",
    "set_aside_lines",
    "set_aside_path",
]

SET_ASIDE_SUFFIX = ".replaced-by-reconciler"
ASIDE_FAILED = "@@reconciler-vhost-set-aside-failed@@"
_OURS_TRANSIENT = (".reconciler-old", ".reconciler-tmp")
"""Suffixes of the copies a vhost step keeps for a moment beside the site's vhost."""


def set_aside_path(path: str, taken: Container[str] = ()) -> str:
    """Where the foreign vhost `path` goes: `.<file>.replaced-by-reconciler` beside it, or
    `...replaced-by-reconciler.<n>` (the lowest n from 2) when that name is `taken` (a file set
    aside before keeps its name: nothing is ever overwritten)."""
    directory, name = posixpath.split(path)
    if not name:
        raise ValueError(f"not a file path: {path!r}")
    base = posixpath.join(directory, f".{name}{SET_ASIDE_SUFFIX}")
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}.{n}"
    return candidate


def loadable(path: str) -> bool:
    """Whether nginx's include glob of the vhost directory may load the file at `path`: not a
    hidden file (which includes the files set aside), nor one of the copies a vhost step keeps
    for a moment beside the vhost it writes."""
    name = posixpath.basename(path)
    return bool(name) and not name.startswith(".") and not name.endswith(_OURS_TRANSIENT)


def _q(*argv: str) -> str:
    return quote_argv(argv)


def restore_lines(foreign: Sequence[str]) -> list[str]:
    """Shell lines that put back every file `set_aside_lines` moved (its variable holds the new
    name), unless a file of the old name came back meanwhile: nothing is overwritten."""
    lines: list[str] = []
    for i, path in enumerate(foreign):
        var = f"aside_{i}"
        lines.append(f'if [ -n "${var}" ] && [ ! -e {_q(path)} ]; then mv "${var}" {_q(path)}; fi')
    return lines


def set_aside_lines(foreign: Sequence[str], rollback: str) -> list[str]:
    """Shell lines that rename each file of `foreign` (absolute paths) to its set-aside name
    (the first free one: `set_aside_path`) and say so on stdout. A file already gone (a step
    run again) is passed over. When a rename fails, `rollback` (a shell command: the caller's
    function putting its own file back and calling the `restore_lines`) runs and the script
    fails with the `ASIDE_FAILED` marker."""
    lines = [f"aside_{i}=" for i in range(len(foreign))]
    for i, path in enumerate(foreign):
        p, base = _q(path), _q(set_aside_path(path))
        lines += [
            f"if [ -e {p} ] || [ -L {p} ]; then",
            f"  t={base}; n=1",
            f'  while [ -e "$t" ] || [ -L "$t" ]; do n=$((n + 1)); t={base}."$n"; done',
            f'  if ! mv {p} "$t"; then',
            f"    {rollback}",
            f"    echo {_q(f'could not set aside {path}')} >&2; echo {ASIDE_FAILED} >&2; exit 1",
            "  fi",
            f'  aside_{i}=$t; printf "set aside: %s -> %s\\n" {p} "$t"',
            "fi",
        ]
    return lines
