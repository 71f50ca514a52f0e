"""`reconciler validate` as a user runs it: every mistake reported with path:line, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from unit.builders import baseline, dump
from unit.gitrepo import commit, make_repo

SERVERS = b"""apiVersion: reconciler/v1
kind: Server
metadata:
  name: web1
spec:
  host: web1.example.net
  port: 70000
  pathz:
    platforms: /srv/platforms
  services:
    http: {type: nginx}
    db: {type: mariadb}
"""
PLATFORMS = b"""apiVersion: reconciler/v1
kind: Platform
metadata:
  name: d10
spec:
  server: web9
  source: {git: {url: "https://git.example.net/p.git", ref: "10.3.6"}}
"""
SITES = b"""apiVersion: reconciler/v1
kind: Site
metadata:
  name: "a.example.com; rm -rf /"
spec:
  platform: d10
---
apiVersion: reconciler/v1
kind: Site
metadata:
  name: b.example.com
spec:
  platform: d10
  aliases: ["$(reboot).example.com"]
  state: gone
"""
EXPECTED = {
    ("servers.yaml", 7): "spec.port",
    ("servers.yaml", 8): "unknown field 'pathz'",
    ("platforms.yaml", 6): "no Server named 'web9'",
    ("sites.yaml", 4): "metadata.name",
    ("sites.yaml", 14): "spec.aliases[0]",
    ("sites.yaml", 15): "spec.state",
}
FIXED = {
    "servers.yaml": SERVERS.replace(b"70000", b"22").replace(b"pathz", b"paths"),
    "platforms.yaml": PLATFORMS.replace(b"web9", b"web1"),
    "sites.yaml": SITES.replace(b"; rm -rf /", b"")
    .replace(b'"$(reboot).example.com"', b"b2.example.com")
    .replace(b"gone", b"disabled"),
}


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_six_mistakes_in_three_files_are_all_reported_then_fixed(tmp_path: Path) -> None:
    repo = make_repo(
        tmp_path / "r",
        {"servers.yaml": SERVERS, "platforms.yaml": PLATFORMS, "sites.yaml": SITES},
    )
    done = run("validate", "--repo", str(repo))
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if not line.startswith(" ")]
    for (path, line), text in EXPECTED.items():
        matching = [x for x in lines if x.startswith(f"{path}:{line}:") and text in x]
        assert matching, f"{path}:{line} {text!r} missing from:\n{done.stdout}"
    assert "6 error(s) in 3 file(s)." in done.stdout
    assert done.stdout.count("    hint: ") == 6

    as_json = json.loads(run("validate", "--repo", str(repo), "--format", "json").stdout)
    assert as_json["valid"] is False
    assert {(e["path"], e["line"]) for e in as_json["errors"]} == set(EXPECTED)
    assert all(set(e) == {"path", "line", "column", "message", "hint"} for e in as_json["errors"])

    commit(repo, dict(FIXED), "fix the six mistakes")
    done = run("validate", "--repo", str(repo))
    assert done.returncode == 0, done.stdout
    assert done.stdout.strip().startswith("Valid: 1 servers, 1 platforms, 2 sites at ")


def test_global_options_before_or_after_the_command(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r", {"hosting/m.yaml": dump(baseline())})
    before = run("--repo", str(repo), "--path", "hosting", "validate", "--format", "json")
    after = run("validate", "--format", "json", "--repo", str(repo), "--path", "hosting")
    assert before.returncode == after.returncode == 0
    assert json.loads(before.stdout) == json.loads(after.stdout)
    # a value after the command wins over one before it
    mixed = run("--path", "elsewhere", "validate", "--repo", str(repo), "--path", "hosting")
    assert mixed.returncode == 0, mixed.stderr


def test_unreadable_repository_exits_1_with_a_hint(tmp_path: Path) -> None:
    done = run("validate", "--repo", str(tmp_path / "missing"))
    assert done.returncode == 1
    assert "error: repository" in done.stderr and "hint:" in done.stderr
    assert "Traceback" not in done.stderr
    as_json = run("validate", "--repo", str(tmp_path / "missing"), "--format", "json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["valid"] is False


def test_usage_errors_exit_1_not_2() -> None:
    done = run("validate", "--no-such-option")
    assert done.returncode == 1
    assert "No such option" in done.stderr


def test_warnings_and_skipped_documents_are_shown(tmp_path: Path) -> None:
    docs = baseline()
    docs[0]["spec"]["user"] = "root"
    other = b"---\napiVersion: apps/v1\nkind: Deployment\n"
    repo = make_repo(tmp_path / "r", {"m.yaml": dump(docs) + other})
    done = run("validate", "--repo", str(repo))
    assert done.returncode == 0
    assert "warning: Server web1: logging in as root" in done.stdout
    assert "skipped: apiVersion 'apps/v1' is not reconciler/..." in done.stdout
    data = json.loads(run("validate", "--repo", str(repo), "--format", "json").stdout)
    assert data["skipped"] == ["m.yaml"]
    assert data["warnings"][0]["message"] == "Server web1: logging in as root"
