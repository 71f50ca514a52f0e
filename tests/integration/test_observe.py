"""`reconciler observe` and `status` against real sshd test hosts holding real stand-in sites.

The fixtures install sites with the stand-in's drush (MariaDB and SQLite) on the rig hosts; what
observe reports must equal what the fixtures put there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rig.hosts import TestHost
from rig.mariadb import FreshDatabase

from reconciler.manifests.names import database_name

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _server_doc(
    host: TestHost, *, port: int | None = None, host_keys: list[str] | None = None
) -> str:
    keys = "".join(f"\n    - {k}" for k in host_keys or [])
    return f"""apiVersion: reconciler/v1
kind: Server
metadata: {{name: {host.name}}}
spec:
  host: 127.0.0.1
  port: {port or host.port}
  user: {host.user}{"" if not host_keys else chr(10) + "  hostKeys:" + keys}
  paths: {{platforms: {host.platforms}, backups: {host.backups}}}
  services:
    http: {{type: nginx, vhostDir: {host.vhost_dir}}}
    db: {{type: mariadb, adminDefaultsFile: {host.admin_defaults_file}}}
---
"""


def _platform_doc(host: TestHost, name: str = "std") -> str:
    return f"""apiVersion: reconciler/v1
kind: Platform
metadata: {{name: {name}-{host.name}}}
spec:
  server: {host.name}
  path: {host.platforms / name}
  source: {{git: {{url: /srv/standin.git, ref: 10.3.6}}}}
---
"""


def _site_doc(name: str, platform: str) -> str:
    return f"""apiVersion: reconciler/v1
kind: Site
metadata: {{name: {name}}}
spec: {{platform: {platform}}}
---
"""


def _install(host: TestHost, repo: Path, db: FreshDatabase | None, site: str) -> Path:
    platform = host.platforms / "std"
    if not (platform / "vendor").exists():
        host.run(["git", "clone", "--quiet", "--branch", "10.3.6", str(repo), str(platform)])
    if db is not None:
        url = f"mysql://{db.user}:{db.password}@{db.host}:{db.port}/{db.name}"
    else:
        url = f"sqlite://localhost/{platform}/web/sites/{site}/private/db.sqlite"
        host.run(["mkdir", "-p", f"{platform}/web/sites/{site}/private"])
    done = host.run(
        [
            str(platform / "vendor/bin/drush"),
            "site:install",
            "-y",
            f"--db-url={url}",
            f"--sites-subdir={site}",
            f"--site-name={site}",
        ],
        check=False,
    )
    assert done.returncode == 0, done.err
    files = platform / "web/sites" / site / "files"
    host.run(
        [
            "sh",
            "-c",
            'printf %0123d 0 > "$1/a.txt"; mkdir -p "$1/sub"; printf %07d 0 > "$1/sub/b"',
            "sh",
            str(files),
        ]
    )
    return platform


def _files_bytes(host: TestHost, path: Path) -> int:
    out = host.run(["find", str(path), "-type", "f", "-printf", "%s\\n"]).out
    return sum(int(x) for x in out.split())


def _repo(tmp_path: Path, text: str) -> Path:
    repo = tmp_path / "manifests"
    repo.mkdir()
    (repo / "all.yaml").write_text(text)
    return repo


def _run(
    repo: Path, host: TestHost | None, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    ssh = (
        []
        if host is None
        else ["--ssh-key", str(host.identity_file), "--known-hosts", str(host.known_hosts)]
    )
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args, "--repo", str(repo), "--worktree", *ssh],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def _host_key(host: TestHost) -> str:
    line = host.known_hosts.read_text().split("\n")[0]
    return " ".join(line.split()[1:3])


@pytest.fixture
def agent(rig_workspace: list[TestHost]) -> Iterator[dict[str, str]]:
    """An ssh-agent holding every rig host's client key: one identity for many servers."""
    out = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env = dict(os.environ)
    for name in ("SSH_AUTH_SOCK", "SSH_AGENT_PID"):
        env[name] = out.split(f"{name}=")[1].split(";")[0]
    try:
        for host in rig_workspace:
            subprocess.run(
                ["ssh-add", "-q", str(host.identity_file)], env=env, check=True, capture_output=True
            )
        yield env
    finally:
        subprocess.run(["ssh-agent", "-k"], env=env, capture_output=True, check=False)


def _observed_site(data: dict[str, Any], server: str, site: str) -> dict[str, Any]:
    for srv in data["servers"]:
        if srv["name"] == server:
            for platform in srv["platforms"]:
                for entry in platform["sites"]:
                    if entry["name"] == site:
                        return {**entry, "_platform": platform}
    raise AssertionError(f"{site} not observed on {server}")


