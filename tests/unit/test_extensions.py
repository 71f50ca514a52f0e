"""The `*.info.yml` listing's parser and the comparison of two inventories."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.drivers.extensions import (
    Difference,
    Extension,
    compare_extensions,
    listing_argv,
    parse_listing,
)

LISTING = """docroot\t/srv/p/web
core\t10.3.6
file\t/srv/p/web/core/modules/node/node.info.yml
type: module
version: VERSION
file\t/srv/p/web/core/themes/claro/claro.info.yml
type: theme
file\t/srv/p/web/core/modules/system/tests/modules/fixture/fixture.info.yml
type: module
version: VERSION
file\t/srv/p/web/modules/contrib/token/token.info.yml
type: module
version: '1.14.0'
file\t/srv/p/web/modules/contrib/pathauto/pathauto.info.yml
type: module
version: "1.13.0" # packaging
file\t/srv/p/web/modules/custom/mine/mine.info.yml
type: module
file\t/srv/p/web/themes/contrib/gin/gin.info.yml
type: theme
version: 1.1.0
file\t/srv/p/web/modules/contrib/token/token.info.yml
"""


@pytest.mark.parametrize(
    ("name", "type_", "version"),
    [
        ("node", "module", "10.3.6"),  # version: VERSION -> core
        ("claro", "theme", "10.3.6"),  # core without a version line -> core
        ("token", "module", "1.14.0"),  # single quotes
        ("pathauto", "module", "1.13.0"),  # double quotes and a comment
        ("mine", "module", None),  # custom code without a version
        ("gin", "theme", "1.1.0"),  # plain scalar
    ],
)
def test_parse_listing(name: str, type_: str, version: str | None) -> None:
    found = parse_listing(LISTING)[name]
    assert (found.type, found.version) == (type_, version)


def test_test_fixtures_are_skipped() -> None:
    assert "fixture" not in parse_listing(LISTING)
    assert len(parse_listing(LISTING)) == 6


def test_empty_listing() -> None:
    assert parse_listing("") == {}
    assert parse_listing("docroot\t/x\n") == {}


def test_listing_argv_passes_the_root_as_an_argument() -> None:
    argv = listing_argv("~/platforms/a b")
    assert argv[:2] == ["sh", "-c"] and argv[-1] == "~/platforms/a b"


def test_the_listing_skips_tests_vcs_and_the_sites_files(tmp_path: Path) -> None:
    """Run here with `sh`: user files under sites/*/files and private/ are never walked (they can
    hold millions of files), nor tests/, .git or node_modules; a root named `tests` is still
    listed."""
    root = tmp_path / "tests"
    info = "type: module\nversion: '1.0'\n"
    kept = ["web/core/modules/node/node.info.yml", "web/modules/contrib/foo/foo.info.yml"]
    skipped = [
        "web/core/modules/node/tests/modules/t/t.info.yml",
        "web/sites/a.example/files/evil/evil.info.yml",
        "web/sites/a.example/private/p/p.info.yml",
        "web/modules/contrib/foo/.git/g/g.info.yml",
        "web/themes/t/node_modules/n/n.info.yml",
    ]
    for rel in (*kept, *skipped):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(info)
    (root / "web/core/lib").mkdir(parents=True)
    (root / "web/core/lib/Drupal.php").write_text("<?php\n  const VERSION = '10.3.6';\n")
    done = subprocess.run(listing_argv(str(root)), capture_output=True, text=True, check=True)
    assert set(parse_listing(done.stdout)) == {"node", "foo"}


def _ext(name: str, type_: str, version: str | None) -> Extension:
    return Extension(name, type_, version, f"/x/{name}.info.yml")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([("token", "module", "1.13.0")], [("token", "module", "1.14.0")], "changed"),
        ([], [("redirect", "module", "1.10.0")], "added"),
        ([("gin", "theme", "1.0.0")], [], "removed"),
        ([("x", "module", None)], [("x", "module", "1.0.0")], "changed"),
    ],
)
def test_compare_one(
    a: list[tuple[str, str, str | None]], b: list[tuple[str, str, str | None]], expected: str
) -> None:
    diffs = compare_extensions(
        {n: _ext(n, t, v) for n, t, v in a}, {n: _ext(n, t, v) for n, t, v in b}
    )
    assert len(diffs) == 1 and diffs[0].change == expected


def test_compare_skips_equal_and_other_types() -> None:
    a = {"token": _ext("token", "module", "1"), "standard": _ext("standard", "profile", "10.2.8")}
    b = {"token": _ext("token", "module", "1"), "standard": _ext("standard", "profile", "10.3.6")}
    assert compare_extensions(a, b) == []
    assert compare_extensions(a, b, types=("profile",)) == [
        Difference("standard", "profile", "10.2.8", "10.3.6")
    ]
    assert Difference("a", "module", None, "1").to_json() == {
        "name": "a",
        "type": "module",
        "a": None,
        "b": "1",
    }
