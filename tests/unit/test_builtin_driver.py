"""The built-in web server's fragments, parsers and steps (`reconciler.drivers.builtin`,
`reconciler.actions.builtin_web`).

Pure builders, checked as text and by running the shell they make with `sh` (POSIX shell only:
`sh -n` for syntax, small fragments for behaviour) against temporary directories; no PHP
server is started here (see tests/integration/test_builtin_web.py)."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from reconciler.actions.builtin_web import serve_steps, stop_steps
from reconciler.actions.context import PlatformContext, ServerFacts, SiteContext
from reconciler.actions.script import Step, lock_name, render_step
from reconciler.drivers import builtin
from reconciler.errors import PermanentError
from reconciler.manifests.models import Server
from reconciler.transport.base import CommandResult

HOSTILE_PATHS = [
    "/srv/plain",
    "/srv/with space/and  two",
    '/srv/it\'s/quoted"double"',
    "/srv/$(touch /tmp/pwned)/`id`/${HOME}",
    "/srv/glob*/[ab]?/~user",
    "/srv/-leading-dash/--opt",
    "/srv/semi;colon|pipe&amp>redirect<in",
    "/srv/back\\slash/%s%n/\u00e9t\u00e9",
]


def context(
    codebase: str = "/srv/platforms/p1", vhost_dir: str | None = "/srv/vhosts", home: str = "/h"
) -> SiteContext:
    services: dict[str, object] = {"db": {"type": "sqlite"}}
    if vhost_dir is not None:
        services["http"] = {"type": "builtin", "port": 8880, "vhostDir": vhost_dir}
    spec = {"transport": "local", "services": services}
    doc = {"apiVersion": "reconciler/v1", "kind": "Server", "metadata": {"name": "local"}}
    facts = ServerFacts(Server.model_validate({**doc, "spec": spec}), "demo", home)
    platform = PlatformContext("p1", facts, codebase, "web", "vendor/bin/drush")
    return SiteContext("alpha.localhost", platform, facts, None, "db", "db")


def sh(script: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    argv = ["sh", "-c", script]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env, check=False)


def syntax_ok(script: str) -> None:
    r = subprocess.run(["sh", "-n"], input=script, capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr


def result(out: str) -> CommandResult:
    return CommandResult("local", ("sh", "-s"), 0, out.encode(), b"")


# ---------------------------------------------------------------- names, paths, addresses


def test_state_files_live_in_vhost_dir() -> None:
    f = builtin.BuiltinFiles("/home/demo/reconciler-demo/vhosts/", "alpha.localhost")
    base = "/home/demo/reconciler-demo/vhosts/alpha.localhost"
    assert f.all == tuple(base + x for x in (".port", ".pid", ".log", ".conf", ".disabled.php"))
    assert f.all == (f.port, f.pid, f.log, f.conf, f.disabled_router)


BAD_SITES = ["A.example", "../etc", "a/b", "a b", "-a.example", "a'b", "", "x" * 64, "a..b"]
BAD_DIRS = ["relative/vhosts", "~/vhosts", "/srv/new\nline", "/srv/tab\there", ""]


@pytest.mark.parametrize(
    ("vhost_dir", "site"),
    [("/srv/vhosts", site) for site in BAD_SITES] + [(d, "a.example") for d in BAD_DIRS],
)
def test_bad_site_names_and_paths_are_refused(vhost_dir: str, site: str) -> None:
    with pytest.raises(ValueError, match=r"not a site name|absolute path"):
        builtin.BuiltinFiles(vhost_dir, site)


@pytest.mark.parametrize(
    ("port", "key", "url"),
    [
        (1, "1.127.0.0.1", "http://127.0.0.1:1/"),
        (8880, "8880.127.0.0.1", "http://127.0.0.1:8880/"),
        (65535, "65535.127.0.0.1", "http://127.0.0.1:65535/"),
    ],
)
def test_addresses(port: int, key: str, url: str) -> None:
    assert builtin.host_key(port) == key
    assert builtin.health_url(port) == url
    assert builtin.sites_php_line(port, "a.example") == f"$sites['{key}'] = 'a.example';"


@pytest.mark.parametrize("port", [0, -1, 65536, True])
def test_bad_ports_are_refused(port: int) -> None:
    with pytest.raises(ValueError, match="not a TCP port"):
        builtin.health_url(port)
    with pytest.raises(ValueError, match="not a TCP port"):
        builtin.allocate_port_script(port)


def test_disabled_router_answers_503_with_a_static_page() -> None:
    php = builtin.disabled_router_php()
    assert php.startswith("<?php\n")
    assert "http_response_code(503);" in php
    assert "This site is disabled." in php
    assert "Managed by reconciler" in php


# ---------------------------------------------------------------- parsers


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        ("", {}),
        (
            "alpha.localhost 8880\nbeta.localhost 8881\n",
            {"alpha.localhost": 8880, "beta.localhost": 8881},
        ),
        ("alpha.localhost 8880\r\n", {"alpha.localhost": 8880}),
        ("alpha.localhost \nbeta.localhost 88x1\n", {}),
        ("alpha.localhost 0\nbeta.localhost 70000\ngamma.localhost 123456\n", {}),
        ("Bad_Name 8880\n../x 8881\nok.example 8882\n", {"ok.example": 8882}),
        ("a.example 8880 extra\n", {}),
    ],
)
def test_parse_ports(stdout: str, expected: dict[str, int]) -> None:
    assert builtin.parse_ports(stdout) == expected


@pytest.mark.parametrize(
    ("stdout", "expected"),
    [
        ("PORT=8880\n", 8880),
        ("noise\nPORT=18901\n@@done@@\n", 18901),
        ("PORT=1\nPORT=2\n", 2),
        ("", None),
        ("PORT=\n", None),
        ("PORT=0\n", None),
        ("PORT=99999\n", None),
        (" PORT=8880\n", None),
        ("XPORT=8880\n", None),
    ],
)
def test_parse_port(stdout: str, expected: int | None) -> None:
    assert builtin.parse_port(stdout) == expected


def test_ports_argv_lists_port_files_only(tmp_path: Path) -> None:
    (tmp_path / "alpha.localhost.port").write_text("8880\n")
    (tmp_path / "beta.localhost.port").write_text("8881")
    (tmp_path / "alpha.localhost.conf").write_text("port=8880\n")
    (tmp_path / "alpha.localhost.pid").write_text("123\n")
    argv = builtin.ports_argv(str(tmp_path))
    r = subprocess.run(argv, capture_output=True, text=True, check=True, cwd="/")
    assert builtin.parse_ports(r.stdout) == {"alpha.localhost": 8880, "beta.localhost": 8881}
    missing = subprocess.run(
        builtin.ports_argv(str(tmp_path / "absent")), capture_output=True, text=True, check=True
    )
    assert (missing.stdout, missing.returncode) == ("", 0)


# ---------------------------------------------------------------- quoting and syntax


@pytest.mark.parametrize("path", HOSTILE_PATHS)
def test_preamble_carries_hostile_paths_verbatim(path: str, tmp_path: Path) -> None:
    files = builtin.BuiltinFiles(path + "/vhosts", "alpha.localhost")
    sites_php = path + "/web/sites/sites.php"
    pre = builtin.preamble(files, docroot=path + "/web", sites_php=sites_php, state="disabled")
    shown = 'printf "%s\\n" "$b_vd" "$b_docroot" "$b_sp" "$b_off" "$b_router"'
    r = sh(pre + shown)
    assert r.returncode == 0, r.stderr
    off = path + "/vhosts/alpha.localhost.disabled.php"
    assert r.stdout.split("\n")[:5] == [path + "/vhosts", path + "/web", sites_php, off, off]
    assert not Path("/tmp/pwned").exists()


@pytest.mark.parametrize("path", HOSTILE_PATHS)
@pytest.mark.parametrize("state", ["present", "disabled"])
def test_rendered_steps_are_valid_sh(path: str, state: builtin.ServeState) -> None:
    # the manifest's vhostDir is a clean `~/` path; the login's home is where hostility hides
    ctx = context(codebase=path, vhost_dir="~/vhosts", home=path)
    assert ctx.web.vhost_dir == path + "/vhosts"
    steps: list[Step] = [*serve_steps(ctx, base_port=8880, state=state), *stop_steps(ctx)]
    for step in steps:
        syntax_ok(render_step(step))
        assert step.check is not None
        syntax_ok(step.check)


def test_serve_step_shape() -> None:
    ctx = context()
    (present,) = serve_steps(ctx, base_port=8880, state="present")
    (disabled,) = serve_steps(ctx, base_port=8880, state="disabled")
    (stop,) = stop_steps(ctx)
    for step in (present, disabled, stop):
        assert step.lock == lock_name("server", "local")
        assert step.on == "web"
        assert step.undo is None
        # the sites.php edit also holds the platform's lock, as every sites.php edit does
        assert lock_name("platform", "/srv/platforms/p1") in step.script
    assert "b_state=present" in present.script and "b_state=disabled" in disabled.script
    assert "http_response_code(503)" in disabled.script
    assert "http_response_code(503)" not in present.script
    assert present.expect(result("PORT=8880\n")) is None
    assert present.expect(result("started\n")) is not None
    assert "8880" in present.script


def test_steps_need_a_vhost_dir() -> None:
    ctx = context(vhost_dir=None)
    with pytest.raises(PermanentError):
        serve_steps(ctx, base_port=8880, state="present")
    with pytest.raises(PermanentError):
        stop_steps(ctx)


def test_unknown_state_is_refused() -> None:
    files = builtin.BuiltinFiles("/srv/vhosts", "a.example")
    with pytest.raises(ValueError, match="not a state"):
        builtin.preamble(files, docroot="/w", sites_php="/w/s", state="absent")  # type: ignore[arg-type]


# ---------------------------------------------------------------- port allocation (sh, fake php)


def fake_php(tmp_path: Path, listening: set[int]) -> str:
    """A `php` that says the ports in `listening` answer (what `b_answers` asks)."""
    php = tmp_path / "fake-php"
    cases = "|".join(str(p) for p in sorted(listening)) or "none"
    php.write_text(
        f"#!/bin/sh\n# php -r CODE PORT...\ncase $3 in {cases}) exit 0 ;; esac\nexit 1\n"
    )
    php.chmod(0o755)
    return str(php)


@pytest.mark.parametrize(
    ("others", "own", "listening", "expected"),
    [
        ({}, None, set(), 18900),  # vhostDir created
        ({"beta.localhost": "18900"}, None, set(), 18901),
        ({"beta.localhost": "18901"}, None, set(), 18900),
        ({"beta.localhost": "18900", "gamma.localhost": "18902"}, None, set(), 18901),
        ({"beta.localhost": "18900"}, None, {18901, 18902}, 18903),
        ({}, "18905", set(), 18905),  # a site keeps its port
        ({}, "18905", {18905}, 18905),  # even while it answers (its own server)
        ({}, "garbage", set(), 18900),  # a damaged port file is replaced
        ({}, "70000", set(), 18900),
        ({"beta.localhost": "18899"}, None, set(), 18900),
        ({"beta.localhost": "65534"}, None, {65535}, None),  # none left from 65534 up
    ],
)
def test_port_allocation(
    tmp_path: Path,
    others: dict[str, str],
    own: str | None,
    listening: set[int],
    expected: int | None,
) -> None:
    vhosts = tmp_path / "vhosts"
    for site, text in [*others.items(), *([("alpha.localhost", own)] if own else [])]:
        vhosts.mkdir(exist_ok=True)
        (vhosts / f"{site}.port").write_text(text + "\n")
    files = builtin.BuiltinFiles(str(vhosts), "alpha.localhost")
    php = fake_php(tmp_path, listening)
    pre = builtin.preamble(files, docroot="/w", sites_php="/w/sites.php", state="present", php=php)
    base = 65534 if expected is None else 18900
    r = sh("set -eu\n" + pre + builtin.allocate_port_script(base) + '\necho "$b_p"')
    if expected is None:
        assert r.returncode != 0 and "no free port from 65534 up" in r.stderr
        assert not Path(files.port).exists()
    else:
        assert (r.returncode, r.stderr, r.stdout) == (0, "", f"{expected}\n")
        assert Path(files.port).read_text() == f"{expected}\n"


# ---------------------------------------------------------------- sites.php edits (sh)

SITE_OWN = "$sites['alpha.localhost'] = 'alpha.localhost';"
OTHER = "$sites['18900.127.0.0.1'] = 'beta.localhost';"
OURS = "$sites['18901.127.0.0.1'] = 'alpha.localhost';"


def edit_sites_php(tmp_path: Path, before: str | None, port: str, *, add: bool) -> str | None:
    sites = tmp_path / "web" / "sites"
    sites.mkdir(parents=True, exist_ok=True)
    sites_php = sites / "sites.php"
    inode = None
    if before is not None:
        sites_php.write_text(before)
        sites_php.chmod(0o600)
        inode = sites_php.stat().st_ino
    files = builtin.BuiltinFiles(str(tmp_path / "vhosts"), "alpha.localhost")
    pre = builtin.preamble(
        files, docroot=str(tmp_path / "web"), sites_php=str(sites_php), state="present"
    )
    script = "set -eu\numask 077\n" + pre + f"b_p={port}\n"
    script += builtin.sites_php_script(lock_name("platform", str(tmp_path)), add=add)
    env = {**os.environ, "HOME": str(tmp_path / "home")}
    r = sh(script, env)
    assert r.returncode == 0, r.stderr
    assert not (sites / "sites.php.reconciler-builtin-tmp").exists()
    assert (tmp_path / "home/.reconciler/locks" / lock_name("platform", str(tmp_path))).exists()
    if not sites_php.exists():
        return None
    after = sites_php.read_text()
    st = sites_php.stat()
    if after == before:  # unchanged content is not rewritten
        assert (st.st_ino, stat.S_IMODE(st.st_mode)) == (inode, 0o600)
    else:  # a new file, renamed over the old one, with the contract's mode
        assert (st.st_ino != inode, stat.S_IMODE(st.st_mode)) == (True, 0o644)
    return after


@pytest.mark.parametrize(
    ("before", "add", "after"),
    [
        (None, True, f"<?php\n\n{OURS}\n"),
        ("", True, f"<?php\n\n{OURS}\n"),
        (f"<?php\n{SITE_OWN}\n", True, f"<?php\n{SITE_OWN}\n{OURS}\n"),
        # a last line without its newline is kept (and ended)
        (f"<?php\n{SITE_OWN}", True, f"<?php\n{SITE_OWN}\n{OURS}\n"),
        # already there: unchanged
        (f"<?php\n{OURS}\n{SITE_OWN}\n", True, f"<?php\n{SITE_OWN}\n{OURS}\n"),
        # a stale port line of the site goes, so does another site's line on this port
        (
            "<?php\n$sites['18950.127.0.0.1'] = 'alpha.localhost';\n"
            "$sites['18901.127.0.0.1'] = 'old.localhost';\n" + OTHER + "\n",
            True,
            f"<?php\n{OTHER}\n{OURS}\n",
        ),
        # lines this module did not write are kept byte for byte
        (
            "<?php\n// $sites['18901.127.0.0.1'] = 'alpha.localhost';\n"
            "$sites[\"18901.127.0.0.1\"] = 'alpha.localhost';\n"
            "$sites['alpha.localhost.127.0.0.1'] = 'alpha.localhost';\n"
            "$sites['18901.127.0.0.1'] = 'alpha.localhostx';\n",
            False,
            "<?php\n// $sites['18901.127.0.0.1'] = 'alpha.localhost';\n"
            "$sites[\"18901.127.0.0.1\"] = 'alpha.localhost';\n"
            "$sites['alpha.localhost.127.0.0.1'] = 'alpha.localhost';\n",
        ),
        (None, False, None),
        (f"<?php\n{SITE_OWN}\n{OURS}\n{OTHER}\n", False, f"<?php\n{SITE_OWN}\n{OTHER}\n"),
        (f"<?php\n{OURS}\n", False, "<?php\n"),
    ],
)
def test_sites_php_edits(tmp_path: Path, before: str | None, add: bool, after: str | None) -> None:
    assert edit_sites_php(tmp_path, before, "18901", add=add) == after


def test_sites_php_removal_without_a_port_removes_the_sites_lines_only(tmp_path: Path) -> None:
    before = f"<?php\n{SITE_OWN}\n{OURS}\n{OTHER}\n"
    assert edit_sites_php(tmp_path, before, "", add=False) == f"<?php\n{SITE_OWN}\n{OTHER}\n"


def test_bad_lock_names_are_refused() -> None:
    for name in ("", "../x", ".hidden", "a/b"):
        with pytest.raises(ValueError, match="not a lock name"):
            builtin.sites_php_script(name, add=True)
