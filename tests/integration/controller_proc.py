"""`reconciler run` as a subprocess for the controller's integration tests.

`ManifestRepo` is a real git repository of manifests the tests commit to; `ControllerProc` runs
the controller on it with a journal of the test's own, on an ephemeral `--listen` port (read back
from the line the controller prints), and reads `/readyz` and `/api/status`. Waits are liveness
bounds (the test fails when one passes), never measurements.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from rig.hosts import TestHost
from rig.manifests import site_yaml

__all__ = [
    "ControllerProc",
    "ManifestRepo",
    "journal_rows",
    "local_manifests",
    "running",
    "wait_until",
]

T = TypeVar("T")
_SERVING = re.compile(r"Serving http://([0-9.]+):(\d+)/")


def wait_until(what: str, probe: Callable[[], T | None], bound: float, step: float = 0.1) -> T:
    """Poll `probe` until it returns something; fail the test after `bound` seconds."""
    deadline = time.monotonic() + bound
    while True:
        found = probe()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {bound:g} s (liveness bound): {what}")
        time.sleep(step)


def local_manifests(root: Path, sites: Sequence[str], port: int = 21000) -> list[str]:
    """A `local` server (this machine, its directories under `root`, PHP's built-in server from
    `port`, SQLite), one platform, and `sites` on it: nothing needs to be installed for a
    controller to observe and plan them."""
    server = f"""apiVersion: reconciler/v1
kind: Server
metadata: {{name: local}}
spec:
  transport: local
  paths: {{platforms: {root}/platforms, backups: {root}/backups}}
  services:
    http: {{type: builtin, port: {port}, vhostDir: {root}/vhosts}}
    db: {{type: sqlite}}
"""
    platform = f"""apiVersion: reconciler/v1
kind: Platform
metadata: {{name: p1}}
spec:
  server: local
  source: {{git: {{url: {root}/none.git, ref: main}}}}
"""
    for d in ("platforms", "backups", "vhosts"):
        (root / d).mkdir(exist_ok=True)
    return [server, platform, *(site_yaml(name, "p1") for name in sites)]


@dataclass
class ManifestRepo:
    """A git repository (branch `main`) whose commits the controller follows."""

    path: Path

    def __post_init__(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str) -> str:
        argv = ["git", "-C", str(self.path), "-c", "user.name=T", "-c", "user.email=t@localhost"]
        done = subprocess.run([*argv, *args], capture_output=True, text=True, check=True)
        return done.stdout.strip()

    def commit(self, *docs: str, message: str = "manifests", per_file: int = 1000) -> str:
        """Commit `docs` as the repository's manifests, `per_file` documents a file."""
        for old in self.path.glob("manifests*.yaml"):
            old.unlink()
        for n, start in enumerate(range(0, len(docs), per_file)):
            name = "manifests.yaml" if n == 0 else f"manifests-{n}.yaml"
            (self.path / name).write_text("---\n".join(docs[start : start + per_file]))
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")


def journal_rows(state: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows read from the controller's SQLite journal (a second reader of its WAL file)."""
    if not state.exists():
        return []
    with contextlib.closing(sqlite3.connect(state, timeout=5)) as conn:
        try:
            return [tuple(r) for r in conn.execute(sql, params).fetchall()]
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise


@dataclass
class ControllerProc:
    """One `reconciler run` process."""

    repo: ManifestRepo
    hosts: Sequence[TestHost]
    state: Path
    args: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    use_key: bool = True
    proc: subprocess.Popen[bytes] | None = None
    base: str = ""
    url: str | None = None
    """`--repo` when the controller is to follow the repository by URL instead of its path."""
    state_url: str | None = None
    """`--state` when the journal is not the SQLite file `state` (a PostgreSQL URL); `state`
    then only names the log file."""

    @property
    def log(self) -> Path:
        return self.state.parent / f"{self.state.stem}.controller.log"

    def argv(self) -> list[str]:
        known = self.state.parent / "known_hosts"
        known.write_text("".join(h.known_hosts.read_text() for h in self.hosts))
        key = ["--ssh-key", str(self.hosts[0].identity_file)] if self.use_key else []
        return [
            sys.executable,
            "-m",
            "reconciler",
            "run",
            "--repo",
            self.url or str(self.repo.path),
            "--branch",
            "main",
            "--state",
            self.state_url or str(self.state),
            *key,
            "--known-hosts",
            str(known),
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            *self.args,
        ]

    def start(self, bound: float = 30) -> ControllerProc:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as sink:
            self.proc = subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **self.env},
            )

        def serving() -> str | None:
            self.check_alive()
            with self.log.open("rb") as log:
                log.seek(offset)
                found = _SERVING.findall(log.read().decode(errors="replace"))
            return f"http://{found[-1][0]}:{found[-1][1]}" if found else None

        self.base = wait_until("the controller serves HTTP", serving, bound)
        return self

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"the controller exited {self.proc.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as answer:
                return int(answer.status), bytes(answer.read())
        except urllib.error.HTTPError as exc:
            return int(exc.code), bytes(exc.read())

    def status(self) -> dict[str, Any]:
        self.check_alive()
        code, body = self.get("/api/status")
        assert code == 200, body
        data: dict[str, Any] = json.loads(body)
        return data

    def sites(self) -> dict[str, dict[str, Any]]:
        return {s["name"]: s for s in self.status()["sites"]}

    def wait_converged(self, names: Sequence[str], bound: float) -> dict[str, dict[str, Any]]:
        """Every site in `names` Synced and Healthy, and nothing left to do for them."""

        def done() -> dict[str, dict[str, Any]] | None:
            status = self.status()
            plan = status.get("pendingPlan") or {"actions": []}
            pending = {a["object"]["name"] for a in plan["actions"]}
            rows = {s["name"]: s for s in status["sites"]}
            for name in names:
                row = rows.get(name)
                if row is None or row["sync"] != "Synced" or row["health"] != "Healthy":
                    return None
                if name in pending:
                    return None
            return rows

        return wait_until(f"{', '.join(names)} converged\n{self.tail()}", done, bound, 0.2)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)

    def wait_exit(self, bound: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running after {bound:g} s:\n{self.tail()}") from None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a while (test teardown)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait()


@contextlib.contextmanager
def running(controller: ControllerProc) -> Iterator[ControllerProc]:
    try:
        yield controller.start()
    finally:
        controller.stop()
