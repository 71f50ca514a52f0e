"""A platform's ``sites/sites.php``: shell fragments adding, removing and checking entries.

Pure: the functions return POSIX shell text (dash; no bashisms, no GNU-only ``sed -i``) for a
step script; nothing runs here. This module owns the form of an entry, one line
``$sites['KEY'] = 'DIR';`` (KEY a host name or ``<port>.127.0.0.1``, DIR a site directory
name), and how the file is edited:

* Names are checked strictly (lower-case host-name characters: letters, digits, dots, hyphens)
  and never become a pattern: lines are compared as fixed strings (``grep -F -x``, and awk's
  ``index``/``==`` on values passed through the environment), so nothing in a name is ever
  read as a regular expression.
* Only lines of exactly that form are ours. Any other line (comments, hand-written entries in
  another spelling) is kept as it is. A key mapped by one of our lines to another DIR is
  remapped by replacing that line.
* Every edit writes the new text to a temporary file beside ``sites.php`` and renames it over
  the old one (mode 0644); an unchanged file is left alone. The caller holds the per-platform
  lock: two edits at once would lose one of them.
* A ``sites.php`` holding ``?>`` is refused (an entry appended after it would be text, not
  PHP): such a file is edited by hand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from reconciler.transport.base import quote_argv

__all__ = [
    "HEADER_COMMENT",
    "add_entries_script",
    "entries_check",
    "entry_line",
    "remove_entries_script",
]


def _q(*argv: str) -> str:
    """One quoted command line (what ``reconciler.actions.script.q`` makes)."""
    return quote_argv(argv)


HEADER_COMMENT = (
    "// Multisite aliases (see example.sites.php): reconciler adds and removes the entries "
    "of its sites."
)

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_NAME_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")  # fullmatch only
_NAME_MAX = 253
_PREFIX = "$sites['"
_TMP_SUFFIX = ".reconciler-tmp"

# awk programs: fixed text; the values they compare come from the environment (`_rk`: the
# prefix of a key's lines, `_rl`: the entry line, `_rp`/`_rs`: prefix and suffix of a DIR's
# lines), so that no name is ever part of a program or a pattern.
_AWK_KEEP = 'index($0, ENVIRON["_rk"]) != 1 || $0 == ENVIRON["_rl"]'
_AWK_PRESENT = (
    'index($0, ENVIRON["_rk"]) == 1 { if ($0 == ENVIRON["_rl"]) ok = 1; else bad = 1 } '
    "END { exit !(ok && !bad) }"
)
_AWK_DROP_DIR = (
    '{ p = ENVIRON["_rp"]; s = ENVIRON["_rs"]; n = length($0) - length(s); '
    "if (index($0, p) == 1 && n > length(p) && substr($0, n + 1) == s) next; print }"
)


def entry_line(key: str, site_dir: str) -> str:
    """The line of ``sites.php`` mapping *key* to the directory ``sites/<site_dir>``."""
    _check_name("key", key)
    _check_name("site_dir", site_dir)
    return f"{_PREFIX}{key}'] = '{site_dir}';"


def add_entries_script(sites_php: str, entries: Sequence[tuple[str, str]]) -> str:
    """Shell text making every ``(key, site_dir)`` of *entries* an entry of *sites_php*.

    Creates the file (``<?php`` and a comment) when it is missing; an entry line already there
    stays where it is; another line of ours for the same key is removed; mode 0644.
    """
    wanted = _entries(entries)
    path = _check_path(sites_php)
    f, t, t2 = _q(path), _q(path + _TMP_SUFFIX), _q(path + _TMP_SUFFIX + "2")
    lines = [
        f"rm -f {t} {t2}",
        f"if [ -f {f} ]; then cat {f} > {t}; "
        f"else printf '%s\\n' '<?php' {_q(HEADER_COMMENT)} > {t}; fi",
        f"if grep -qF '?>' {t}; then rm -f {t}; "
        f"echo {_q(path + ': holds ?>, refusing to append to it')} >&2; exit 1; fi",
    ]
    for key, site_dir in wanted:
        env = _key_env(key, site_dir)
        lines.append(f"{env} awk {_q(_AWK_KEEP)} {t} > {t2}")
        lines.append(f"mv -f {t2} {t}")
        line = _q(entry_line(key, site_dir))
        lines.append(f"grep -qxF -e {line} {t} || printf '%s\\n' {line} >> {t}")
    lines += _replace(f, t)
    return "\n".join(lines) + "\n"


def remove_entries_script(sites_php: str, site_dir: str) -> str:
    """Shell text removing from *sites_php* every entry line whose DIR is *site_dir*.

    Nothing happens when the file is missing.
    """
    _check_name("site_dir", site_dir)
    path = _check_path(sites_php)
    f, t = _q(path), _q(path + _TMP_SUFFIX)
    suffix = "'] = '" + site_dir + "';"
    env = f"_rp={_q(_PREFIX)} _rs={_q(suffix)}"
    body = [f"rm -f {t}", f"{env} awk {_q(_AWK_DROP_DIR)} {f} > {t}", *_replace(f, t)]
    return f"if [ -f {f} ]; then\n" + "".join(f"  {line}\n" for line in body) + "fi\n"


def entries_check(sites_php: str, entries: Sequence[tuple[str, str]]) -> str:
    """A shell condition exiting 0 when every entry of *entries* is in *sites_php*, and no
    other line of ours maps its key elsewhere (what :func:`add_entries_script` makes)."""
    wanted = _entries(entries)
    path = _check_path(sites_php)
    f = _q(path)
    checks = [f"[ -f {f} ]"]
    checks += [f"{_key_env(key, site_dir)} awk {_q(_AWK_PRESENT)} {f}" for key, site_dir in wanted]
    return " && ".join(checks)


def _key_env(key: str, site_dir: str) -> str:
    prefix = _PREFIX + key + "'] = "
    return f"_rk={_q(prefix)} _rl={_q(entry_line(key, site_dir))}"


def _replace(f: str, t: str) -> list[str]:
    """Lines putting the temporary file *t* in place of *f* unless they are equal."""
    return [
        f"if [ -f {f} ] && cmp -s {t} {f}; then rm -f {t}; else chmod 0644 {t}; mv -f {t} {f}; fi",
        f"chmod 0644 {f}",
    ]


def _entries(entries: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The entries checked, each once, in order; a key mapped to two directories is refused."""
    seen: dict[str, str] = {}
    for key, site_dir in entries:
        _check_name("key", key)
        _check_name("site_dir", site_dir)
        if seen.setdefault(key, site_dir) != site_dir:
            raise ValueError(f"key {key!r} mapped to both {seen[key]!r} and {site_dir!r}")
    return list(seen.items())


def _check_name(argument: str, name: str) -> None:
    if not isinstance(name, str) or len(name) > _NAME_MAX or not _NAME_RE.fullmatch(name):
        raise ValueError(f"{argument}: not a lower-case host name: {name!r}")


def _check_path(path: str) -> str:
    if (
        not path.startswith("/")
        or not path.endswith("/sites.php")
        or any(c in path for c in "\0\n\r")
    ):
        raise ValueError(f"sites_php: not an absolute path of a sites.php: {path!r}")
    return path
