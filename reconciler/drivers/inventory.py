"""Inventories and sizes for `reconciler status`: a site's enabled modules and themes (from
`drush pm:list`), a platform's (from its `*.info.yml` files), and the size of SQLite files.

Pure: parsers and argument lists only; `reconciler.observe.stats` runs them.

* A site's inventory is `pm:list --type=module,theme --status=enabled --format=json`
  (`Drush.pm_list`), read by `drush_output.parse_pm_list`: an object keyed by machine name, or `[]`
  when empty; profiles are not listed by that `--type`.
* A platform's is `extensions.listing_argv`'s output read by `extensions.parse_listing`; only
  modules and themes are kept (not profiles or theme engines), as `pm:list` would list them.
* SQLite sizes: one `find` per server for every SQLite file, its paths NUL-separated on stdin
  (`xargs`), so that a thousand paths never meet the length limit of one command line; a path
  that is missing is left out of the answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from reconciler.drivers import drush_output, extensions

__all__ = [
    "INVENTORY_TYPES",
    "Module",
    "codebase_modules",
    "enabled_modules",
    "modules_json",
    "parse_sizes",
    "sizes_argv",
    "sizes_input",
]

INVENTORY_TYPES = ("module", "theme")


class Module(NamedTuple):
    """One module or theme: machine name, type, version (None: the code carries none)."""

    name: str
    type: str
    version: str | None


def enabled_modules(stdout: str, exit_code: int = 0) -> tuple[Module, ...]:
    """The enabled modules and themes from `pm:list --format=json`'s stdout, by name.

    Raises `drush_output.DrushOutputError` on a non-zero exit or when stdout holds no JSON (a site
    that is not installed answers "not found", exit 1)."""
    rows = drush_output.parse_pm_list(stdout, exit_code)
    return tuple(
        Module(name, row.type, row.version)
        for name, row in sorted(rows.items())
        if row.status.lower() == "enabled" and row.type in INVENTORY_TYPES
    )


def codebase_modules(found: Mapping[str, extensions.Extension]) -> tuple[Module, ...]:
    """The modules and themes of a codebase (`extensions.parse_listing`'s result), by name."""
    return tuple(
        Module(name, ext.type, ext.version)
        for name, ext in sorted(found.items())
        if ext.type in INVENTORY_TYPES
    )


def modules_json(modules: Iterable[Module]) -> list[dict[str, str | None]]:
    """`[{"name", "version", "type"}]`: the contract's keys, and the type."""
    return [{"name": m.name, "version": m.version, "type": m.type} for m in modules]


_SIZES_SCRIPT = 'exec find -L "$@" -maxdepth 0 -type f -printf "%s\\t%p\\0"'


def sizes_argv() -> list[str]:
    """The command printing `<bytes>\\t<path>\\0` for every regular file named on its stdin
    (`sizes_input`); missing files are left out (find complains on stderr, exit non-zero)."""
    return ["xargs", "-0", "-r", "sh", "-c", _SIZES_SCRIPT, "sh"]


def sizes_input(paths: Iterable[str]) -> bytes:
    """The stdin of `sizes_argv`: absolute paths, NUL-terminated (a relative one, or one with a
    NUL, is refused: find would read a leading `-` as an option)."""
    out: list[bytes] = []
    for path in paths:
        if not path.startswith("/") or "\0" in path:
            raise ValueError(f"not an absolute path: {path!r}")
        out.append(path.encode("utf-8", "surrogateescape") + b"\0")
    return b"".join(out)


def parse_sizes(stdout: bytes) -> dict[str, int]:
    """{path: bytes} from `sizes_argv`'s output; malformed records are skipped."""
    sizes: dict[str, int] = {}
    for record in stdout.split(b"\0"):
        size, tab, path = record.partition(b"\t")
        if not tab or not path or not size.isdigit():
            continue
        sizes[path.decode("utf-8", "surrogateescape")] = int(size)
    return sizes
