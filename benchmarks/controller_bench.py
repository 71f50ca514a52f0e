"""The controller's figures: commit-to-converged latency, and its memory with many sites declared.

    .venv/bin/python benchmarks/controller_bench.py [--sites 30] [--commits 20]
        [--rss-sizes 1000 10000] [--skip-latency] [--skip-rss]        (as root)

Latency (needs the integration rig: `scripts/setup-test-host.sh` run once as root): starts
h01-h03 as the tests do (under their session lease), commits to a local git repository the
manifests of one platform per host and `--sites` MariaDB sites spread over them, starts
`reconciler run --auto-apply --self-heal` on it and waits until they converge (the first
convergence, timed too); then makes `--commits` commits, each adding one site (round-robin over
the hosts), and times each from `git commit` returning until `/api/status` shows that site
`Synced` and `Healthy` with nothing left to do for it: the controller sees the commit (file
watching), observes, plans, installs the site (database, settings.php, site:install, vhost, nginx
reload, health), observes again and publishes. Prints every latency, the median and the 95th
percentile. The sites' databases and users are dropped at the end.

RSS (no rig): for each size N, a repository declaring N sites on one `local` server whose
directories are empty, and `reconciler run` in plan-only mode (no `--auto-apply`) on it: once
`/readyz` answers (the manifests loaded, the server observed, the plan of N installs made and
recorded, the status published), the process's resident memory (VmRSS) and its peak (VmHWM) are
read from /proc. Prints MiB per size.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
if str(TESTS) not in sys.path:  # the rig is the top-level package `rig` of tests/
    sys.path.insert(0, str(TESTS))

from integration.controller_proc import (  # noqa: E402
    ControllerProc,
    ManifestRepo,
    local_manifests,
    wait_until,
)
from rig import fixtures, gitrepos, hosts, layout, mariadb, procs, web  # noqa: E402
from rig.hosts import TestHost  # noqa: E402
from rig.manifests import platform_yaml, server_yaml, site_yaml  # noqa: E402

from reconciler.manifests.names import database_name  # noqa: E402

NO_CRON = {"cron": {"interval": 0}}


# ---------------------------------------------------------------- latency on the rig


@contextlib.contextmanager
def extra_host(tag: str) -> Iterator[TestHost]:
    """h04 (the rig's extra host, which the tests' rig never starts), scoped to `tag`; stopped
    again afterwards when it was started here."""
    spec = layout.EXTRA_HOST_SPECS[0]
    with hosts.held_exclusively(spec):
        yield from _extra_host(spec, tag)


def _extra_host(spec: layout.HostSpec, tag: str) -> Iterator[TestHost]:
    started = hosts.sshd_pid(spec) is None or web.nginx_pid(spec) is None
    hosts.prepare_host_tree(spec)
    hosts.start_sshd(spec)
    web.start_web(spec)
    hosts.wait_sshd(spec)
    web.wait_web(spec)
    try:
        with fixtures.scoped_dirs(hosts.make_host(spec).scoped(tag)) as host:
            yield host
    finally:
        if started:
            web.stop_web(spec)
            hosts.stop_sshd(spec)


@contextlib.contextmanager
def rig(tag: str, extra: bool) -> Iterator[list[TestHost]]:
    layout.BASE.mkdir(mode=0o755, exist_ok=True)
    lease = procs.SessionLease(layout.BASE)
    with lease.starting():
        started = fixtures.start_rig()
    try:
        with contextlib.ExitStack() as stack:
            scoped = stack.enter_context(fixtures.workspace(started, tag))
            if extra:
                scoped = [*scoped, stack.enter_context(extra_host(tag))]
            yield scoped
    finally:
        try:
            if lease.leave():
                fixtures.stop_rig()
        finally:
            lease.done()


@contextlib.contextmanager
def agent(targets: list[TestHost]) -> Iterator[dict[str, str]]:
    out = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env = {k: out.split(f"{k}=")[1].split(";")[0] for k in ("SSH_AUTH_SOCK", "SSH_AGENT_PID")}
    full = {**os.environ, **env}
    try:
        for host in targets:
            subprocess.run(["ssh-add", "-q", str(host.identity_file)], env=full, check=True)
        yield env
    finally:
        subprocess.run(["ssh-agent", "-k"], env=full, capture_output=True, check=False)


def _docs(targets: list[TestHost], standin: Path, sites: list[str]) -> list[str]:
    docs = []
    for host in targets:
        docs += [server_yaml(host, concurrency=2), platform_yaml(f"p-{host.name}", host, standin)]
    for i, site in enumerate(sites):
        docs.append(site_yaml(site, f"p-{targets[i % len(targets)].name}", **NO_CRON))
    return docs


def _converged(controller: ControllerProc, site: str) -> bool:
    status = controller.status()
    plan = status.get("pendingPlan") or {"actions": []}
    if any(a["object"]["name"] == site for a in plan["actions"]):
        return False
    row = next((s for s in status["sites"] if s["name"] == site), None)
    return row is not None and row["sync"] == "Synced" and row["health"] == "Healthy"


def _probe(controller: ControllerProc, site: str) -> Callable[[], bool]:
    return lambda: _converged(controller, site)


def latency(n_sites: int, commits: int, extra: bool) -> None:
    token = secrets.token_hex(3)
    names = [f"b{i:04d}-{token}.example.com" for i in range(n_sites + commits)]
    admin = mariadb.admin()
    work = Path(tempfile.mkdtemp(prefix="controller-bench-"))
    repos = gitrepos.repo_dir()
    try:
        with rig("bench" + token, extra) as rig_hosts, agent(rig_hosts) as env:
            standin = gitrepos.build_standin_repo(repos / "standin.git")
            if extra:  # h04's git trusts the rig's repositories only when told (as trust_repo)
                gitconfig = layout.EXTRA_HOST_SPECS[0].dir / "gitconfig"
                config = ["git", "config", "--file", str(gitconfig)]
                subprocess.run([*config, "--add", "safe.directory", str(standin)], check=True)
            repo = ManifestRepo(work / "git")
            repo.commit(*_docs(rig_hosts, standin, names[:n_sites]))
            args = ("--auto-apply", "--self-heal", "--backoff-base", "1s")
            controller = ControllerProc(
                repo, rig_hosts, work / "journal.sqlite", args, env=env, use_key=False
            )
            started = time.monotonic()
            controller.start()
            try:
                controller.wait_converged(names[:n_sites], bound=1800)
                first = time.monotonic() - started
                where = f"{len(rig_hosts)} hosts"
                print(f"first convergence of {n_sites} sites on {where}: {first:.1f} s")
                times = []
                for i in range(commits):
                    site = names[n_sites + i]
                    repo.commit(*_docs(rig_hosts, standin, names[: n_sites + i + 1]))
                    t0 = time.monotonic()
                    wait_until(f"{site} converged", _probe(controller, site), 300)
                    times.append(time.monotonic() - t0)
                    print(f"  commit {i + 1:2d}: {times[-1]:.2f} s", flush=True)
            finally:
                controller.stop()
            ordered = sorted(times)
            p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
            print(
                f"commit-to-converged over {commits} commits, {n_sites}+ sites on {where}: "
                f"median {statistics.median(times):.2f} s, p95 {p95:.2f} s"
            )
    finally:
        for site in names:
            db = database_name(site)
            admin.run_sql(f"DROP DATABASE IF EXISTS `{db}`")
            for host in ("localhost", "127.0.0.1"):
                admin.run_sql(f"DROP USER IF EXISTS '{db}'@'{host}'")
        subprocess.run(["rm", "-rf", str(work), str(repos)], check=False)


# ---------------------------------------------------------------- memory, plan only


def _proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def rss(size: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="controller-rss-"))
    try:
        repo = ManifestRepo(work / "git")
        repo.commit(*local_manifests(work, [f"m{i:05d}.bench.example.com" for i in range(size)]))
        controller = ControllerProc(repo, [], work / "journal.sqlite", ())
        controller.argv = lambda: _rss_argv(controller)  # type: ignore[method-assign]
        started = time.monotonic()
        controller.start(bound=120)
        try:
            wait_until("ready", lambda: controller.get("/readyz")[0] == 200, 600, 0.5)
            ready = time.monotonic() - started
            assert controller.proc is not None
            pid = controller.proc.pid
            now, peak = _proc_kib(pid, "VmRSS"), _proc_kib(pid, "VmHWM")
            plan = controller.status()["pendingPlan"]
            actions = len(plan["actions"]) if plan else 0
        finally:
            controller.stop()
        print(
            f"{size:6d} sites declared: ready in {ready:.1f} s, plan of {actions} actions; "
            f"RSS {now / 1024:.0f} MiB (peak {peak / 1024:.0f} MiB)"
        )
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)


def _rss_argv(controller: ControllerProc) -> list[str]:
    return [
        sys.executable,
        "-m",
        "reconciler",
        "run",
        "--repo",
        str(controller.repo.path),
        "--branch",
        "main",
        "--state",
        str(controller.state),
        "--listen",
        "127.0.0.1:0",
        "--log-format",
        "json",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sites", type=int, default=30)
    parser.add_argument("--commits", type=int, default=20)
    parser.add_argument("--rss-sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-rss", action="store_true")
    parser.add_argument(
        "--extra-host", action="store_true", help="A fourth host (h04) for the latency part."
    )
    args = parser.parse_args()
    if not args.skip_latency:
        if os.geteuid() != 0:
            raise SystemExit("controller_bench: the latency part runs as root (the rig)")
        latency(args.sites, args.commits, args.extra_host)
    if not args.skip_rss:
        for size in args.rss_sizes:
            rss(size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
