"""Sites served by PHP's built-in web server (`services.http.type: builtin`) on this host.

The stand-in platform is built (`examples/standin-platform/build-repo.sh`), cloned at 10.3.6 into
the test's own directory, and SQLite sites are installed into it by hand (pre-written
settings.php, then `drush site:install`, as the controller does). The steps of
`reconciler.actions.builtin_web` then run through the project's runner and `LocalTransport`,
and every claim is checked over real HTTP on 127.0.0.1. `HOME` points into the test's directory,
so the step locks live there too. Every `php -S` a test started is killed at its end.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.actions.builtin_web import serve_steps, stop_steps
from reconciler.actions.context import PlatformContext, ServerFacts, SiteContext
from reconciler.actions.script import Step, lock_name
from reconciler.apply.runner import ActionOutcome, run_steps
from reconciler.drivers import builtin
from reconciler.drivers.drush import Drush
from reconciler.manifests.models import Server
from reconciler.transport.local import LocalTransport

pytestmark = pytest.mark.integration

BUILD_REPO = Path(__file__).resolve().parents[2] / "examples/standin-platform/build-repo.sh"


@pytest.fixture(scope="module")
def standin_git(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("standin") / "standin.git"
    subprocess.run([str(BUILD_REPO), str(dest)], check=True, capture_output=True, timeout=120)
    return dest


def php(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def http_get(port: int, host: str | None = None) -> tuple[int, str]:
    """GET / on 127.0.0.1:`port` (Host: `host` when given): status and body."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/")
    if host is not None:
        request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def answers(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def php_servers(marker: str) -> list[int]:
    """Pids of `php -S` processes whose command line mentions `marker`."""
    out = subprocess.run(
        ["ps", "-ww", "-eo", "pid=,args="], capture_output=True, text=True, check=True
    ).stdout
    pids = []
    for line in out.splitlines():
        pid, _, args = line.strip().partition(" ")
        if " -S 127.0.0.1:" in args and marker in args and "<defunct>" not in args:
            pids.append(int(pid))
    return pids


@dataclass
class Rig:
    """One test's server: its home (locks), vhostDir and a cloned stand-in codebase."""

    root: Path
    server_name: str
    base_port: int

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def vhosts(self) -> Path:
        return self.home / "reconciler-demo" / "vhosts"

    @property
    def codebase(self) -> Path:
        return self.root / "platforms" / "standin-10-3"

    @property
    def sites_php(self) -> Path:
        return self.codebase / "web" / "sites" / "sites.php"

    def context(self, site: str) -> SiteContext:
        server = Server.model_validate(
            {
                "apiVersion": "reconciler/v1",
                "kind": "Server",
                "metadata": {"name": self.server_name},
                "spec": {
                    "transport": "local",
                    "services": {
                        "http": {
                            "type": "builtin",
                            "port": self.base_port,
                            "vhostDir": "~/reconciler-demo/vhosts",
                        },
                        "db": {"type": "sqlite"},
                    },
                },
            }
        )
        facts = ServerFacts(server, "tester", str(self.home))
        platform = PlatformContext(
            "standin-10-3", facts, str(self.codebase), "web", "vendor/bin/drush"
        )
        db = server.spec.services.db
        return SiteContext(site, platform, facts, db, "unused", "unused")

    def install(self, site: str, title: str) -> SiteContext:
        """A SQLite site in `sites/<site>`, mapped by name in sites.php (what the site module
        writes), installed with drush from a complete settings.php."""
        d = Drush(str(self.codebase), site)
        site_dir = Path(d.site_dir)
        (site_dir / "files").mkdir(parents=True)
        (site_dir / "private" / "config" / "sync").mkdir(parents=True)
        if not self.sites_php.exists():
            shutil.copy(self.sites_php.parent / "example.sites.php", self.sites_php)
        with self.sites_php.open("a") as f:
            f.write(f"$sites[{php(site)}] = {php(site)};\n")
        Path(d.settings_php).write_text(
            "<?php\n\n"
            "$databases['default']['default'] = [\n"
            "  'driver' => 'sqlite',\n"
            f"  'database' => {php(str(site_dir / 'private/db.sqlite'))},\n"
            "  'prefix' => '',\n];\n"
            f"$settings['hash_salt'] = {php(secrets.token_urlsafe(55))};\n"
            f"$settings['config_sync_directory'] = {php(str(site_dir / 'private/config/sync'))};\n"
        )
        argv = d.site_install(
            account_pass=secrets.token_urlsafe(24),
            account_mail=f"admin@{site}",
            site_name=title,
        )
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        assert r.returncode == 0, r.stderr
        return self.context(site)

    def run(self, steps: Sequence[Step]) -> ActionOutcome:
        async def main() -> ActionOutcome:
            async with LocalTransport(self.server_name, cwd=self.home) as transport:
                return await run_steps(steps, {"web": transport})

        return asyncio.run(main())

    def serve(self, ctx: SiteContext, state: builtin.ServeState = "present") -> ActionOutcome:
        return self.run(serve_steps(ctx, base_port=self.base_port, state=state))

    def port_of(self, site: str) -> int:
        return int((self.vhosts / f"{site}.port").read_text())

    def pid_of(self, site: str) -> int:
        return int((self.vhosts / f"{site}.pid").read_text())

    def ports(self) -> dict[str, int]:
        r = subprocess.run(
            builtin.ports_argv(str(self.vhosts)), capture_output=True, text=True, check=True
        )
        return builtin.parse_ports(r.stdout)

    def lock_is_free(self, name: str) -> bool:
        lock = self.home / ".reconciler" / "locks" / name
        r = subprocess.run(["flock", "-n", str(lock), "true"], check=False)
        return r.returncode == 0


@pytest.fixture
def rig(
    standin_git: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> Iterator[Rig]:
    base_port: int = getattr(request, "param", 18900)
    the_rig = Rig(tmp_path, f"bt-{secrets.token_hex(4)}", base_port)
    the_rig.home.mkdir()
    monkeypatch.setenv("HOME", str(the_rig.home))
    subprocess.run(
        ["git", "clone", "--quiet", "--branch", "10.3.6", str(standin_git), str(the_rig.codebase)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    try:
        yield the_rig
    finally:
        for pid in php_servers(str(tmp_path)):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while php_servers(str(tmp_path)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert php_servers(str(tmp_path)) == [], "a php -S of this test survived it"


def served(outcome: ActionOutcome) -> int:
    assert outcome.ok, outcome.error
    (step,) = outcome.steps
    assert step.status == "done", step
    port = builtin.parse_port(step.output)
    assert port is not None, step.output
    return port


def port_lines(rig: Rig, site: str) -> list[str]:
    return [
        line
        for line in rig.sites_php.read_text().splitlines()
        if line.endswith(f"= '{site}';") and ".127.0.0.1'" in line
    ]


@pytest.mark.parametrize("rig", [18900], indirect=True)
def test_serve_disable_enable(rig: Rig) -> None:
    ctx = rig.install("alpha.localhost", "Alpha")
    port = served(rig.serve(ctx))
    assert port == rig.port_of("alpha.localhost") >= 18900
    assert port_lines(rig, "alpha.localhost") == [builtin.sites_php_line(port, "alpha.localhost")]
    assert "$sites['alpha.localhost'] = 'alpha.localhost';" in rig.sites_php.read_text()

    # the step returned, the server runs on: detached in its own session, no lock inherited
    pid = rig.pid_of("alpha.localhost")
    assert os.getsid(pid) == pid
    assert rig.lock_is_free(lock_name("server", rig.server_name))
    assert rig.lock_is_free(lock_name("platform", str(rig.codebase)))
    status, body = http_get(port)
    assert status == 200
    assert '<h1 id="site-name">Alpha</h1>' in body and "Drupal 10.3.6" in body
    assert http_get(port, host="alpha.localhost")[0] == 200  # the health request's Host
    conf = (rig.vhosts / "alpha.localhost.conf").read_text()
    assert "Managed by reconciler" in conf and f"port={port}\n" in conf
    assert f"router={rig.codebase}/web/index.php\n" in conf and "state=present\n" in conf
    assert rig.ports() == {"alpha.localhost": port}

    # converged: skipped, same server
    again = rig.serve(ctx)
    assert again.ok and [s.status for s in again.steps] == ["skipped"]
    assert rig.pid_of("alpha.localhost") == pid

    # disabled: 503 on the same port, data kept; then skipped
    assert served(rig.serve(ctx, "disabled")) == port
    status, body = http_get(port)
    assert status == 503 and "This site is disabled." in body
    router = rig.vhosts / "alpha.localhost.disabled.php"
    lint = subprocess.run(["php", "-l", str(router)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "state=disabled\n" in (rig.vhosts / "alpha.localhost.conf").read_text()
    assert [s.status for s in rig.serve(ctx, "disabled").steps] == ["skipped"]
    assert not list((rig.codebase / "web").rglob("*.disabled.php"))

    # present again: 200, the 503 router gone, still one port line
    assert served(rig.serve(ctx)) == port
    assert http_get(port)[0] == 200
    assert not router.exists()
    assert port_lines(rig, "alpha.localhost") == [builtin.sites_php_line(port, "alpha.localhost")]


@pytest.mark.parametrize("rig", [18920], indirect=True)
def test_two_sites_two_ports_and_stop(rig: Rig) -> None:
    alpha = rig.install("alpha.localhost", "Alpha")
    beta = rig.install("beta.localhost", "Beta")
    a, b = served(rig.serve(alpha)), served(rig.serve(beta))
    assert a != b and min(a, b) >= 18920
    assert '<h1 id="site-name">Alpha</h1>' in http_get(a)[1]
    assert '<h1 id="site-name">Beta</h1>' in http_get(b)[1]
    assert rig.ports() == {"alpha.localhost": a, "beta.localhost": b}

    # stop alpha: its port is free, its line and files gone; beta untouched
    before = rig.sites_php.read_text()
    stopped = rig.run(stop_steps(alpha))
    assert stopped.ok and [s.status for s in stopped.steps] == ["done"]
    assert not answers(a)
    assert port_lines(rig, "alpha.localhost") == []
    after = rig.sites_php.read_text()
    assert after == before.replace(builtin.sites_php_line(a, "alpha.localhost") + "\n", "")
    assert sorted(p.name for p in rig.vhosts.iterdir()) == [
        f"beta.localhost{suffix}" for suffix in (".conf", ".log", ".pid", ".port")
    ]
    assert http_get(b)[0] == 200
    assert rig.ports() == {"beta.localhost": b}
    again = rig.run(stop_steps(alpha))
    assert again.ok and [s.status for s in again.steps] == ["skipped"]

    # the freed port is the lowest free one again: the next site takes it
    gamma = rig.install("gamma.localhost", "Gamma")
    assert served(rig.serve(gamma)) == a
    assert '<h1 id="site-name">Gamma</h1>' in http_get(a)[1]
    rig.run(stop_steps(beta))
    rig.run(stop_steps(gamma))
    assert not answers(b) and not answers(a)
    assert php_servers(str(rig.root)) == []


@pytest.mark.parametrize("rig", [18940], indirect=True)
def test_ports_in_use(rig: Rig) -> None:
    ctx = rig.install("alpha.localhost", "Alpha")
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        taken = foreign.getsockname()[1]
        # a busy port is skipped at allocation
        busy = Rig(rig.root, rig.server_name, taken)
        port = served(busy.serve(busy.context("alpha.localhost")))
        assert port != taken and port > taken
        assert http_get(port)[0] == 200
    rig.run(stop_steps(ctx))

    # a site's own port taken by someone else while its server is down: a clear failure
    port = served(rig.serve(ctx))
    os.kill(rig.pid_of("alpha.localhost"), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while answers(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    with socket.socket() as foreign:
        foreign.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        foreign.bind(("127.0.0.1", port))
        foreign.listen()
        failed = rig.serve(ctx)
        assert not failed.ok
        assert failed.error is not None and "in use by another process" in failed.error
    # freed: the site gets its own port back
    assert served(rig.serve(ctx)) == port
    assert http_get(port)[0] == 200


@pytest.mark.parametrize("rig", [18960], indirect=True)
def test_dead_server_is_restarted(rig: Rig) -> None:
    ctx = rig.install("alpha.localhost", "Alpha")
    port = served(rig.serve(ctx))
    old = rig.pid_of("alpha.localhost")
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while answers(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert served(rig.serve(ctx)) == port  # not skipped: the check saw it dead
    assert rig.pid_of("alpha.localhost") != old
    assert http_get(port)[0] == 200

    # a changed router (real Drupal's .ht.router.php appears) restarts the server with it
    (rig.codebase / "web" / ".ht.router.php").write_text(
        "<?php\nheader('X-Router: ht');\nreturn require __DIR__ . '/index.php';\n"
    )
    assert served(rig.serve(ctx)) == port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        assert response.headers["X-Router"] == "ht"
