"""Site directory fragments, run by dash in a temporary platform: the modes and group of the
contract's table after prepare and seal, the check before and after, and what is refused."""

from __future__ import annotations

import grp
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from reconciler.drivers.sitefiles import (
    SUBDIRS,
    modes_check,
    prepare_site_dir_script,
    seal_site_dir_script,
    unseal_site_dir_script,
)

PRELUDE = "set -eu\numask 077\n"  # what every step script starts with
GROUP = grp.getgrgid(os.getgid()).gr_name
GID = os.getgid()


def sh() -> str:
    path = shutil.which("dash")
    assert path is not None, "dash must be installed: the fragments are POSIX sh"
    return path


def run(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sh(), "-c", PRELUDE + script], capture_output=True, text=True, timeout=60
    )


def ok(script: str) -> None:
    result = run(script)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def sealed(site: Path) -> bool:
    return run(modes_check(str(site), GROUP)).returncode == 0


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "web" / "sites").mkdir(parents=True)
    return tmp_path / "web" / "sites" / "www.example.com"


def prepared(site: Path) -> Path:
    """*site* prepared, with a settings.php, a sqlite database and some content."""
    ok(prepare_site_dir_script(str(site), GROUP))
    (site / "settings.php").write_text("<?php\n")
    os.chmod(site / "settings.php", 0o644)
    (site / "private" / "db.sqlite").write_bytes(b"")
    os.chmod(site / "private" / "db.sqlite", 0o600)
    (site / "files" / "styles" / "thumb").mkdir(parents=True)
    os.chmod(site / "files" / "styles", 0o755)
    (site / "files" / "styles" / "thumb" / "a.png").write_bytes(b"png")
    (site / "files" / "upload.txt").write_text("x")
    os.chmod(site / "files" / "upload.txt", 0o666)
    return site


def seal(site: Path, sqlite: bool = True) -> None:
    db = str(site / "private" / "db.sqlite") if sqlite else None
    ok(seal_site_dir_script(str(site), GROUP, db))


def test_prepare_makes_the_directories(site: Path) -> None:
    ok(prepare_site_dir_script(str(site), GROUP))
    assert mode(site) == 0o750
    assert site.stat().st_gid == GID
    for sub in SUBDIRS:
        assert mode(site / sub) == 0o2770, sub
        assert (site / sub).stat().st_gid == GID, sub
    assert sorted(p.name for p in site.iterdir()) == ["files", "private"]
    assert sorted(p.name for p in (site / "private").iterdir()) == ["config", "tmp"]


def test_prepare_reopens_a_sealed_site_and_keeps_its_content(site: Path) -> None:
    prepared(site)
    seal(site)
    ok(prepare_site_dir_script(str(site), GROUP))
    assert mode(site) == 0o750
    assert mode(site / "settings.php") == 0o440
    assert (site / "files" / "upload.txt").read_text() == "x"


def test_seal_sets_every_mode_of_the_table(site: Path) -> None:
    prepared(site)
    seal(site)
    assert mode(site) == 0o550
    assert mode(site / "settings.php") == 0o440
    assert mode(site / "private" / "db.sqlite") == 0o660
    for sub in (*SUBDIRS, "files/styles", "files/styles/thumb"):
        assert mode(site / sub) == 0o2770, sub
    for file in ("files/upload.txt", "files/styles/thumb/a.png"):
        assert mode(site / file) == 0o660, file
    for path in [site, *site.rglob("*")]:
        assert path.lstat().st_gid == GID, path


def test_seal_clears_a_set_group_id_bit_inherited_from_sites(site: Path) -> None:
    os.chmod(site.parent, 0o2775)  # a platform whose sites/ is set-group-ID
    prepared(site)
    assert site.stat().st_mode & stat.S_ISGID
    assert not sealed(site)
    seal(site)
    assert mode(site) == 0o550
    assert sealed(site)


def test_check_fails_before_sealing_and_passes_after(site: Path) -> None:
    assert not sealed(site)  # nothing there
    prepared(site)
    assert not sealed(site)
    seal(site)
    assert sealed(site)
    ok(unseal_site_dir_script(str(site)))
    assert mode(site) == 0o750
    assert not sealed(site)
    seal(site, sqlite=False)
    assert sealed(site)


@pytest.mark.parametrize(
    ("path", "new_mode"),
    [
        ("files/upload.txt", 0o666),
        ("files/styles/thumb/a.png", 0o644),
        ("private/db.sqlite", 0o600),
        ("files/styles", 0o775),
        ("private/tmp", 0o770),  # the setgid bit lost
        ("private/config/sync", 0o2775),
        ("files", 0o2771),
        ("settings.php", 0o640),
        (".", 0o750),
    ],
)
def test_a_changed_mode_fails_the_check_and_seal_fixes_it(
    site: Path, path: str, new_mode: int
) -> None:
    prepared(site)
    seal(site)
    os.chmod(site / path, new_mode)
    assert mode(site / path) == new_mode
    assert not sealed(site)
    seal(site)
    assert sealed(site)
    assert mode(site / path) in (0o660, 0o2770, 0o440, 0o550)


