"""`reconciler plan` as a user runs it, on a real git repository and this host (local transport).

A fake codebase in a temporary directory (a `core/lib/Drupal.php` with a VERSION, site directories
with a settings.php) is what the local probe observes; no Drupal and no SSH server are needed.
"""

from __future__ import annotations

import grp
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from unit.gitrepo import make_repo

ROOT = Path(__file__).resolve().parents[2]


def _server(base: Path) -> str:
    return f"""apiVersion: reconciler/v1
kind: Server
metadata: {{name: here}}
spec:
  transport: local
  paths: {{platforms: {base}/platforms, backups: {base}/backups}}
  services:
    http: {{type: nginx, vhostDir: {base}/vhosts}}
    db: {{type: sqlite}}
---
apiVersion: reconciler/v1
kind: Platform
metadata: {{name: p1}}
spec: {{server: here, source: {{existing: true}}}}
"""


def _site(name: str, state: str = "present") -> str:
    return f"""---
apiVersion: reconciler/v1
kind: Site
metadata: {{name: {name}}}
spec: {{platform: p1, state: {state}}}
"""


UNREACHABLE = """---
apiVersion: reconciler/v1
kind: Server
metadata: {name: down}
spec: {host: 127.0.0.1, port: 1, services: {http: {type: nginx}, db: {type: mariadb}}}
"""


@pytest.fixture
def host(tmp_path: Path) -> Path:
    base = tmp_path / "host"
    core = base / "platforms/p1/web/core/lib"
    core.mkdir(parents=True)
    (core / "Drupal.php").write_text("<?php\nclass Drupal {\n  const VERSION = '10.3.6';\n}\n")
    for name in ("a.example.com", "b.example.com"):
        site = base / "platforms/p1/web/sites" / name
        (site / "files").mkdir(parents=True)
        (site / "private").mkdir()
        (site / "settings.php").write_text(
            "<?php\n$databases['default']['default'] = ['driver' => 'sqlite', 'database' => 'x'];\n"
        )
    (base / "vhosts").mkdir()
    (base / "backups").mkdir()
    return base


def _plan(tmp_path: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    repo = make_repo(tmp_path / f"repo{len(list(tmp_path.iterdir()))}", {"m.yaml": text.encode()})
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", "--repo", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def _converge(base: Path, name: str) -> None:
    """Put a fake site in the state CONTRACT.md wants: modes, group, and its vhost."""
    site = base / "platforms/p1/web/sites" / name
    for sub in ("files", "private"):
        (site / sub).chmod(0o2770)
    (site / "settings.php").chmod(0o440)
    site.chmod(0o550)
    (base / "vhosts" / f"{name}.conf").write_text(
        f"server {{\n    server_name {name};\n    root {base}/platforms/p1/web;\n}}\n"
    )


def test_no_changes_exits_0(host: Path, tmp_path: Path) -> None:
    group = grp.getgrgid(os.getgid()).gr_name
    text = _server(host).replace("type: nginx,", f"type: nginx, group: {group},")
    text += _site("a.example.com") + _site("b.example.com")
    drifted = _plan(tmp_path, text, "--detailed-exitcode", "--format", "json")
    assert drifted.returncode == 2, drifted.stderr
    reasons = " ".join(a["reason"] for a in json.loads(drifted.stdout)["actions"])
    assert "settings.php mode is 0644, want 0440" in reasons
    assert "is missing" in reasons  # the vhost
    for name in ("a.example.com", "b.example.com"):
        _converge(host, name)
    try:
        done = _plan(tmp_path, text, "--detailed-exitcode")
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.splitlines()[-2].startswith("No changes. The servers match git at ")
        assert done.stdout.splitlines()[-1] == "Plan: 0 to add, 0 to change, 0 to delete."
    finally:
        for name in ("a.example.com", "b.example.com"):
            (host / "platforms/p1/web/sites" / name).chmod(0o750)


def test_empty_plan_says_no_changes(host: Path, tmp_path: Path) -> None:
    text = _server(host).split("---")[0]  # the server only: nothing declared on it
    done = _plan(tmp_path, text, "--detailed-exitcode")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2].startswith("No changes. The servers match git at ")
    assert done.stdout.splitlines()[-1] == "Plan: 0 to add, 0 to change, 0 to delete."


def test_changes_pending_exit_2_only_with_detailed_exitcode(host: Path, tmp_path: Path) -> None:
    text = _server(host) + _site("a.example.com", "absent") + _site("c.example.com")
    done = _plan(tmp_path, text)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "Plan: 1 to add, 0 to change, 1 to delete."
    assert "  + site.install c.example.com on here — declared in git" in done.stdout
    assert "  - site.delete a.example.com on here — declared absent" in done.stdout
    assert "  Site b.example.com on here" in done.stdout  # Unmanaged, listed only
    done = _plan(tmp_path, text, "--detailed-exitcode", "--format", "json")
    assert done.returncode == 2, done.stderr
    data = json.loads(done.stdout)
    assert [a["id"] for a in data["actions"]] == [
        "site.install:c.example.com",
        "site.delete:a.example.com",
    ]
    assert data["unmanaged"] == [{"kind": "Site", "name": "b.example.com", "server": "here"}]
    md = _plan(tmp_path, text, "--format", "markdown").stdout
    assert md.startswith("**Plan: 1 to add, 0 to change, 1 to delete.**")


def test_max_deletes_and_prune(host: Path, tmp_path: Path) -> None:
    text = _server(host) + _site("a.example.com", "absent")
    done = _plan(tmp_path, text, "--max-deletes", "0", "--detailed-exitcode")
    assert done.returncode == 1
    assert "plan refused" in done.stderr and "--max-deletes 1" in done.stderr
    done = _plan(tmp_path, text, "--prune", "--format", "json", "--detailed-exitcode")
    assert done.returncode == 2, done.stderr
    kinds = [(a["kind"], a["object"]["name"]) for a in json.loads(done.stdout)["actions"]]
    assert kinds == [("site.delete", "a.example.com"), ("site.delete", "b.example.com")]
    done = _plan(tmp_path, text, "--prune", "--max-deletes", "1")
    assert done.returncode == 1 and "plan refused" in done.stderr


def test_unreachable_server_exits_1_with_the_plan(host: Path, tmp_path: Path) -> None:
    text = _server(host) + _site("c.example.com") + UNREACHABLE
    done = _plan(tmp_path, text, "--detailed-exitcode")
    assert done.returncode == 1
    assert "server down could not be observed" in done.stdout
    assert "  + site.install c.example.com" in done.stdout
    assert "incomplete" in done.stderr


def test_invalid_manifests_exit_1(tmp_path: Path) -> None:
    done = _plan(tmp_path, "apiVersion: reconciler/v1\nkind: Site\n", "--detailed-exitcode")
    assert done.returncode == 1
    assert done.stdout == ""
