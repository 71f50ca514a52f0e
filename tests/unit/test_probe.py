"""The probe script run by a real POSIX sh on a layout made here, and its parser.

What the probe reports must equal what the layout holds, for hostile names too; and nothing a
site controls may execute: the names below would create a marker file if anything evaluated them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from reconciler.observe.probe import ProbeRequest, parse_probe, probe_command

SETTINGS = """<?php
/**
 * @code
 * $databases['default']['default'] = [
 *   'database' => 'databasename',
 * ];
 * @endcode
 */
$databases = [];
$settings['hash_salt'] = '';
$databases['default']['default'] = array (
  'database' => '{db}',
  'username' => '{db}',
  'password' => 'SECRET-PASSWORD',
  'prefix' => '',
  'host' => '127.0.0.1',
  'port' => 3306,
  'driver' => 'mysql',
);
"""
HOSTILE = [
    "we ird.example.com",
    "quote'd\"site",
    "new\nline",
    "$(touch PWNED)",
    "`touch PWNED`",
    "semi;touch PWNED",
    "TAR",
]


def _write(path: Path, text: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(mode)


def _codebase(root: Path, docroot: str, version: str) -> Path:
    web = root if docroot == "." else root / docroot
    _write(
        web / "core/lib/Drupal.php",
        f"<?php\nclass Drupal {{\n  const CORE_MINIMUM_SCHEMA_VERSION = 8000;\n"
        f"  const VERSION = '{version}';\n}}\n",
    )
    _write(web / "sites/default/default.settings.php", "<?php\n$databases = [];\n")
    (web / "sites/all/modules").mkdir(parents=True, exist_ok=True)
    return web


def _site(web: Path, name: str, db: str, files: dict[str, int]) -> None:
    site = web / "sites" / name
    _write(site / "settings.php", SETTINGS.replace("{db}", db), 0o440)
    for rel, size in files.items():
        _write(site / "files" / rel, b"x" * size, 0o660)
    (site / "files").mkdir(exist_ok=True)
    (site / "files").chmod(0o2770)
    (site / "private").mkdir(exist_ok=True)
    _write(site / "private" / "secret.txt", b"y" * 7, 0o660)
    (site / "private").chmod(0o2770)
    site.chmod(0o550)


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    platforms = tmp_path / "platforms"
    a = _codebase(platforms / "d10-3", "web", "10.3.6")
    _site(
        a,
        "www.example.com",
        "www_example_com_80fc0fb9",
        {".htaccess": 100, "a.txt": 1000, "styles/thumb/b.jpg": 2345},
    )
    _site(a, "shop.example.com", "shop", {})
    for index, name in enumerate(HOSTILE):
        _site(a, name, f"hostile{index}", {f"f {name}": 11})
    b = _codebase(platforms / "legacy", ".", "10.2.8")
    _site(b, "old.example.org", "old", {"x": 5})
    (platforms / "not-drupal").mkdir()
    outside = _codebase(tmp_path / "elsewhere" / "d11", "docroot", "11.0.1")
    _site(outside, "eleven.example.net", "eleven", {})
    _write(
        tmp_path / "backups/www.example.com/www.example.com-20260101T000000Z.tar.gz",
        b"z" * 99,
        0o600,
    )
    _write(
        tmp_path / "vhosts/www.example.com.conf",
        f"server {{\n  listen 80;\n  server_name www.example.com example.com;\n  root {a};\n}}\n",
    )
    return {"root": tmp_path, "platforms": platforms, "a": a, "b": b, "outside": outside}


def _run(request: ProbeRequest, cwd: Path) -> bytes:
    argv, script = probe_command(request)
    done = subprocess.run(
        argv,
        input=script,
        capture_output=True,
        cwd=cwd,
        check=False,
        timeout=60,
        env={**os.environ, "HOME": str(cwd)},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_probe_reports_what_the_layout_holds(layout: dict[str, Path]) -> None:
    root = layout["root"]
    request = ProbeRequest(
        platforms_root=str(layout["platforms"]),
        backups_root=str(root / "backups"),
        vhost_dir=str(root / "vhosts"),
        declared={
            "d10-3": (str(layout["platforms"] / "d10-3"), "web"),
            "d11": (str(root / "elsewhere" / "d11"), "docroot"),
            "gone": (str(layout["platforms"] / "gone"), "web"),
        },
    )
    observed = parse_probe("web1", request, _run(request, root))
    assert observed.reachable and observed.error is None, observed.problems
    assert not list(root.rglob("PWNED")), "the probe executed something a site controls"
    platforms = {p.path: p for p in observed.platforms}
    assert set(platforms) == {
        str(layout["platforms"] / "d10-3"),
        str(layout["platforms"] / "legacy"),
        str(layout["platforms"] / "not-drupal"),
        str(layout["platforms"] / "gone"),
        str(root / "elsewhere" / "d11"),
    }
    d10 = platforms[str(layout["platforms"] / "d10-3")]
    assert (d10.name, d10.docroot, d10.core_version) == ("d10-3", "web", "10.3.6")
    assert sorted(s.name for s in d10.sites) == sorted(
        ["www.example.com", "shop.example.com", *HOSTILE]
    )
    www = next(s for s in d10.sites if s.name == "www.example.com")
    assert www.database is not None
    assert (
        www.database.driver,
        www.database.name,
        www.database.host,
        www.database.port,
        www.database.username,
    ) == ("mysql", "www_example_com_80fc0fb9", "127.0.0.1", 3306, "www_example_com_80fc0fb9")
    assert (www.modes.site_dir, www.modes.settings, www.modes.files, www.modes.private) == (
        "0550",
        "0440",
        "2770",
        "2770",
    )
    assert www.files_bytes == 100 + 1000 + 2345
    assert www.private_bytes == 7
    assert www.path == f"{layout['a']}/sites/www.example.com"
    for index, name in enumerate(HOSTILE):
        site = next(s for s in d10.sites if s.name == name)
        assert site.database is not None and site.database.name == f"hostile{index}"
        assert site.files_bytes == 11
    legacy = platforms[str(layout["platforms"] / "legacy")]
    assert (legacy.name, legacy.docroot, legacy.core_version) == (None, ".", "10.2.8")
    assert [s.name for s in legacy.sites] == ["old.example.org"]
    assert platforms[str(layout["platforms"] / "not-drupal")].exists is False
    gone = platforms[str(layout["platforms"] / "gone")]
    assert (gone.name, gone.exists) == ("gone", False)
    d11 = platforms[str(root / "elsewhere" / "d11")]
    assert (d11.name, d11.docroot, d11.core_version) == ("d11", "docroot", "11.0.1")
    (backup,) = observed.backups
    assert (backup.site, backup.id, backup.size, backup.mode) == (
        "www.example.com",
        "www.example.com-20260101T000000Z",
        99,
        "0600",
    )
    (vhost,) = observed.vhosts
    assert vhost.server_names == ("www.example.com", "example.com")
    assert vhost.root == str(layout["a"])
    assert "SECRET-PASSWORD" not in json.dumps(observed.as_json())


def test_home_relative_paths_and_missing_roots(tmp_path: Path) -> None:
    web = _codebase(tmp_path / "demo" / "platforms" / "p1", "web", "10.3.6")
    _site(web, "alpha.localhost", "alpha", {"a": 3})
    request = ProbeRequest(
        platforms_root="~/demo/platforms",
        backups_root="~/demo/backups",
        vhost_dir="~/demo/vhosts",
        declared={"p1": ("~/demo/platforms/p1", "web")},
    )
    observed = parse_probe("local", request, _run(request, tmp_path))
    (platform,) = observed.platforms
    assert (platform.name, platform.path) == ("p1", f"{tmp_path}/demo/platforms/p1")
    assert [s.name for s in platform.sites] == ["alpha.localhost"]
    assert observed.home == str(tmp_path)
    assert any("backups directory" in p and "missing" in p for p in observed.problems)


@pytest.mark.parametrize(
    "output",
    [b"", b"garbage", b"V\x001\x00H\x00u\x00/h\x00", b"V\x001\x00ZZ\x00x\x00TAR-tok\x00"],
)
def test_damaged_output_is_an_error_not_an_exception(output: bytes) -> None:
    request = ProbeRequest(platforms_root="/p", backups_root="/b", token="tok")
    observed = parse_probe("web1", request, output)
    assert observed.error is not None or observed.problems


def test_symlinked_vhosts_are_read_through_their_links(tmp_path: Path) -> None:
    """Debian's layout: `sites-enabled/NAME` links to `sites-available/NAME`. The link is the
    vhost (its path is what nginx loads, and what a set-aside renames); its text and size are
    the target's. A dangling link is no vhost."""
    available, enabled = tmp_path / "sites-available", tmp_path / "vhosts"
    _write(
        available / "legacy", "server {\n  server_name a.example b.example;\n  root /srv/a;\n}\n"
    )
    enabled.mkdir()
    (enabled / "legacy").symlink_to(available / "legacy")
    (enabled / "gone").symlink_to(available / "gone")
    request = ProbeRequest(
        platforms_root=str(tmp_path / "platforms"),
        backups_root=str(tmp_path / "backups"),
        vhost_dir=str(enabled),
        declared={},
    )
    observed = parse_probe("web1", request, _run(request, tmp_path))
    (vhost,) = observed.vhosts
    assert vhost.path == str(enabled / "legacy")
    assert vhost.server_names == ("a.example", "b.example")
    assert vhost.root == "/srv/a"
    assert vhost.size == (available / "legacy").stat().st_size
