"""The controller's dashboard in a real browser: headless Chromium (Debian's `chromium`).

`reconciler run --auto-apply` on h01 (the STAND-IN platform) converges two sites and a site
declared `disabled`; a fourth site is on a platform whose git ref does not exist, so its platform
fails to build and the site stays `Missing`. Chromium then loads `http://127.0.0.1:PORT/`: the
DOM it dumps (`--dump-dom`, read with `html.parser`) must show every test site with the sync and
health state `/api/status` gives it, the servers, the failed platform with its error, and the
recent runs; its screenshot (`--screenshot`) is saved as a test artifact (`$TEST_ARTIFACTS`,
default tests/artifacts/) and must be a valid PNG of the window's size in which the page's
stylesheet took effect (the states' colours are there: the Content-Security-Policy let it in).

Chromium only talks to 127.0.0.1: no name resolves but that address, background networking,
component updates, sync, extensions and metrics are off, and its profile is a throwaway one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rig.hosts import TestHost
from rig.manifests import platform_yaml, server_yaml, site_yaml
from rig.mariadb import MariaDBAdmin
from unit.htmlpage import Page, parse_page

from integration.controller_proc import ControllerProc, ManifestRepo, running, wait_until
from integration.pngcheck import colour_count, read_png
from reconciler.manifests.names import database_name

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
FAST = ("--auto-apply", "--backoff-base", "1s", "--backoff-max", "4s")
NO_CRON: dict[str, object] = {"cron": {"interval": 0}}
WINDOW = (1280, 900)
CHROMIUM_TIMEOUT = 60
QUIET = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-domain-reliability",
    "--metrics-recording-only",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)
GREEN, RED = (0x1A, 0x7F, 0x37), (0xCF, 0x22, 0x2E)
"""The stylesheet's colours of `Synced`/`Healthy` and of `Failed` (light scheme)."""


