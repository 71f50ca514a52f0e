"""Wall clock of `reconciler apply` on the test rig: 20 sites over 4 hosts, `concurrency` 1 vs 2.

    .venv/bin/python benchmarks/apply_bench.py [--rounds N]     (as root)

Starts the integration rig (h01-h03 as the tests do, plus h04; run scripts/setup-test-host.sh
as root once first), builds the STAND-IN platform repository, and for each `concurrency` (1, then
2) in a fresh workspace writes the manifests of 4 servers (one per host), one platform per server
built from git, and 5 MariaDB sites per platform, then times `python -m reconciler apply --yes`
from start to exit: observe, plan, 4 platform builds and 20 site installs. The databases and
users made are dropped after each run. One ssh-agent holds every host's client key (no
`--ssh-key`) and one known_hosts file lists every host.

Prints the wall-clock times, their ratio, the actions each run applied, and from each run's
journal where the time went: observe+plan (the process's time outside the journal's run), the
achieved parallelism (the actions' summed time over the run's time), time per action and per
step, and how busy the machine's CPUs were (every process: the rig's sshd, PHP and MariaDB run
on this machine too). The pair is measured `--rounds` times (default 3; about 7 s a run here),
alternating which concurrency goes first (a run right after another is warmer), and the medians
are compared. Exits 1 when an apply failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
if str(TESTS) not in sys.path:  # the rig is the top-level package `rig` of tests/
    sys.path.insert(0, str(TESTS))

from rig import fixtures, gitrepos, hosts, layout, mariadb, procs, web  # noqa: E402
from rig.hosts import TestHost, run_local  # noqa: E402
from rig.manifests import platform_yaml, server_yaml, site_yaml  # noqa: E402

from reconciler.journal.model import parse_time  # noqa: E402
from reconciler.manifests.names import database_name  # noqa: E402

SITES_PER_HOST = 5
APPLY_TIMEOUT = 280.0
EXTRA = layout.EXTRA_HOST_SPECS[0]
"""The fourth host (h04), started here: the tests' rig has three."""


# ---------------------------------------------------------------- the rig


def _preflight() -> None:
    if os.geteuid() != 0:
        raise SystemExit("apply_bench: run as root (the rig starts sshd and nginx)")
    if not layout.ADMIN_CNF.exists() or not layout.SUDOERS.exists():
        raise SystemExit(f"apply_bench: {fixtures.SETUP_HINT}")


@contextlib.contextmanager
def rig() -> Iterator[list[TestHost]]:
    """h01-h03 under the tests' session lease (stopped if no pytest session still uses them),
    and h04 (held exclusively, stopped again if it was started here)."""
    layout.BASE.mkdir(mode=0o755, exist_ok=True)
    with hosts.held_exclusively(EXTRA):
        yield from _rig()


def _rig() -> Iterator[list[TestHost]]:
    lease = procs.SessionLease(layout.BASE)
    started_extra = False
    try:
        with lease.starting():
            three = fixtures.start_rig()
            started_extra = hosts.sshd_pid(EXTRA) is None or web.nginx_pid(EXTRA) is None
            hosts.prepare_host_tree(EXTRA)
            hosts.start_sshd(EXTRA)
            web.start_web(EXTRA)
            hosts.wait_sshd(EXTRA)
            web.wait_web(EXTRA)
        yield [*three, hosts.make_host(EXTRA)]
    finally:
        if started_extra:
            web.stop_web(EXTRA)
            hosts.stop_sshd(EXTRA)
        try:
            if lease.leave():
                fixtures.stop_rig()
        finally:
            lease.done()


def _git_config_extra(*args: str, check: bool = True) -> None:
    run_local(["git", "config", "--file", str(EXTRA.dir / "gitconfig"), *args], check=check)


@contextlib.contextmanager
def standin_repo() -> Iterator[Path]:
    """The STAND-IN platform repository, trusted by every host's git (h04's too)."""
    where = gitrepos.repo_dir()
    repo = where / "standin.git"
    try:
        gitrepos.build_standin_repo(repo)
        _git_config_extra("--add", "safe.directory", str(repo))
        yield repo
    finally:
        hosts.untrust_repo(repo)
        _git_config_extra("--fixed-value", "--unset-all", "safe.directory", str(repo), check=False)
        shutil.rmtree(where, ignore_errors=True)


