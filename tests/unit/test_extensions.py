"""The `*.info.yml` listing's parser and the comparison of two inventories."""

from __future__ import annotations

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
    assert "*.info.yml" in argv[2] and "*/tests/*" in argv[2]


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
