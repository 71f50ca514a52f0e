"""sites.php fragments, run by dash in a temporary platform: entries added once, remapped,
removed, checked, read back by PHP, and never lost by two edits under one lock."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from reconciler.drivers.sitesphp import (
    HEADER_COMMENT,
    add_entries_script,
    entries_check,
    entry_line,
    remove_entries_script,
)

PRELUDE = "set -eu\numask 077\n"  # what every step script starts with


def sh() -> str:
    path = shutil.which("dash")
    assert path is not None, "dash must be installed: the fragments are POSIX sh"
    return path


def run(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sh(), "-c", PRELUDE + script], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def ok(script: str, cwd: Path) -> None:
    result = run(script, cwd)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def check(sites_php: Path, entries: Sequence[tuple[str, str]]) -> bool:
    return run(entries_check(str(sites_php), entries), sites_php.parent).returncode == 0


def lines(sites_php: Path) -> list[str]:
    return sites_php.read_text().splitlines()


def php_sites(sites_php: Path) -> dict[str, str]:
    """$sites as Drupal reads it (it sets `$sites = []` before including the file)."""
    php = shutil.which("php")
    assert php is not None, "php (php-cli) must be on PATH for these tests"
    code = "$sites = []; include $argv[1]; echo json_encode($sites, JSON_FORCE_OBJECT);"
    out = subprocess.run(
        [php, "-r", code, str(sites_php)], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stderr == ""
    sites: dict[str, str] = json.loads(out.stdout)
    return sites


@pytest.fixture
def sites_php(tmp_path: Path) -> Path:
    (tmp_path / "sites").mkdir()
    return tmp_path / "sites" / "sites.php"


A = ("www.a.example", "www.a.example")
A_ALIAS = ("a.example", "www.a.example")
A_PORT = ("8081.127.0.0.1", "www.a.example")
B = ("b.example", "b.example")


def test_add_creates_the_file(sites_php: Path) -> None:
    assert not check(sites_php, [A])
    ok(add_entries_script(str(sites_php), [A, A_PORT]), sites_php.parent)
    assert lines(sites_php) == [
        "<?php",
        HEADER_COMMENT,
        "$sites['www.a.example'] = 'www.a.example';",
        "$sites['8081.127.0.0.1'] = 'www.a.example';",
    ]
    assert stat.S_IMODE(sites_php.stat().st_mode) == 0o644
    assert check(sites_php, [A, A_PORT])
    assert php_sites(sites_php) == {"www.a.example": "www.a.example", "8081.127.0.0.1": A[1]}
    assert sorted(p.name for p in sites_php.parent.iterdir()) == ["sites.php"]  # no temp files


def test_add_again_changes_nothing(sites_php: Path) -> None:
    script = add_entries_script(str(sites_php), [A, A_ALIAS])
    ok(script, sites_php.parent)
    before = sites_php.read_bytes()
    inode = sites_php.stat().st_ino
    ok(script, sites_php.parent)
    ok(add_entries_script(str(sites_php), [A_ALIAS]), sites_php.parent)
    assert sites_php.read_bytes() == before
    assert sites_php.stat().st_ino == inode  # not even rewritten
    assert lines(sites_php).count(entry_line(*A)) == 1


def test_add_a_second_site_keeps_the_first(sites_php: Path) -> None:
    ok(add_entries_script(str(sites_php), [A, A_ALIAS]), sites_php.parent)
    ok(add_entries_script(str(sites_php), [B]), sites_php.parent)
    assert lines(sites_php)[2:] == [entry_line(*A), entry_line(*A_ALIAS), entry_line(*B)]
    assert check(sites_php, [A, A_ALIAS, B])
    assert php_sites(sites_php) == {
        "www.a.example": "www.a.example",
        "a.example": "www.a.example",
        "b.example": "b.example",
    }


def test_a_key_is_remapped_in_place_of_its_old_line(sites_php: Path) -> None:
    ok(add_entries_script(str(sites_php), [A_ALIAS, B]), sites_php.parent)
    moved = ("a.example", "b.example")
    assert not check(sites_php, [moved])
    ok(add_entries_script(str(sites_php), [moved]), sites_php.parent)
    assert lines(sites_php)[2:] == [entry_line(*B), entry_line(*moved)]
    assert check(sites_php, [moved, B])
    assert not check(sites_php, [A_ALIAS])
    assert php_sites(sites_php) == {"a.example": "b.example", "b.example": "b.example"}


def test_a_later_conflicting_line_is_removed_and_the_check_sees_it(sites_php: Path) -> None:
    ok(add_entries_script(str(sites_php), [A_ALIAS]), sites_php.parent)
    with sites_php.open("a") as f:
        f.write("$sites['a.example'] = 'b.example';\n")
    assert php_sites(sites_php)["a.example"] == "b.example"
    assert not check(sites_php, [A_ALIAS])
    ok(add_entries_script(str(sites_php), [A_ALIAS]), sites_php.parent)
    assert check(sites_php, [A_ALIAS])
    assert php_sites(sites_php) == {"a.example": "www.a.example"}


def test_remove_leaves_the_other_sites(sites_php: Path) -> None:
    ok(add_entries_script(str(sites_php), [A, B, A_ALIAS, A_PORT]), sites_php.parent)
    ok(remove_entries_script(str(sites_php), A[1]), sites_php.parent)
    assert lines(sites_php) == ["<?php", HEADER_COMMENT, entry_line(*B)]
    assert stat.S_IMODE(sites_php.stat().st_mode) == 0o644
    assert not check(sites_php, [A])
    assert check(sites_php, [B])
    assert php_sites(sites_php) == {"b.example": "b.example"}
    before = sites_php.read_bytes()
    ok(remove_entries_script(str(sites_php), A[1]), sites_php.parent)  # again: nothing to do
    assert sites_php.read_bytes() == before
    assert sorted(p.name for p in sites_php.parent.iterdir()) == ["sites.php"]


def test_remove_matches_the_directory_exactly(sites_php: Path) -> None:
    entries = [("x.example", "a.example"), ("y.example", "www.a.example"), ("a.example", "b.a")]
    ok(add_entries_script(str(sites_php), entries), sites_php.parent)
    ok(remove_entries_script(str(sites_php), "a.example"), sites_php.parent)
    assert lines(sites_php)[2:] == [entry_line(*e) for e in entries[1:]]


def test_remove_without_a_file_does_nothing(sites_php: Path) -> None:
    ok(remove_entries_script(str(sites_php), A[1]), sites_php.parent)
    assert list(sites_php.parent.iterdir()) == []


def test_other_lines_are_kept(sites_php: Path) -> None:
    hand = [
        "<?php",
        "/**",
        " * $sites['www.a.example'] = 'other'; (a comment)",
        " */",
        '$sites["hand.example"] = "b.example";',
        "  $sites['indented.example'] = 'b.example';",
    ]
    sites_php.write_text("\n".join(hand))  # no final newline
    ok(add_entries_script(str(sites_php), [A]), sites_php.parent)
    assert lines(sites_php) == [*hand, entry_line(*A)]
    ok(remove_entries_script(str(sites_php), "b.example"), sites_php.parent)
    ok(remove_entries_script(str(sites_php), A[1]), sites_php.parent)
    assert lines(sites_php) == hand
    assert php_sites(sites_php) == {"hand.example": "b.example", "indented.example": "b.example"}


def test_a_closing_tag_is_refused(sites_php: Path) -> None:
    text = "<?php\n$sites['x.example'] = 'x.example';\n?>\n"
    sites_php.write_text(text)
    result = run(add_entries_script(str(sites_php), [A]), sites_php.parent)
    assert result.returncode != 0
    assert "?>" in result.stderr
    assert sites_php.read_text() == text
    assert sorted(p.name for p in sites_php.parent.iterdir()) == ["sites.php"]


def test_add_with_no_entries_makes_an_empty_sites_php(sites_php: Path) -> None:
    ok(add_entries_script(str(sites_php), []), sites_php.parent)
    assert lines(sites_php) == ["<?php", HEADER_COMMENT]
    assert php_sites(sites_php) == {}
    assert check(sites_php, [])


def test_mode_is_set_on_an_existing_file(sites_php: Path) -> None:
    ok(add_entries_script(str(sites_php), [A]), sites_php.parent)
    os.chmod(sites_php, 0o600)
    ok(add_entries_script(str(sites_php), [A]), sites_php.parent)
    assert stat.S_IMODE(sites_php.stat().st_mode) == 0o644


def test_concurrent_adds_under_flock_lose_nothing(tmp_path: Path, sites_php: Path) -> None:
    flock = shutil.which("flock")
    assert flock is not None
    lock = tmp_path / "platform.lock"
    wanted: list[tuple[str, str]] = []
    for n in range(20):
        pair = [(f"s{n}-{side}.example", f"s{n}-{side}.example") for side in "ab"]
        procs = [
            subprocess.Popen(
                [flock, str(lock), sh(), "-c", PRELUDE + add_entries_script(str(sites_php), [e])],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for e in pair
        ]
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        wanted += pair
        assert check(sites_php, wanted), f"round {n}: an entry was lost"
    assert sorted(lines(sites_php)[2:]) == sorted(entry_line(*e) for e in wanted)
    assert php_sites(sites_php) == dict(wanted)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "Www.example.com",
        "www.example.com.",
        ".example.com",
        "a..b",
        "-a.example",
        "a-.example",
        "a_b.example",
        "a'b",
        "a b",
        "a\nb",
        "a\\b",
        "a.*",
        "[ab]",
        "$x",
        "a/b",
        "x" * 64 + ".example",
        ("a" * 63 + ".") * 4 + "a",
    ],
)
def test_bad_names_are_refused(name: str) -> None:
    path = "/p/web/sites/sites.php"
    with pytest.raises(ValueError, match="not a lower-case host name"):
        add_entries_script(path, [(name, "a.example")])
    with pytest.raises(ValueError, match="not a lower-case host name"):
        add_entries_script(path, [("a.example", name)])
    with pytest.raises(ValueError, match="not a lower-case host name"):
        remove_entries_script(path, name)
    with pytest.raises(ValueError, match="not a lower-case host name"):
        entries_check(path, [(name, "a.example")])


@pytest.mark.parametrize(
    "path", ["sites/sites.php", "/p/web/sites/sites.php.bak", "/p/web/sites/", "/p/\n/sites.php"]
)
def test_bad_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="sites_php"):
        add_entries_script(path, [A])
    with pytest.raises(ValueError, match="sites_php"):
        remove_entries_script(path, A[1])
    with pytest.raises(ValueError, match="sites_php"):
        entries_check(path, [A])


def test_a_key_mapped_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="mapped to both"):
        add_entries_script("/p/web/sites/sites.php", [A_ALIAS, ("a.example", "b.example")])


def test_a_repeated_entry_is_written_once(sites_php: Path) -> None:
    ok(add_entries_script(str(sites_php), [A, A, A_ALIAS, A]), sites_php.parent)
    assert lines(sites_php)[2:] == [entry_line(*A), entry_line(*A_ALIAS)]


def test_entry_line() -> None:
    assert entry_line("8080.127.0.0.1", "www.example.com") == (
        "$sites['8080.127.0.0.1'] = 'www.example.com';"
    )
