"""`reconciler compare` on the local transport: two checkouts of the STAND-IN platform (10.2.8 and
10.3.6) declared as existing platforms; the differences are exactly the stand-in's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BUILD_REPO = Path(__file__).resolve().parents[2] / "examples/standin-platform/build-repo.sh"

MANIFESTS = """apiVersion: reconciler/v1
kind: Server
metadata: {name: local}
spec:
  transport: local
  paths: {platforms: ~/platforms, backups: ~/backups}
  services:
    http: {type: builtin, port: 19590, vhostDir: ~/vhosts}
    db: {type: sqlite}
---
apiVersion: reconciler/v1
kind: Platform
metadata: {name: old}
spec: {server: local, source: {existing: true}, path: ~/platforms/d10-2}
---
apiVersion: reconciler/v1
kind: Platform
metadata: {name: new}
spec: {server: local, source: {existing: true}, path: ~/platforms/d10-3}
---
apiVersion: reconciler/v1
kind: Platform
metadata: {name: gone}
spec: {server: local, source: {existing: true}, path: ~/platforms/nowhere}
"""

CORE = {
    "claro": "theme",
    "node": "module",
    "olivero": "theme",
    "system": "module",
    "user": "module",
}
CONTRIB: list[dict[str, str | None]] = [
    {"name": "gin", "type": "theme", "a": "1.0.0", "b": "1.1.0"},
    {"name": "pathauto", "type": "module", "a": "1.12.0", "b": "1.13.0"},
    {"name": "redirect", "type": "module", "a": None, "b": "1.10.0"},
    {"name": "token", "type": "module", "a": "1.13.0", "b": "1.14.0"},
]
CORE_CHANGES: list[dict[str, str | None]] = [
    {"name": n, "type": t, "a": "10.2.8", "b": "10.3.6"} for n, t in CORE.items()
]
EXPECTED = CONTRIB + CORE_CHANGES


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("compare")
    home = base / "home"
    (home / "platforms").mkdir(parents=True)
    bare = base / "standin.git"
    subprocess.run([str(BUILD_REPO), str(bare)], check=True, capture_output=True)
    for tag, name in (("10.2.8", "d10-2"), ("10.3.6", "d10-3")):
        subprocess.run(
            ["git", "clone", "-q", "-b", tag, str(bare), str(home / "platforms" / name)],
            check=True,
            capture_output=True,
        )
    repo = base / "git"
    repo.mkdir()
    (repo / "all.yaml").write_text(MANIFESTS)
    return home


def _compare(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "compare",
            *args,
            "--repo",
            str(home.parent / "git"),
            "--worktree",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "HOME": str(home)},
    )


def _key(d: dict[str, str | None]) -> str:
    return str(d["name"])


def test_compare_json_lists_exactly_the_standin_differences(home: Path) -> None:
    done = _compare(home, "old", "new", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(json.loads(done.stdout), key=_key) == sorted(EXPECTED, key=_key)


def test_compare_table_and_reverse(home: Path) -> None:
    done = _compare(home, "new", "old")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:]}
    assert rows["redirect"] == ["module", "removed", "1.10.0", "-"]
    assert rows["token"] == ["module", "changed", "1.14.0", "1.13.0"]
    assert rows["gin"] == ["theme", "changed", "1.1.0", "1.0.0"]
    assert set(rows) == {d["name"] for d in EXPECTED}


def test_same_platform_has_no_differences(home: Path) -> None:
    done = _compare(home, "new", "new", "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("old", "nosuch"), "platform nosuch is not declared"),
        (("old", "gone"), "platform gone: no codebase at ~/platforms/nowhere on server local"),
    ],
)
def test_unknown_or_missing_platform_exits_1(
    home: Path, args: tuple[str, str], message: str
) -> None:
    done = _compare(home, *args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert message in done.stderr
