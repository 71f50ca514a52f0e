"""The steps of site and platform actions, rendered from manifests without any server: their
order, which server each runs on, which locks they hold, that every script is valid `sh`, and
that no secret ever reaches a command line (only the scripts sent on stdin carry them)."""

from __future__ import annotations

import subprocess

import pytest

from reconciler.actions.context import (
    ServerFacts,
    SiteContext,
    platform_context,
    server_facts,
    site_context,
)
from reconciler.actions.platform import build_steps, delete_platform_steps
from reconciler.actions.script import Step, render_step, step_argv
from reconciler.actions.site import (
    delete_steps,
    disable_steps,
    enable_steps,
    install_steps,
    verify_steps,
)
from reconciler.manifests.manifestset import ManifestSet
from unit import builders as b


def _set(*docs: b.Doc) -> ManifestSet:
    return b.check(list(docs)).require()


def _ctx(manifests: ManifestSet, name: str = "www.example.com") -> SiteContext:
    facts: dict[str, ServerFacts] = {
        n: server_facts(s, "aegir", "/home/aegir") for n, s in manifests.servers.items()
    }
    site = manifests.sites[name]
    platform = manifests.platform_of(site)
    where = platform_context(manifests, platform, facts[platform.spec.server])
    return site_context(manifests, site, where, facts)


MYSQL = _set(
    b.server("web1", address="10.0.0.5", services={"http": {"type": "nginx"}}),
    b.server("db1", services={"db": {"type": "mariadb"}}),
    b.platform("p1", "web1", path="/srv/p1"),
    b.site("www.example.com", "p1", db={"server": "db1"}, aliases=["example.com"]),
)
SQLITE = _set(
    b.server("web1", services={"http": {"type": "nginx"}, "db": {"type": "sqlite"}}),
    b.platform("p1", "web1", path="~/p1"),
    b.site("www.example.com", "p1"),
)


def _sh_ok(step: Step) -> None:
    for undo in (False, True):
        if undo and step.undo is None:
            continue
        done = subprocess.run(
            ["sh", "-n"], input=render_step(step, undo=undo), capture_output=True, text=True
        )
        assert done.returncode == 0, (step.name, done.stderr)


def test_install_order_servers_and_locks() -> None:
    ctx = _ctx(MYSQL)
    steps = install_steps(ctx)
    assert [s.name for s in steps] == [
        "site directory",
        "database and user",
        "settings.php",
        "sites.php",
        "site:install",
        "modes",
        "vhost (present)",
        "health",
    ]
    on = {s.name: s.on for s in steps}
    assert on["database and user"] == "db" and on["settings.php"] == "web"
    locks = {s.name: s.lock for s in steps}
    assert locks["sites.php"] == "platform-_srv_p1.lock"
    assert locks["vhost (present)"] == "server-web1.lock"
    assert locks["site:install"] == "site-www.example.com.lock"
    assert ctx.grant_hosts == ["10.0.0.5"]
    for step in steps:
        _sh_ok(step)


def test_secrets_are_only_in_scripts_and_redaction_lists() -> None:
    steps = install_steps(_ctx(MYSQL))
    by_name = {s.name: s for s in steps}
    db_step, settings = by_name["database and user"], by_name["settings.php"]
    password = db_step.secrets[0]
    assert len(password) >= 32
    assert password in db_step.script and password in settings.script
    assert password in settings.secrets
    admin = by_name["site:install"].secrets[0]
    assert admin in by_name["site:install"].script
    for step in steps:
        argv = " ".join(step_argv(step.lock))
        assert password not in argv and admin not in argv
    # a second rendering makes new secrets: nothing is reused across runs
    again = {s.name: s for s in install_steps(_ctx(MYSQL))}
    assert again["database and user"].secrets[0] != password


def test_sqlite_install_has_no_database_server_step() -> None:
    ctx = _ctx(SQLITE)
    steps = install_steps(ctx)
    assert all(s.on == "web" for s in steps)
    assert "database and user" not in [s.name for s in steps]
    assert ctx.platform.codebase == "/home/aegir/p1"
    settings = next(s for s in steps if s.name == "settings.php")
    assert "'sites/www.example.com/private/db.sqlite'" in settings.script


def test_the_expensive_and_destructive_steps_are_checked_or_last() -> None:
    ctx = _ctx(MYSQL)
    install = {s.name: s for s in install_steps(ctx)}
    assert install["site:install"].check is not None
    assert install["sites.php"].check is not None and install["modes"].check is not None
    assert install["site directory"].undo is not None
    assert install["database and user"].undo is not None
    deleting = delete_steps(ctx, [Step(name="backup", script="true\n")])
    assert deleting[0].name == "backup"
    assert [s.name for s in deleting][-1] == "site directory removed"
    assert all(s.undo is None for s in deleting)


@pytest.mark.parametrize("credentials", [True, False])
@pytest.mark.parametrize("vhost", [True, False])
def test_verify_repairs_only_what_drifted(credentials: bool, vhost: bool) -> None:
    names = [s.name for s in verify_steps(_ctx(MYSQL), credentials=credentials, vhost=vhost)]
    assert ("settings.php" in names) is credentials
    assert ("database and user" in names) is credentials
    assert ("vhost (present)" in names) is vhost
    assert names[-1] == "health"
    assert all(s.undo is None for s in verify_steps(_ctx(MYSQL), credentials=True, vhost=True))


def test_enable_disable_and_platform_steps_are_valid_sh() -> None:
    ctx = _ctx(MYSQL)
    assert [s.name for s in disable_steps(ctx)] == ["vhost (disabled)", "health"]
    assert [s.name for s in enable_steps(ctx)] == ["vhost (present)", "health"]
    for step in [*disable_steps(ctx), *enable_steps(ctx), *build_steps(ctx.platform)]:
        _sh_ok(step)
    for step in delete_platform_steps(ctx.platform):
        _sh_ok(step)
    build = build_steps(ctx.platform)[0]
    assert "/srv/p1.reconciler-build" in build.script and build.check is not None