@contextlib.contextmanager
def ssh_agent(rig_hosts: list[TestHost]) -> Iterator[dict[str, str]]:
    """An ssh-agent holding every host's client key; the environment that reaches it."""
    out = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    env = dict(os.environ)
    for name in ("SSH_AUTH_SOCK", "SSH_AGENT_PID"):
        env[name] = out.split(f"{name}=")[1].split(";")[0]
    try:
        for host in rig_hosts:
            subprocess.run(
                ["ssh-add", "-q", str(host.identity_file)], env=env, check=True, capture_output=True
            )
        yield env
    finally:
        subprocess.run(["ssh-agent", "-k"], env=env, capture_output=True, check=False)


# ---------------------------------------------------------------- one run


@dataclass
class StepTime:
    count: int = 0
    total: float = 0.0
    longest: float = 0.0


@dataclass
class RunResult:
    concurrency: int
    wall: float
    returncode: int
    results: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    run_seconds: float = 0.0
    action_seconds: float = 0.0
    steps: dict[tuple[str, str], StepTime] = field(default_factory=dict)
    kinds: dict[str, StepTime] = field(default_factory=dict)
    cpu_busy: float = 0.0
    """The share of the machine's CPU time that was busy during the run (every process)."""
    output: str = ""

    @property
    def applied(self) -> int:
        return self.results.get("succeeded", 0)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.failures


