"""The pure parts of `status`'s statistics: `pm:list` JSON to enabled modules, a codebase's
`*.info.yml` listing to its inventory, the database listing's sizes, SQLite file sizes (the
command run for real on this machine), and where a site's SQLite file is."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.drivers.drush_output import DrushOutputError
from reconciler.drivers.extensions import parse_listing as parse_codebase
from reconciler.drivers.inventory import (
    Module,
    codebase_modules,
    enabled_modules,
    modules_json,
    parse_sizes,
    sizes_argv,
    sizes_input,
)
from reconciler.drivers.mysql import parse_listing
from reconciler.observe.models import ObservedDatabase, ObservedPlatform, ObservedSite
from reconciler.observe.stats import sqlite_path


def _row(name: str, type_: str, status: str, version: str | None, package: str = "Core") -> str:
    """One `pm:list --format=json` row as drush 13 prints it (4-space indent, label order)."""
    shown = "null" if version is None else f'"{version}"'
    return (
        f'    "{name}": {{\n'
        f'        "package": "{package}",\n'
        f'        "project": "",\n'
        f'        "display_name": "{name.title()} ({name})",\n'
        f'        "name": "{name}",\n'
        f'        "type": "{type_}",\n'
        f'        "path": "core/modules/{name}",\n'
        f'        "status": "{status}",\n'
        f'        "version": {shown}\n'
        f"    }}"
    )


def _pm_list(*rows: str) -> str:
    return "{\n" + ",\n".join(rows) + "\n}\n"


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        pytest.param(
            _pm_list(
                _row("user", "module", "Enabled", "10.3.6"),
                _row("node", "module", "Enabled", "10.3.6"),
                _row("olivero", "theme", "Enabled", "10.3.6"),
            ),
            [
                Module("node", "module", "10.3.6"),
                Module("olivero", "theme", "10.3.6"),
                Module("user", "module", "10.3.6"),
            ],
            id="sorted by machine name, themes kept",
        ),
        pytest.param(
            _pm_list(
                _row("node", "module", "Enabled", "10.3.6"),
                _row("redirect", "module", "Disabled", "1.10.0", "Other"),
            ),
            [Module("node", "module", "10.3.6")],
            id="a disabled one left out (when --status was not given)",
        ),
        pytest.param(
            _pm_list(
                _row("mine", "module", "Enabled", None, "Custom"),
                _row("token", "module", "Enabled", "", "Other"),
            ),
            [Module("mine", "module", None), Module("token", "module", None)],
            id="custom code: null or empty version",
        ),
        pytest.param(
            _pm_list(
                _row("standard", "profile", "Enabled", "10.3.6"),
                _row("twig", "theme_engine", "Enabled", "10.3.6"),
                _row("system", "module", "Enabled", "10.3.6"),
            ),
            [Module("system", "module", "10.3.6")],
            id="profiles and theme engines are no modules",
        ),
        pytest.param("[]\n", [], id="an empty result is a JSON list"),
        pytest.param(
            "Deprecated: something in PHP\n"
            + _pm_list(_row("node", "module", "Enabled", "10.3.6")),
            [Module("node", "module", "10.3.6")],
            id="noise before the JSON",
        ),
    ],
)
def test_enabled_modules(stdout: str, expected: list[Module]) -> None:
    assert list(enabled_modules(stdout, 0)) == expected


@pytest.mark.parametrize(
    ("stdout", "exit_code"),
    [
        pytest.param("", 1, id="not installed: command not found, exit 1"),
        pytest.param(_pm_list(_row("node", "module", "Enabled", "1")), 1, id="any non-zero exit"),
        pytest.param("Error: Class not found\n", 0, id="no JSON"),
        pytest.param('{"node": "Enabled"}\n', 0, id="a row that is no object"),
    ],
)
def test_enabled_modules_refuses_what_is_no_answer(stdout: str, exit_code: int) -> None:
    with pytest.raises(DrushOutputError):
        enabled_modules(stdout, exit_code)


CODEBASE = """docroot\t/srv/p/web
core\t10.3.6
file\t/srv/p/web/core/modules/node/node.info.yml
name: Node
type: module
package: Core
version: VERSION
file\t/srv/p/web/core/themes/claro/claro.info.yml
type: theme
file\t/srv/p/web/core/profiles/standard/standard.info.yml
type: profile
version: VERSION
file\t/srv/p/web/core/themes/engines/twig/twig.info.yml
type: theme_engine
version: VERSION
file\t/srv/p/web/core/modules/system/tests/modules/fixture/fixture.info.yml
type: module
file\t/srv/p/web/modules/contrib/token/token.info.yml
type: module
version: '1.14.0'
file\t/srv/p/web/modules/custom/mine/mine.info.yml
type: module
file\t/srv/p/web/themes/contrib/gin/gin.info.yml
type: theme
version: 1.1.0
"""


@pytest.mark.parametrize(
    ("listing", "expected"),
    [
        pytest.param(
            CODEBASE,
            [
                {"name": "claro", "version": "10.3.6", "type": "theme"},
                {"name": "gin", "version": "1.1.0", "type": "theme"},
                {"name": "mine", "version": None, "type": "module"},
                {"name": "node", "version": "10.3.6", "type": "module"},
                {"name": "token", "version": "1.14.0", "type": "module"},
            ],
            id="modules and themes; core ones at the core version; no profile, engine, tests",
        ),
        pytest.param("docroot\t/srv/p\n", [], id="no info.yml at all"),
        pytest.param(
            "docroot\t/srv/p/web\nfile\t/srv/p/web/core/modules/node/node.info.yml\n"
            "type: module\nversion: VERSION\n",
            [{"name": "node", "version": None, "type": "module"}],
            id="no Drupal.php: the core version is unknown",
        ),
    ],
)
def test_codebase_inventory(listing: str, expected: list[dict[str, str | None]]) -> None:
    assert modules_json(codebase_modules(parse_codebase(listing))) == expected


@pytest.mark.parametrize(
    ("line", "databases"),
    [
        pytest.param("D\tsite_a\t16384", {"site_a": 16384}, id="a size"),
        pytest.param("D\tbig\t123456789012", {"big": 123456789012}, id="beyond 32 bits"),
        pytest.param("D\tempty\t0", {"empty": 0}, id="no tables: COALESCE gives 0"),
        pytest.param("D\tnulls\tNULL", {"nulls": 0}, id="NULL read as 0"),
        pytest.param("D\twe\\tird\t5", {"we\tird": 5}, id="batch escaping undone"),
        pytest.param("D\tmysql\t123", {}, id="system schemas left out"),
        pytest.param("D\ttwo\tfields\textra", {}, id="a malformed line skipped"),
    ],
)
def test_database_listing_sizes(line: str, databases: dict[str, int]) -> None:
    assert parse_listing(line + "\nU\tsite_a\tlocalhost\n").databases == databases


@pytest.mark.parametrize(
    ("stdout", "sizes"),
    [
        pytest.param(b"12\t/a/db.sqlite\x00", {"/a/db.sqlite": 12}, id="one"),
        pytest.param(
            b"0\t/a\x007\t/b c/d\te\x00", {"/a": 0, "/b c/d\te": 7}, id="empty file, tab in name"
        ),
        pytest.param(b"3\t/new\nline\x00", {"/new\nline": 3}, id="newline in a name"),
        pytest.param(b"", {}, id="nothing found"),
        pytest.param(b"x\t/a\x00\t/b\x009\x00", {}, id="malformed records skipped"),
    ],
)
def test_parse_sizes(stdout: bytes, sizes: dict[str, int]) -> None:
    assert parse_sizes(stdout) == sizes


@pytest.mark.parametrize("path", ["relative/db.sqlite", "-name", "", "/a\0b"])
def test_sizes_input_refuses_what_find_would_misread(path: str) -> None:
    with pytest.raises(ValueError, match="absolute"):
        sizes_input([path])


def test_sizes_command_measures_files_for_real(tmp_path: Path) -> None:
    """The argument list run here (GNU find and xargs, as on a server): sizes of the regular
    files named, through a symlink too; missing ones and directories left out."""
    odd = tmp_path / "we ird\tname\nx.sqlite"
    odd.write_bytes(b"x" * 4097)
    plain = tmp_path / "db.sqlite"
    plain.write_bytes(b"")
    link = tmp_path / "link.sqlite"
    link.symlink_to(odd)
    paths = [str(odd), str(plain), str(link), str(tmp_path / "missing"), str(tmp_path)]
    done = subprocess.run(
        sizes_argv(), input=sizes_input(paths), capture_output=True, check=False, timeout=30
    )
    assert parse_sizes(done.stdout) == {str(odd): 4097, str(plain): 0, str(link): 4097}


def _platform(
    docroot: str | None, database: ObservedDatabase | None
) -> tuple[ObservedPlatform, ObservedSite]:
    site = ObservedSite(name="a.example", path="/srv/p/web/sites/a.example", database=database)
    return ObservedPlatform("p", "/srv/p", docroot, "10.3.6", (site,)), site


@pytest.mark.parametrize(
    ("docroot", "database", "path"),
    [
        pytest.param(
            "web",
            ObservedDatabase("sqlite", "sites/a.example/private/db.sqlite"),
            "/srv/p/web/sites/a.example/private/db.sqlite",
            id="relative to the docroot, as Drupal reads it",
        ),
        pytest.param(
            ".",
            ObservedDatabase("sqlite", "sites/a.example/private/db.sqlite"),
            "/srv/p/sites/a.example/private/db.sqlite",
            id="a codebase that is its own docroot",
        ),
        pytest.param(
            "web",
            ObservedDatabase("sqlite", "/var/db/../db/a.sqlite"),
            "/var/db/a.sqlite",
            id="absolute",
        ),
        pytest.param(
            "web",
            ObservedDatabase("sqlite", "x.sqlite", dynamic=("database",)),
            None,
            id="computed at run time",
        ),
        pytest.param("web", ObservedDatabase("mysql", "a_example"), None, id="no SQLite site"),
        pytest.param("web", None, None, id="no $databases"),
    ],
)
def test_sqlite_path(docroot: str, database: ObservedDatabase | None, path: str | None) -> None:
    assert sqlite_path(*_platform(docroot, database)) == path