def test_observe_one_host_reports_what_is_there(
    h01: TestHost, standin_repo: Path, fresh_db: Any, tmp_path: Path
) -> None:
    db = fresh_db()
    platform = _install(h01, standin_repo, db, "maria.example.com")
    _install(h01, standin_repo, None, "lite.example.com")
    name = f"std-{h01.name}"
    repo = _repo(
        tmp_path,
        _server_doc(h01)
        + _platform_doc(h01)
        + _site_doc("maria.example.com", name)
        + _site_doc("lite.example.com", name)
        + _site_doc("missing.example.com", name),
    )
    done = _run(repo, h01, "observe", "--format", "json")
    assert done.returncode == 0, done.stderr + done.stdout
    data = json.loads(done.stdout)
    (server,) = data["servers"]
    assert (server["name"], server["reachable"], server["error"]) == (h01.name, True, None)
    maria = _observed_site(data, h01.name, "maria.example.com")
    assert maria["_platform"]["name"] == name
    assert maria["_platform"]["coreVersion"] == "10.3.6"
    assert maria["_platform"]["docroot"] == "web"
    assert maria["database"]["driver"] == "mysql"
    assert maria["database"]["name"] == db.name
    assert maria["database"]["username"] == db.user
    assert int(maria["database"]["port"]) == db.port
    assert "password" not in json.dumps(maria["database"])
    assert db.password not in done.stdout
    site_dir = platform / "web/sites/maria.example.com"
    modes = h01.run(
        ["stat", "-c", "%a", str(site_dir), str(site_dir / "settings.php"), str(site_dir / "files")]
    ).out.split()
    assert maria["modes"]["siteDir"] == modes[0].rjust(4, "0")
    assert maria["modes"]["settings"] == modes[1].rjust(4, "0")
    assert maria["modes"]["files"] == modes[2].rjust(4, "0")
    assert maria["filesBytes"] == _files_bytes(h01, site_dir / "files") >= 130
    lite = _observed_site(data, h01.name, "lite.example.com")
    assert lite["database"]["driver"] == "sqlite"
    assert lite["database"]["name"].endswith("/sites/lite.example.com/private/db.sqlite")
    assert any(name == db.name for name in server["databaseServer"]["databases"])

    status = _run(repo, h01, "status", "--format", "json")
    assert status.returncode == 0, status.stderr
    rows = {s["name"]: s for s in json.loads(status.stdout)["sites"]}
    assert rows["maria.example.com"]["sync"] == "Synced"
    assert rows["maria.example.com"]["coreVersion"] == "10.3.6"
    assert rows["lite.example.com"]["sync"] == "Synced"
    assert rows["missing.example.com"]["sync"] == "Missing"
    text = _run(repo, h01, "status")
    assert "missing.example.com" in text.stdout and "Missing" in text.stdout


def test_observe_three_hosts_and_one_unreachable(
    rig_workspace: list[TestHost], standin_repo: Path, tmp_path: Path, agent: dict[str, str]
) -> None:
    docs = ""
    for host in rig_workspace:
        _install(host, standin_repo, None, f"site.{host.name}.example.com")
        docs += _server_doc(host, host_keys=[_host_key(host)]) + _platform_doc(host)
        docs += _site_doc(f"site.{host.name}.example.com", f"std-{host.name}")
    first = rig_workspace[0]
    stopped = _server_doc(first, port=1).replace(f"name: {first.name}}}", "name: stopped}")
    repo = _repo(tmp_path, docs + stopped)
    done = _run(repo, None, "observe", "--format", "json", env=agent)
    assert done.returncode == 1, done.stderr
    servers = {s["name"]: s for s in json.loads(done.stdout)["servers"]}
    assert servers["stopped"]["reachable"] is False
    assert "127.0.0.1" in servers["stopped"]["error"]
    for host in rig_workspace:
        site = _observed_site(
            {"servers": list(servers.values())}, host.name, f"site.{host.name}.example.com"
        )
        assert site["database"]["driver"] == "sqlite"
        assert site["_platform"]["coreVersion"] == "10.3.6"
    status = json.loads(_run(repo, None, "status", "--format", "json", env=agent).stdout)
    assert {s["name"]: s["reachable"] for s in status["servers"]}["stopped"] is False


def test_a_wrong_pinned_host_key_is_refused(h01: TestHost, tmp_path: Path) -> None:
    wrong = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOqT1m0cNwz7oNqS7JfDkQ8c1Zl3v9y4oA4k0mK2b7Yx"
    repo = _repo(tmp_path, _server_doc(h01, host_keys=[wrong]))
    done = _run(repo, h01, "observe", "--format", "json")
    assert done.returncode == 1
    (server,) = json.loads(done.stdout)["servers"]
    assert server["reachable"] is False
    assert "SHA256:" in server["error"]


def test_unmanaged_sites_are_reported(h01: TestHost, standin_repo: Path, tmp_path: Path) -> None:
    _install(h01, standin_repo, None, "stray.example.com")
    repo = _repo(tmp_path, _server_doc(h01) + _platform_doc(h01))
    done = _run(repo, h01, "status", "--format", "json")
    assert done.returncode == 0, done.stderr
    unmanaged = json.loads(done.stdout)["unmanaged"]
    assert {"kind": "Site", "name": "stray.example.com", "server": h01.name} in [
        {k: u[k] for k in ("kind", "name", "server")} for u in unmanaged
    ]
    assert database_name("stray.example.com").startswith("stray_example_com_")


HOSTILE = [
    "sp ace.example.com",
    "quo'te\"s",
    "new\nline",
    "$(touch PWNED)",
    "`touch PWNED`",
    "a;touch PWNED",
]


def test_hostile_names_over_ssh_are_reported_and_run_nothing(
    h01: TestHost, standin_repo: Path, tmp_path: Path
) -> None:
    platform = _install(h01, standin_repo, None, "base.example.com")
    sites = platform / "web/sites"
    source = sites / "base.example.com/settings.php"
    for name in HOSTILE:
        h01.run(["mkdir", "-p", str(sites / name / "files")])
        h01.run(["cp", str(source), str(sites / name / "settings.php")])
        h01.write_file(sites / name / "files" / f"f {name}", b"12345", 0o640)
    repo = _repo(tmp_path, _server_doc(h01) + _platform_doc(h01))
    done = _run(repo, h01, "observe", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    for name in HOSTILE:
        site = _observed_site(data, h01.name, name)
        assert site["filesBytes"] == 5
        assert site["database"]["driver"] == "sqlite"
    marker = h01.run(["find", str(h01.dir), "/home/aegir", "-name", "PWNED"], check=False).out
    assert marker == ""