def _cpu_jiffies() -> tuple[int, int]:
    """This machine's (busy, total) CPU time since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _site_names(host: TestHost, token: str) -> list[str]:
    return [f"s{k}-{token}.{host.name}.bench.example.com" for k in range(SITES_PER_HOST)]


def _drop_databases(sites: list[str]) -> None:
    admin = mariadb.admin()
    for site in sites:
        db = database_name(site)
        statements = [f"DROP DATABASE IF EXISTS `{db}`;"]
        statements += [f"DROP USER IF EXISTS '{db}'@'{h}';" for h in ("localhost", "127.0.0.1")]
        admin.run_sql("\n".join(statements))


def _seconds(start: str | None, end: str | None) -> float:
    if start is None or end is None:
        return 0.0
    return (parse_time(end) - parse_time(start)).total_seconds()


def _read_journal(path: Path, result: RunResult) -> None:
    conn = sqlite3.connect(path)
    try:
        runs = conn.execute("SELECT started_at, ended_at FROM runs ORDER BY id").fetchall()
        result.run_seconds = sum(_seconds(s, e) for s, e in runs)
        for kind, start, end in conn.execute("SELECT kind, started_at, ended_at FROM actions"):
            took = _seconds(start, end)
            result.action_seconds += took
            row = result.kinds.setdefault(kind, StepTime())
            row.count, row.total, row.longest = (
                row.count + 1,
                row.total + took,
                max(row.longest, took),
            )
        query = (
            "SELECT a.kind, s.name, s.started_at, s.ended_at "
            "FROM steps s JOIN actions a ON a.id = s.action_row"
        )
        for kind, name, start, end in conn.execute(query):
            took = _seconds(start, end)
            row = result.steps.setdefault((kind, name), StepTime())
            row.count, row.total, row.longest = (
                row.count + 1,
                row.total + took,
                max(row.longest, took),
            )
    finally:
        conn.close()


def apply_once(
    rig_hosts: list[TestHost], repo: Path, concurrency: int, env: dict[str, str]
) -> RunResult:
    """One `reconciler apply --yes` of 4 platforms and 20 sites in a fresh workspace."""
    token = secrets.token_hex(3)
    sites: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="apply-bench-"))
    try:
        with fixtures.workspace(rig_hosts, f"apply_bench_c{concurrency}-{token}") as scoped:
            docs: list[str] = []
            for host in scoped:
                platform = f"p-{host.name}"
                docs += [
                    server_yaml(host, concurrency=concurrency),
                    platform_yaml(platform, host, repo),
                ]
                names = _site_names(host, token)
                sites += names
                docs += [site_yaml(name, platform) for name in names]
            manifests = tmp / "git"
            manifests.mkdir()
            (manifests / "manifests.yaml").write_text("---\n".join(docs))
            known = tmp / "known_hosts"
            known.write_text("".join(h.known_hosts.read_text() for h in scoped))
            journal = tmp / "journal.sqlite"
            argv = [
                sys.executable,
                "-m",
                "reconciler",
                "apply",
                "--yes",
                "--format",
                "json",
                "--repo",
                str(manifests),
                "--worktree",
                "--state",
                str(journal),
                "--known-hosts",
                str(known),
            ]
            busy0, total0 = _cpu_jiffies()
            started = time.perf_counter()
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                timeout=APPLY_TIMEOUT,
                check=False,
                env={**env, "COLUMNS": "200"},
            )
            result = RunResult(concurrency, time.perf_counter() - started, done.returncode)
            busy1, total1 = _cpu_jiffies()
            result.cpu_busy = (busy1 - busy0) / max(1, total1 - total0)
            result.output = (done.stdout[-3000:] + "\n" + done.stderr[-3000:]).strip()
            try:
                data = json.loads(done.stdout)
            except json.JSONDecodeError:
                data = {"results": []}
                result.failures.append("no JSON on stdout")
            for r in data.get("results", []):
                result.results[r["result"]] = result.results.get(r["result"], 0) + 1
                if r["result"] != "succeeded":
                    result.failures.append(f"{r['kind']} {r['object']['name']}: {r['error']}")
            if journal.exists():
                _read_journal(journal, result)
            return result
    finally:
        _drop_databases(sites)
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- report


def _print_run(r: RunResult) -> None:
    outside = r.wall - r.run_seconds
    parallel = r.action_seconds / r.run_seconds if r.run_seconds else 0.0
    counts = ", ".join(f"{n} {k}" for k, n in sorted(r.results.items())) or "no results"
    print(
        f"\nconcurrency {r.concurrency}: {r.wall:.1f} s wall, exit {r.returncode}, {counts}; "
        f"observe+plan+start-up {outside:.1f} s, applying {r.run_seconds:.1f} s "
        f"(actions in parallel on average: {parallel:.1f}); CPU busy {r.cpu_busy:.0%}"
    )
    print(f"  {'action':<16} {'n':>3} {'mean s':>7} {'max s':>6}")
    for kind, t in sorted(r.kinds.items()):
        print(f"  {kind:<16} {t.count:>3} {t.total / t.count:>7.1f} {t.longest:>6.1f}")
    print(f"  {'step (of action)':<44} {'n':>3} {'total s':>8} {'mean s':>7} {'max s':>6}")
    for (kind, name), t in sorted(r.steps.items(), key=lambda kv: -kv[1].total):
        label = f"{name} ({kind})"
        print(
            f"  {label[:44]:<44} {t.count:>3} {t.total:>8.1f} "
            f"{t.total / t.count:>7.2f} {t.longest:>6.2f}"
        )
    for failure in r.failures[:10]:
        print(f"  FAILED {failure}")
    if not r.ok:
        print("  output (tail):\n    " + r.output[-2000:].replace("\n", "\n    "))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3, metavar="N", help="pairs of runs")
    args = parser.parse_args(argv)
    _preflight()
    began = time.perf_counter()
    runs: list[RunResult] = []
    with rig() as rig_hosts, standin_repo() as repo, ssh_agent(rig_hosts) as env:
        print(
            f"apply_bench: {len(rig_hosts)} hosts ({', '.join(h.name for h in rig_hosts)}), "
            f"1 platform and {SITES_PER_HOST} MariaDB sites each; {os.cpu_count()} CPUs, "
            f"load average {os.getloadavg()[0]:.2f}; "
            f"started {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"
        )
        for round_ in range(args.rounds):
            order = (1, 2) if round_ % 2 == 0 else (2, 1)
            for concurrency in order:
                result = apply_once(rig_hosts, repo, concurrency, env)
                runs.append(result)
                _print_run(result)
    by_c = {c: [r for r in runs if r.concurrency == c] for c in (1, 2)}
    wall = {c: statistics.median(r.wall for r in rs) for c, rs in by_c.items()}
    print(f"\n{'concurrency':>11} {'wall s (median)':>15}  {'every run s':<18} {'applied':<10}")
    for c, rs in by_c.items():
        each = " ".join(f"{r.wall:.1f}" for r in rs)
        applied = "/".join(str(r.applied) for r in rs)
        print(f"{c:>11} {wall[c]:>15.1f}  {each:<18} {applied:<10}")
    print(
        f"ratio wall(concurrency 1) / wall(concurrency 2): {wall[1] / wall[2]:.2f} "
        f"({'median of ' + str(args.rounds) if args.rounds > 1 else 'one run each'}); "
        f"benchmark total {time.perf_counter() - began:.0f} s"
    )
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
