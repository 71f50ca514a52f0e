"""Manifests for rig hosts, and running the `reconciler` command line against them.

`server_yaml` declares a TestHost as a `Server` (its sshd, its nginx with the rig's own test and
reload commands, MariaDB through the login user's admin options file); `Cli` runs
`python -m reconciler` with the host's SSH key and known_hosts and a journal of the test's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rig.hosts import TestHost

__all__ = ["Cli", "platform_yaml", "server_yaml", "site_yaml", "ssh_agent"]


@contextlib.contextmanager
def ssh_agent(hosts: Sequence[TestHost]) -> Iterator[dict[str, str]]:
    """An ssh-agent holding every host's client key; the environment that reaches it."""
    out = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env = dict(os.environ)
    for name in ("SSH_AUTH_SOCK", "SSH_AGENT_PID"):
        env[name] = out.split(f"{name}=")[1].split(";")[0]
    try:
        for host in hosts:
            subprocess.run(
                ["ssh-add", "-q", str(host.identity_file)], env=env, check=True, capture_output=True
            )
        yield env
    finally:
        subprocess.run(["ssh-agent", "-k"], env=env, capture_output=True, check=False)


def server_yaml(host: TestHost, *, db: str = "mariadb", concurrency: int = 2) -> str:
    cnf = host.admin_defaults_file
    db_service = (
        "{type: sqlite}"
        if db == "sqlite"
        else f"{{type: {db}, host: 127.0.0.1, port: 3306, adminDefaultsFile: {cnf}}}"
    )
    return f"""apiVersion: reconciler/v1
kind: Server
metadata: {{name: {host.name}}}
spec:
  host: 127.0.0.1
  port: {host.port}
  user: {host.user}
  concurrency: {concurrency}
  paths: {{platforms: {host.platforms}, backups: {host.backups}}}
  services:
    http:
      type: nginx
      vhostDir: {host.vhost_dir}
      port: {host.http_port}
      listenAddress: 127.0.0.1
      fastcgi: unix:{host.php_fpm_socket}
      testCommand: {json.dumps(host.nginx_test_cmd)}
      reloadCommand: {json.dumps(host.nginx_reload_cmd)}
    db: {db_service}
"""


def platform_yaml(name: str, host: TestHost, repo: Path, ref: str = "10.3.6") -> str:
    return f"""apiVersion: reconciler/v1
kind: Platform
metadata: {{name: {name}}}
spec:
  server: {host.name}
  path: {host.platforms / name}
  source: {{git: {{url: {repo}, ref: {ref}}}}}
"""


def site_yaml(name: str, platform: str, **spec: Any) -> str:
    fields = {"platform": platform, **spec}
    return f"""apiVersion: reconciler/v1
kind: Site
metadata: {{name: {name}}}
spec: {json.dumps(fields)}
"""


@dataclass
class Cli:
    """`reconciler` run on a manifests directory (read with `--worktree`)."""

    repo: Path
    hosts: Sequence[TestHost]
    state: Path
    env: dict[str, str] | None = None
    """With an environment reaching an ssh-agent (`ssh_agent`): no `--ssh-key`, every host's
    key through the agent (an `--ssh-key` would be the only key tried)."""

    def write(self, *docs: str) -> None:
        self.repo.mkdir(parents=True, exist_ok=True)
        (self.repo / "manifests.yaml").write_text("---\n".join(docs))

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        host = self.hosts[0]
        known = self.repo.parent / "known_hosts"
        known.write_text("".join(h.known_hosts.read_text() for h in self.hosts))
        argv = [
            sys.executable,
            "-m",
            "reconciler",
            *args,
            "--repo",
            str(self.repo),
            "--worktree",
            "--state",
            str(self.state),
            *(["--ssh-key", str(host.identity_file)] if self.env is None else []),
            "--known-hosts",
            str(known),
        ]
        env = {**(os.environ if self.env is None else self.env), "COLUMNS": "200"}
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