def other_group() -> grp.struct_group:
    for group in grp.getgrall():
        if group.gr_gid != GID:
            return group
    raise AssertionError("this machine has a single group")


def a_group_we_may_give() -> int:
    """Another group than ours that this process may give a file: any group as root, else one
    of its supplementary groups (the suite runs as root: the rig needs it)."""
    if os.geteuid() == 0:
        return other_group().gr_gid
    mine = [g for g in os.getgroups() if g != GID]
    assert mine, "run as root, or as a user in a second group: the test changes a file's group"
    return mine[0]


def test_a_changed_group_fails_the_check_and_seal_fixes_it(site: Path) -> None:
    prepared(site)
    seal(site)
    os.chown(site / "files" / "styles" / "thumb" / "a.png", -1, a_group_we_may_give())
    assert not sealed(site)
    seal(site)
    assert (site / "files" / "styles" / "thumb" / "a.png").stat().st_gid == GID
    assert sealed(site)


def test_a_missing_directory_fails_the_check(site: Path) -> None:
    prepared(site)
    seal(site)
    os.chmod(site, 0o750)
    (site / "private" / "tmp").rmdir()
    os.chmod(site, 0o550)
    assert not sealed(site)
    ok(prepare_site_dir_script(str(site), GROUP))
    seal(site)
    assert sealed(site)


def test_seal_never_follows_a_symbolic_link(tmp_path: Path, site: Path) -> None:
    prepared(site)
    outside = tmp_path / "outside.txt"
    outside.write_text("not the site's")
    os.chmod(outside, 0o604)
    other = other_group().gr_gid if os.geteuid() == 0 else GID
    os.chown(outside, -1, other)
    (site / "files" / "link").symlink_to(outside)
    (site / "files" / "dirlink").symlink_to(tmp_path)
    seal(site)
    assert mode(outside) == 0o604
    assert outside.stat().st_gid == other
    assert mode(tmp_path) != 0o2770
    assert sealed(site)


def test_seal_fails_without_settings_php(site: Path) -> None:
    ok(prepare_site_dir_script(str(site), GROUP))
    result = run(seal_site_dir_script(str(site), GROUP, None))
    assert result.returncode != 0
    assert "settings.php" in result.stderr


def test_seal_fails_without_the_sqlite_database(site: Path) -> None:
    prepared(site)
    (site / "private" / "db.sqlite").unlink()
    result = run(seal_site_dir_script(str(site), GROUP, str(site / "private" / "db.sqlite")))
    assert result.returncode != 0
    assert "db.sqlite" in result.stderr


def test_check_of_another_group_fails(site: Path) -> None:
    prepared(site)
    seal(site)
    assert run(modes_check(str(site), other_group().gr_name)).returncode != 0


@pytest.mark.parametrize(
    "site_dir",
    [
        "sites/www.example.com",
        "/p/web/www.example.com",
        "/p/web/sites",
        "/p/web/sites/",
        "/p/web/sites/.",
        "/p/web/sites/..",
        "/p/web/sites/../sites/x",
        "/p/web//sites/x",
        "/p/web/sites/x\n",
        "/p/web/sites/x\0",
        "",
    ],
)
def test_bad_site_dirs_are_refused(site_dir: str) -> None:
    with pytest.raises(ValueError, match="site_dir"):
        prepare_site_dir_script(site_dir, GROUP)
    with pytest.raises(ValueError, match="site_dir"):
        seal_site_dir_script(site_dir, GROUP, None)
    with pytest.raises(ValueError, match="site_dir"):
        unseal_site_dir_script(site_dir)
    with pytest.raises(ValueError, match="site_dir"):
        modes_check(site_dir, GROUP)


@pytest.mark.parametrize("group", ["", "1000", "www data", "-rf", "a;b", "a\nb", "g" * 33, "$(id)"])
def test_bad_groups_are_refused(group: str) -> None:
    site_dir = "/p/web/sites/www.example.com"
    with pytest.raises(ValueError, match="group"):
        prepare_site_dir_script(site_dir, group)
    with pytest.raises(ValueError, match="group"):
        seal_site_dir_script(site_dir, group, None)
    with pytest.raises(ValueError, match="group"):
        modes_check(site_dir, group)


@pytest.mark.parametrize("sqlite_path", ["private/db.sqlite", "/a/../db.sqlite", "/a\n/db"])
def test_bad_sqlite_paths_are_refused(sqlite_path: str) -> None:
    with pytest.raises(ValueError, match="sqlite_path"):
        seal_site_dir_script("/p/web/sites/www.example.com", GROUP, sqlite_path)


def test_a_trailing_slash_is_accepted(site: Path) -> None:
    ok(prepare_site_dir_script(str(site) + "/", GROUP))
    assert mode(site) == 0o750