def artifacts_dir() -> Path:
    """`$TEST_ARTIFACTS`, or tests/artifacts/ of this checkout (git-ignored)."""
    found = os.environ.get("TEST_ARTIFACTS", "")
    path = Path(found) if found else REPO_ROOT / "tests" / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Chromium with `args` after the quiet flags, a throwaway profile and home in `tmp_path`,
    bounded by `CHROMIUM_TIMEOUT`; every process of its group is ended afterwards."""
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail(
            "chromium is not installed: run scripts/setup-test-host.sh (as root), which installs "
            "Debian's chromium package"
        )
    home = tmp_path / "chromium-home"
    home.mkdir(exist_ok=True)
    argv = [binary, *QUIET, f"--user-data-dir={home / 'profile'}", *args]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "LANG": "C.UTF-8",
    }
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=home,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired:
        _end_group(proc.pid)
        out, err = proc.communicate()
        raise AssertionError(
            f"chromium did not finish within {CHROMIUM_TIMEOUT} s: {argv}\n{err[-3000:]}"
        ) from None
    finally:
        _end_group(proc.pid)
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _end_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


@pytest.fixture
def names(mariadb_admin: MariaDBAdmin) -> Iterator[dict[str, str]]:
    token = secrets.token_hex(3)
    sites = {role: f"d{n}-{token}.example.com" for n, role in enumerate(("a", "b", "off", "bad"))}
    try:
        yield sites
    finally:
        for site in sites.values():
            db = database_name(site)
            mariadb_admin.run_sql(f"DROP DATABASE IF EXISTS `{db}`")
            for host in ("localhost", "127.0.0.1"):
                mariadb_admin.run_sql(f"DROP USER IF EXISTS '{db}'@'{host}'")


def _docs(h01: TestHost, standin: Path, names: dict[str, str]) -> list[str]:
    return [
        server_yaml(h01),
        platform_yaml("std", h01, standin),
        platform_yaml("gone", h01, standin, ref="no-such-ref"),
        site_yaml(names["a"], "std", **NO_CRON),
        site_yaml(names["b"], "std", **NO_CRON),
        site_yaml(names["off"], "std", state="disabled", **NO_CRON),
        site_yaml(names["bad"], "gone", **NO_CRON),
    ]


def _settled(controller: ControllerProc, names: dict[str, str]) -> dict[str, Any] | None:
    """The status once the three good sites converged and the broken platform failed."""
    status = controller.status()
    sites = {s["name"]: s for s in status["sites"]}
    platforms = {p["name"]: p for p in status["platforms"]}
    plan = status.get("pendingPlan") or {"actions": []}
    pending = {a["object"]["name"] for a in plan["actions"]}
    for role in ("a", "b", "off"):
        row = sites.get(names[role])
        if row is None or (row["sync"], row["health"]) != ("Synced", "Healthy"):
            return None
        if names[role] in pending:
            return None
    gone = platforms.get("gone")
    last = (gone or {}).get("lastAction") or {}
    return status if last.get("result") == "failed" else None


def _dump(tmp_path: Path, url: str) -> Page:
    done = chromium(tmp_path, "--dump-dom", url)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "<html" in done.stdout, (done.stdout[:500], done.stderr[-3000:])
    return parse_page(done.stdout)


@pytest.mark.timeout(360)  # liveness bounds in a row: convergence (150 s), two Chromium runs (60 s)
def test_the_dashboard_in_headless_chromium(
    h01: TestHost, standin_repo: Path, tmp_path: Path, names: dict[str, str]
) -> None:
    repo = ManifestRepo(tmp_path / "git")
    revision = repo.commit(*_docs(h01, standin_repo, names))
    controller = ControllerProc(repo, [h01], tmp_path / "journal.sqlite", FAST)
    with running(controller):
        assert controller.base.startswith("http://127.0.0.1:"), controller.base
        status = wait_until(
            f"three sites converged and the platform 'gone' failed\n{controller.tail()}",
            lambda: _settled(controller, names),
            150,
            0.5,
        )
        url = controller.base + "/"
        page = _dump(tmp_path, url)
        shot = artifacts_dir() / "dashboard.png"
        shot.unlink(missing_ok=True)
        done = chromium(
            tmp_path, f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}", url
        )
        assert done.returncode == 0, done.stderr[-3000:]
        after = controller.status()

    # every test site, with the sync and health /api/status gives it
    expected = {s["name"]: s for s in status["sites"]}
    rows = page.find("site", "sites")
    assert set(rows) == set(names.values()), (sorted(rows), page.text[:2000])
    for role, name in names.items():
        row, api = rows[name], expected[name]
        assert row.data["sync"] == api["sync"], (role, row, api)
        assert row.data["health"] == (api["health"] or "unknown"), (role, row, api)
        assert row.cells[4:6] == [row.data["sync"], row.data["health"]], (role, row.cells)
        assert (row.data["server"], row.data["platform"]) == (h01.name, api["platform"])
    for role in ("a", "b", "off"):
        assert (rows[names[role]].data["sync"], rows[names[role]].data["health"]) == (
            "Synced",
            "Healthy",
        )
        assert rows[names[role]].data["last-result"] == "succeeded", rows[names[role]]
    bad = rows[names["bad"]]
    assert bad.data["sync"] == "Missing", bad
    assert bad.data["platform"] == "gone"

    # the rest of the page: servers, the failed platform, the plan, the runs, the reload
    assert page.find("server", "servers")[h01.name].data["reachable"] == "reachable"
    platforms = page.find("platform", "platforms")
    assert platforms["std"].cells[3:5] == ["Synced", "Healthy"], platforms["std"]
    gone_error = status_platform(status, "gone")["lastAction"]["error"]
    assert platforms["gone"].cells[4] == "Failed", platforms["gone"]
    assert " ".join(gone_error.split()[:4]) in platforms["gone"].cells[6], platforms["gone"]
    assert page.section("plan") and page.section("runs")
    runs = page.find("run", "runs")
    assert runs, page.text[-2000:]
    assert all(r.cells[1] == revision[:12] for r in runs.values()), runs
    assert any(r.data["status"] == "succeeded" for r in runs.values()), runs
    refresh = [a for a in page.attrs("meta") if a.get("http-equiv") == "refresh"]
    assert refresh and int(refresh[0]["content"]) > 0
    assert page.attrs("script") == []
    assert f"Commit {after['revision']}" in page.text

    # the screenshot: a valid PNG of the window, the stylesheet applied (its state colours)
    assert shot.is_file(), f"no screenshot at {shot}: {done.stderr[-3000:]}"
    image = read_png(shot.read_bytes())
    assert (image.width, image.height) == WINDOW
    assert len(image.colours()) > 20, "a blank or near-blank screenshot"
    assert colour_count(image, GREEN) > 50, "no Synced/Healthy green: was the stylesheet refused?"
    assert colour_count(image, RED) > 20, "no Failed red: was the stylesheet refused?"


def status_platform(status: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in status["platforms"] if p["name"] == name)
    return found
