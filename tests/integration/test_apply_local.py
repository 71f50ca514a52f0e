"""`reconciler apply` on the embedded default's shape: the local transport, SQLite, PHP's built-in
web server, the STAND-IN platform from a local git repository; `HOME` is the test's own directory.

Covers what the nginx/MariaDB lifecycle does not: a platform whose build fails (its sites are
skipped, not half-installed), disable/enable through the built-in server, delete of a SQLite site
with its backup, and a platform deleted once no site is on it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BUILD_REPO = Path(__file__).resolve().parents[2] / "examples/standin-platform/build-repo.sh"
BASE_PORT = 19480


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "home"
    home.mkdir()
    subprocess.run([str(BUILD_REPO), str(home / "standin.git")], check=True, capture_output=True)
    try:
        yield home
    finally:
        out = subprocess.run(
            ["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True, check=True
        ).stdout
        for line in out.splitlines():
            pid, _, args = line.strip().partition(" ")
            if " -S 127.0.0.1:" in args and str(home) in args:
                os.kill(int(pid), signal.SIGKILL)


def _manifests(
    home: Path, sites: dict[str, str], *, url: str = "~/standin.git", platform: str = "present"
) -> str:
    docs = [
        f"""apiVersion: reconciler/v1
kind: Server
metadata: {{name: local}}
spec:
  transport: local
  paths: {{platforms: ~/platforms, backups: ~/backups}}
  services:
    http: {{type: builtin, port: {BASE_PORT}, vhostDir: ~/vhosts}}
    db: {{type: sqlite}}
""",
        f"""apiVersion: reconciler/v1
kind: Platform
metadata: {{name: std}}
spec:
  server: local
  state: {platform}
  source: {{git: {{url: {url}, ref: 10.3.6}}}}
""",
    ]
    docs += [
        f"apiVersion: reconciler/v1\nkind: Site\nmetadata: {{name: {name}}}\n"
        f"spec: {{platform: std, state: {state}}}\n"
        for name, state in sites.items()
    ]
    return "---\n".join(docs)


def _apply(home: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    repo = home.parent / "git"
    repo.mkdir(exist_ok=True)
    (repo / "all.yaml").write_text(text)
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            *args,
            "--repo",
            str(repo),
            "--worktree",
            "--state",
            str(home.parent / "journal.sqlite"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def _get(home: Path, site: str) -> int:
    port = int((home / "vhosts" / f"{site}.port").read_text())
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_a_failed_build_skips_its_sites(home: Path) -> None:
    done = _apply(
        home,
        _manifests(home, {"a.localhost": "present"}, url="~/nowhere.git"),
        "apply",
        "--yes",
        "--format",
        "json",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    results = {r["id"]: r for r in json.loads(done.stdout)["results"]}
    build = results["platform.build:std"]
    assert build["result"] == "failed"
    assert "nowhere.git" in build["error"]
    install = results["site.install:a.localhost"]
    assert install["result"] == "skipped"
    assert "platform.build:std did not succeed" in install["error"]
    assert not (home / "platforms" / "std").exists()
    assert not list((home / "platforms").glob("*.reconciler-build"))


def test_disable_enable_delete_and_platform_delete(home: Path) -> None:
    sites = {"a.localhost": "present", "b.localhost": "present"}
    done = _apply(home, _manifests(home, sites), "apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _get(home, "a.localhost") == 200 and _get(home, "b.localhost") == 200
    db = home / "platforms/std/web/sites/a.localhost/private/db.sqlite"
    assert oct(db.stat().st_mode & 0o7777) == "0o660"

    done = _apply(home, _manifests(home, {**sites, "a.localhost": "disabled"}), "apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _get(home, "a.localhost") == 503 and db.exists()
    done = _apply(home, _manifests(home, sites), "apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _get(home, "a.localhost") == 200

    gone = {"a.localhost": "absent", "b.localhost": "absent"}
    done = _apply(home, _manifests(home, gone), "apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    for site in gone:
        assert not (home / "platforms/std/web/sites" / site).exists()
        assert not (home / "vhosts" / f"{site}.port").exists()
        (backup,) = (home / "backups" / site).glob(f"{site}-*.tar.gz")
        with tarfile.open(backup) as tar:
            names = tar.getnames()
        assert names[0] == "manifest.json" and "database.sql" in names
    sites_php = (home / "platforms/std/web/sites/sites.php").read_text()
    assert "a.localhost" not in sites_php and "b.localhost" not in sites_php

    done = _apply(home, _manifests(home, {}, platform="absent"), "apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "platform.delete std" in done.stdout
    assert not (home / "platforms" / "std").exists()
    again = _apply(home, _manifests(home, {}, platform="absent"), "plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
