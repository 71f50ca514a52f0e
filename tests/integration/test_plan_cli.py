"""`reconciler plan` against a real sshd test host holding a real stand-in site (SQLite).

The stand-in's drush installs a site on h01; its settings.php is then chmodded to drift. The plan
must name the drift with its reason (a `site.verify`), and a declared site that is not there must
be a `site.install`; with `--detailed-exitcode` the command exits 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rig.hosts import TestHost

pytestmark = pytest.mark.integration


def _manifests(host: TestHost, platform: str) -> str:
    return f"""apiVersion: reconciler/v1
kind: Server
metadata: {{name: {host.name}}}
spec:
  host: 127.0.0.1
  port: {host.port}
  user: {host.user}
  paths: {{platforms: {host.platforms}, backups: {host.backups}}}
  services:
    http: {{type: nginx, vhostDir: {host.vhost_dir}}}
    db: {{type: sqlite}}
---
apiVersion: reconciler/v1
kind: Platform
metadata: {{name: {platform}}}
spec:
  server: {host.name}
  path: {host.platforms / "std"}
  source: {{git: {{url: /srv/standin.git, ref: 10.3.6}}}}
---
apiVersion: reconciler/v1
kind: Site
metadata: {{name: lite.example.com}}
spec: {{platform: {platform}}}
---
apiVersion: reconciler/v1
kind: Site
metadata: {{name: missing.example.com}}
spec: {{platform: {platform}}}
"""


def _install_sqlite_site(host: TestHost, repo: Path, site: str) -> Path:
    platform = host.platforms / "std"
    if not (platform / "vendor").exists():
        host.run(["git", "clone", "--quiet", "--branch", "10.3.6", str(repo), str(platform)])
    host.run(["mkdir", "-p", f"{platform}/web/sites/{site}/private"])
    done = host.run(
        [
            str(platform / "vendor/bin/drush"),
            "site:install",
            "-y",
            f"--db-url=sqlite://localhost/{platform}/web/sites/{site}/private/db.sqlite",
            f"--sites-subdir={site}",
            f"--site-name={site}",
        ],
        check=False,
    )
    assert done.returncode == 0, done.err
    return platform / "web/sites" / site


def test_plan_names_mode_drift_and_a_missing_site(
    h01: TestHost, standin_repo: Path, tmp_path: Path
) -> None:
    site_dir = _install_sqlite_site(h01, standin_repo, "lite.example.com")
    h01.run(["chmod", "u+w", str(site_dir)])
    h01.run(["chmod", "0666", str(site_dir / "settings.php")])
    repo = tmp_path / "manifests"
    repo.mkdir()
    (repo / "all.yaml").write_text(_manifests(h01, f"std-{h01.name}"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            "plan",
            "--format",
            "json",
            "--detailed-exitcode",
            "--repo",
            str(repo),
            "--worktree",
            "--ssh-key",
            str(h01.identity_file),
            "--known-hosts",
            str(h01.known_hosts),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, done.stderr + done.stdout
    data = json.loads(done.stdout)
    actions = {a["id"]: a for a in data["actions"]}
    verify = actions["site.verify:lite.example.com"]
    assert verify["kind"] == "site.verify"
    assert verify["object"] == {"kind": "Site", "name": "lite.example.com"}
    assert verify["server"] == h01.name
    assert "settings.php mode is 0666, want 0440" in verify["reason"]
    install = actions["site.install:missing.example.com"]
    assert install["kind"] == "site.install"
    assert "no site directory on" in install["reason"]
    assert data["summary"]["add"] == 1
    assert data["summary"]["change"] >= 1
    assert data["summary"]["delete"] == 0
