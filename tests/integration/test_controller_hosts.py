"""`reconciler run` with three test hosts, one of them down: a broken server stalls only its own.

h01 and h02 are the rig's; the third is h04 (the rig's extra host, which no other test uses), so
that stopping its sshd never disturbs another test or session sharing the rig. Its nginx and
PHP-FPM run; its sshd is stopped while the controller starts. The other hosts' sites converge;
h04's are retried with growing delays, visible as `retry: {attempts, nextAt}` in
`/api/status`; once its sshd starts again, they converge and their retry state is cleared.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rig import fixtures, hosts, layout, procs, web
from rig.hosts import TestHost
from rig.manifests import platform_yaml, server_yaml, site_yaml
from rig.mariadb import MariaDBAdmin

from integration.controller_proc import ControllerProc, ManifestRepo, running, wait_until
from reconciler.manifests.names import database_name

pytestmark = pytest.mark.integration

EXTRA = layout.EXTRA_HOST_SPECS[0]
SITES_PER_HOST = 3


def _git_config(*args: str) -> None:
    config = ["git", "config", "--file", str(EXTRA.dir / "gitconfig")]
    subprocess.run([*config, *args], capture_output=True, check=False)


@contextlib.contextmanager
def extra_host(tag: str, repo: Path) -> Iterator[TestHost]:
    """h04 with nginx and PHP-FPM running and its sshd stopped, scoped to `tag`, its git
    trusting `repo` (as the rig's hosts trust the rig's repositories); afterwards its directories
    removed, `repo` untrusted and its daemons stopped unless they ran before. Held exclusively
    meanwhile: another pytest session or a benchmark sharing the rig would start its sshd."""
    with hosts.held_exclusively(EXTRA):
        yield from _extra_host(tag, repo)


def _extra_host(tag: str, repo: Path) -> Iterator[TestHost]:
    hosts.prepare_host_tree(EXTRA)
    _git_config("--add", "safe.directory", str(repo))
    had_web = web.nginx_pid(EXTRA) is not None
    had_sshd = hosts.sshd_pid(EXTRA) is not None
    web.start_web(EXTRA)
    web.wait_web(EXTRA)
    hosts.stop_sshd(EXTRA)
    if procs.port_open(layout.LOOPBACK, EXTRA.ssh_port):
        raise AssertionError(
            f"port {EXTRA.ssh_port} of {EXTRA.name} still answers after its sshd stopped"
        )
    try:
        with fixtures.scoped_dirs(hosts.make_host(EXTRA).scoped(tag)) as host:
            yield host
    finally:
        _git_config("--fixed-value", "--unset-all", "safe.directory", str(repo))
        if had_sshd:
            hosts.start_sshd(EXTRA)
        else:
            hosts.stop_sshd(EXTRA)
        if not had_web:
            web.stop_web(EXTRA)


@pytest.fixture
def agent(rig_workspace: list[TestHost]) -> Iterator[dict[str, str]]:
    """An ssh-agent holding the client keys of h01, h02 and h04."""
    hosts.prepare_host_tree(EXTRA)
    out = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env = {
        name: out.split(f"{name}=")[1].split(";")[0] for name in ("SSH_AUTH_SOCK", "SSH_AGENT_PID")
    }
    try:
        for key in (*(h.identity_file for h in rig_workspace[:2]), EXTRA.dir / "client_ed25519"):
            subprocess.run(
                ["ssh-add", "-q", str(key)],
                env={**os.environ, **env},
                check=True,
                capture_output=True,
            )
        yield env
    finally:
        subprocess.run(
            ["ssh-agent", "-k"], env={**os.environ, **env}, capture_output=True, check=False
        )


@pytest.fixture
def sites(mariadb_admin: MariaDBAdmin) -> Iterator[dict[str, list[str]]]:
    token = secrets.token_hex(3)
    names = {
        host: [f"s{i}-{host}-{token}.example.com" for i in range(SITES_PER_HOST)]
        for host in ("h01", "h02", "h04")
    }
    try:
        yield names
    finally:
        for site in (s for group in names.values() for s in group):
            db = database_name(site)
            mariadb_admin.run_sql(f"DROP DATABASE IF EXISTS `{db}`")
            for host in ("localhost", "127.0.0.1"):
                mariadb_admin.run_sql(f"DROP USER IF EXISTS '{db}'@'{host}'")


def _retries(controller: ControllerProc, names: list[str]) -> dict[str, Any] | None:
    rows = controller.sites()
    found = {name: rows[name]["retry"] for name in names}
    return found if all(found.values()) else None


@pytest.mark.timeout(360)  # three liveness bounds in a row: convergence, retries, convergence
def test_a_stopped_host_delays_only_its_own_sites(
    rig_workspace: list[TestHost],
    agent: dict[str, str],
    standin_repo: Path,
    tmp_path: Path,
    sites: dict[str, list[str]],
) -> None:
    h01, h02 = rig_workspace[:2]
    with extra_host(tmp_path.name[-20:] + secrets.token_hex(2), standin_repo) as h04:
        docs = []
        for host in (h01, h02, h04):
            platform = f"p-{host.name}"
            docs += [server_yaml(host), platform_yaml(platform, host, standin_repo)]
            docs += [site_yaml(s, platform, cron={"interval": 0}) for s in sites[host.name]]
        repo = ManifestRepo(tmp_path / "git")
        repo.commit(*docs)
        args = ("--auto-apply", "--backoff-base", "1s", "--backoff-max", "8s")
        controller = ControllerProc(
            repo, [h01, h02, h04], tmp_path / "journal.sqlite", args, env=agent, use_key=False
        )
        with running(controller):
            controller.wait_converged(sites["h01"] + sites["h02"], bound=90)
            down = sites["h04"]
            seen: list[tuple[int, str]] = []

            def growing() -> bool:
                retries = _retries(controller, down)
                if retries is None:
                    return False
                first = retries[down[0]]
                point = (int(first["attempts"]), str(first["nextAt"]))
                if not seen or seen[-1] != point:
                    seen.append(point)
                return len(seen) >= 3

            # with --backoff-max 8s a retry comes every few seconds (each an observe of a host
            # that refuses connections); h04 is held exclusively, so no other run restarts it
            try:
                wait_until(f"three retry points of {down[0]}", growing, 150)
            except AssertionError as exc:
                status = controller.status()
                rows = {s["name"]: s.get("retry") for s in status["sites"] if s["name"] in down}
                reach = {s["name"]: s["reachable"] for s in status["servers"]}
                detail = f"seen {seen}; retries {rows}; reachable {reach}"
                raise AssertionError(f"{exc}\n{detail}\n{controller.tail(60)}") from None
            attempts = [a for a, _ in seen]
            next_times = [t for _, t in seen]
            assert attempts == sorted(attempts) and len(set(attempts)) == len(attempts), seen
            assert next_times == sorted(next_times), seen
            status = controller.status()
            unreachable = {s["name"]: s["reachable"] for s in status["servers"]}
            assert unreachable == {"h01": True, "h02": True, "h04": False}

            hosts.start_sshd(EXTRA)
            hosts.wait_sshd(EXTRA)
            rows = controller.wait_converged(down, bound=90)
            assert all(rows[name]["retry"] is None for name in down), rows
