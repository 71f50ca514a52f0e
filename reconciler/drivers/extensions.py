"""The modules and themes of a platform's codebase, read from its `*.info.yml` files.

A platform usually has no installed site to ask `drush pm:list`, so its inventory comes from the
files: `listing_argv(root)` is one `sh -c` command that finds the docroot (`web/`, `docroot/`,
`html/` or the root itself), prints the core version from `core/lib/Drupal.php` and, for every
`*.info.yml` outside `tests/` directories, its path and its `type:`/`version:` lines;
`parse_listing()` turns that output into {machine name: Extension}. Core extensions carry
`version: VERSION` (or none) and take the core version. Pure: nothing here runs a command.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "MISSING_EXIT",
    "Difference",
    "Extension",
    "compare_extensions",
    "listing_argv",
    "parse_listing",
]

MISSING_EXIT = 3
"""The listing's exit status when the codebase root is not a directory."""

_SCRIPT = r"""
root=$1
case $root in
  "~") root=$HOME ;;
  "~/"*) root=$HOME/${root#"~/"} ;;
esac
if [ ! -d "$root" ]; then
  echo "no codebase at $root" >&2
  exit 3
fi
docroot=$root
for d in web docroot html; do
  if [ -f "$root/$d/core/lib/Drupal.php" ]; then docroot=$root/$d; break; fi
done
printf 'docroot\t%s\n' "$docroot"
if [ -f "$docroot/core/lib/Drupal.php" ]; then
  v=$(sed -n "s/^[[:space:]]*const VERSION = '\([^']*\)';.*/\1/p" "$docroot/core/lib/Drupal.php")
  printf 'core\t%s\n' "$v"
fi
find "$docroot" -mindepth 1 \( -path "$docroot/sites/*/files" -o -path "$docroot/sites/*/private" \
  -o -name .git -o -name node_modules -o -name tests \) -prune \
  -o -name '*.info.yml' -type f -exec sh -c '
  for f; do
    printf "file\t%s\n" "$f"
    grep -E "^(type|version)[[:space:]]*:" "$f" || true
  done' sh {} +
"""


def listing_argv(root: str) -> list[str]:
    """The command listing the `*.info.yml` files of the codebase at `root` (`~/` is the login
    user's home on the server). Exit `MISSING_EXIT` when `root` is not a directory."""
    return ["sh", "-c", _SCRIPT, "sh", root]


@dataclass(frozen=True)
class Extension:
    name: str
    type: str
    version: str | None
    path: str


@dataclass(frozen=True)
class Difference:
    """One extension that differs: `a`/`b` are its versions (None: absent on that side, or no
    version line); `change` is `added`, `removed` or `changed`."""

    name: str
    type: str
    a: str | None
    b: str | None
    change: str = "changed"

    def to_json(self) -> dict[str, str | None]:
        return {"name": self.name, "type": self.type, "a": self.a, "b": self.b}


def _value(line: str) -> str:
    """The scalar after `key:`, without a trailing comment or quotes."""
    value = line.split(":", 1)[1].strip()
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = value.find(quote, 1)
        return value[1:end] if end > 0 else value[1:]
    return value.split(" #", 1)[0].strip()


def parse_listing(output: str) -> dict[str, Extension]:
    """{machine name: Extension} from `listing_argv`'s output. Files under a `tests/` directory
    of the codebase are skipped; a core extension (under `<docroot>/core/`) with
    `version: VERSION` or no version line takes the core version; the first file of a machine
    name (in path order) wins."""
    docroot = ""
    core: str | None = None
    found: list[tuple[str, dict[str, str]]] = []
    for line in output.splitlines():
        if line.startswith("docroot\t"):
            docroot = line.split("\t", 1)[1].rstrip("/")
        elif line.startswith("core\t"):
            core = line.split("\t", 1)[1].strip() or None
        elif line.startswith("file\t"):
            found.append((line.split("\t", 1)[1], {}))
        elif found and ":" in line:
            key = line.split(":", 1)[0].strip()
            if key in ("type", "version") and key not in found[-1][1]:
                found[-1][1][key] = _value(line)
    result: dict[str, Extension] = {}
    for path, fields in sorted(found, key=lambda entry: entry[0]):
        inside = path[len(docroot) + 1 :] if docroot and path.startswith(docroot + "/") else path
        if "tests" in inside.split("/")[:-1]:  # test modules, wherever the codebase lives
            continue
        name = posixpath.basename(path).removesuffix(".info.yml")
        if not name or name in result:
            continue
        version = fields.get("version") or None
        in_core = bool(docroot) and path.startswith(docroot + "/core/")
        if in_core and version in (None, "VERSION"):
            version = core
        result[name] = Extension(name, fields.get("type", ""), version, path)
    return result


def compare_extensions(
    a: Mapping[str, Extension],
    b: Mapping[str, Extension],
    types: Sequence[str] = ("module", "theme"),
) -> list[Difference]:
    """The extensions of the given types added, removed or at another version, by name."""
    out: list[Difference] = []
    for name in sorted(set(a) | set(b)):
        left, right = a.get(name), b.get(name)
        either = right if right is not None else left
        if either is None or either.type not in types:
            continue
        kind = either.type
        va = left.version if left is not None else None
        vb = right.version if right is not None else None
        if left is None:
            out.append(Difference(name, kind, va, vb, "added"))
        elif right is None:
            out.append(Difference(name, kind, va, vb, "removed"))
        elif va != vb:
            out.append(Difference(name, kind, va, vb))
    return out
