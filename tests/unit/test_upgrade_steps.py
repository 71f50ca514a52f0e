"""The steps of an upgrade as tables, rendered without any server through `work_for` (so the
old place is found as apply finds it): order, the role each step runs on, locks, which steps
undo what, `sh -n` of every script, check, undo and streaming side, and the refusals. Both
paths: a rename on one server, and a copy to another server or database server."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from reconciler.actions.context import ServerFacts, SiteContext, platform_context, site_context
from reconciler.actions.script import Step, Transfer, render_step, stream_argv
from reconciler.actions.upgrade import finish_upgrade_steps, upgrade_steps
from reconciler.actions.upgrade_move import NO_RETURN
from reconciler.apply.contexts import all_facts
from reconciler.apply.steps_for import work_for
from reconciler.errors import PermanentError
from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.names import database_name
from reconciler.observe.models import (
    ObservedDatabase,
    ObservedDbServer,
    ObservedPlatform,
    ObservedServer,
    ObservedSite,
)
from reconciler.plan.model import Action
from unit import builders as b

SITE = "www.example.com"
DB = database_name(SITE)
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
BACKUP = f"backup {SITE}-20260102T030405Z"
NGINX = {"type": "nginx"}
MARIADB = {"type": "mariadb"}


def _set(*docs: b.Doc) -> ManifestSet:
    return b.check(list(docs)).require()


def _observed(
    manifests: ManifestSet, where: str, platform: str, dbs: set[str]
) -> list[ObservedServer]:
    """Every declared server observed: its declared platforms built, the site on `platform`."""
    servers = []
    for name in manifests.servers:
        codebases = []
        for p in manifests.platforms.values():
            if p.spec.server != name:
                continue
            path = manifests.platform_path(p)
            sites: tuple[ObservedSite, ...] = ()
            if p.name == platform and name == where:
                database = ObservedDatabase(driver="mysql", name=DB, username=DB)
                sites = (ObservedSite(SITE, f"{path}/web/sites/{SITE}", database),)
            codebases.append(ObservedPlatform(p.name, path, "web", "10.3.6", sites))
        listing = ObservedDbServer(databases=dict.fromkeys(dbs if name == where else (), 1))
        servers.append(
            ObservedServer(
                name,
                True,
                user="aegir",
                home="/home/aegir",
                platforms=tuple(codebases),
                database_server=listing,
            )
        )
    return servers


def _work(
    manifests: ManifestSet, source: str, *, at: str | None = None, resumed: bool = False
) -> tuple[list[Step | Transfer], dict[str, str]]:
    """The steps of upgrading SITE from platform `source` to its declared one; `at`: the
    platform observe sees it on (default: `source`)."""
    old = manifests.platforms[source]
    where = manifests.platforms[at or source]
    path = f"{manifests.platform_path(old)}/web/sites/{SITE}"
    action = Action(
        id=f"site.upgrade:{SITE}",
        kind="site.upgrade",
        object_kind="Site",
        object_name=SITE,
        server=manifests.platform_of(manifests.sites[SITE]).spec.server,
        reason="",
        path=path,
        platform=manifests.sites[SITE].spec.platform,
        source=source,
    )
    observed = _observed(manifests, where.spec.server, where.name, {DB})
    backup_id = BACKUP.removeprefix("backup ") if resumed else None
    work = work_for(action, manifests, observed, now=NOW, backup_id=backup_id)
    return list(work.steps), work.servers


def _table(steps: list[Step | Transfer]) -> list[tuple[str, str, str | None]]:
    return [(s.name, s.on, getattr(s, "source_on", None)) for s in steps]


def _sh_ok(steps: list[Step | Transfer]) -> None:
    for step in steps:
        texts = []
        if isinstance(step, Transfer):
            texts += [stream_argv(step.source_script, None)[2], stream_argv(step.script, None)[2]]
            step = step.as_step(":\n")
        texts.append(render_step(step))
        if step.undo is not None:
            texts.append(render_step(step, undo=True))
        for text in texts:
            done = subprocess.run(["sh", "-n"], input=text, capture_output=True, text=True)
            assert done.returncode == 0, (step.name, done.stderr, text)


SAME = _set(
    b.server("web1", services={"http": NGINX, "db": MARIADB}),
    b.platform("p1", "web1", path="/srv/p1"),
    b.platform("p2", "web1", path="/srv/p2"),
    b.platform("p0", "web1", path="/srv/p0"),
    b.site(SITE, "p2", aliases=["example.com"]),
)


def test_same_server_renames_the_directory_and_restores_the_database_on_failure() -> None:
    steps, roles = _work(SAME, "p1")
    assert roles == {"web": "web1", "db": "web1", "src": "web1", "srcdb": "web1"}
    assert _table(steps) == [
        (BACKUP, "src", None),
        ("maintenance mode on", "src", None),
        ("database restore point", "src", None),
        ("sites.php entries (new platform)", "web", None),
        ("site directory moved", "web", None),
        ("vhost (present)", "web", None),
        ("updatedb", "web", None),
        ("cache:rebuild", "web", None),
        ("maintenance mode off", "web", None),
        ("health", "web", None),
        ("sites.php entries removed (old platform)", "src", None),
        ("modes", "web", None),
    ]
    by = {s.name: s for s in steps}
    site_lock = f"site-{SITE}.lock"
    assert {s.lock for s in steps if s.name not in ("health",) and "sites.php" not in s.name} == {
        site_lock,
        "server-web1.lock",
    }
    assert by["sites.php entries (new platform)"].lock == "platform-_srv_p2.lock"
    assert by["sites.php entries removed (old platform)"].lock == "platform-_srv_p1.lock"
    assert by["health"].lock is None
    undone = [s.name for s in steps if s.undo is not None]
    assert undone == [
        "maintenance mode on",
        "database restore point",
        "sites.php entries (new platform)",
        "site directory moved",
        "vhost (present)",
    ]
    # checked: the expensive and the one-way steps
    checked = {s.name for s in steps if s.check is not None}
    assert {BACKUP, "maintenance mode on", "site directory moved", "modes"} <= checked
    move = by["site directory moved"]
    assert f"/srv/p1/web/sites/{SITE}" in move.script and f"/srv/p2/web/sites/{SITE}" in move.script
    assert "mv -T" in move.script and "chmod u+w" in move.script
    vhost = by["vhost (present)"]
    assert "root /srv/p2/web;" in vhost.script
    assert vhost.undo is not None and "root /srv/p1/web;" in vhost.undo
    restore = by["database restore point"].undo
    assert restore is not None and "sql:drop" in restore and "sql:cli" in restore
    # by the old platform's drush: undone after the directory is back
    assert "/srv/p1/vendor/bin/drush sql:drop" in restore
    assert f"{SITE}-20260102T030405Z.tar.gz" in restore
    assert "/srv/p2/vendor/bin/drush updatedb" in by["updatedb"].script
    assert "/srv/p1/vendor/bin/drush maint:set" in by["maintenance mode on"].script
    _sh_ok(steps)


def test_a_resumed_rename_finds_the_site_at_its_new_place() -> None:
    first, _ = _work(SAME, "p1")
    again, roles = _work(SAME, "p1", at="p2", resumed=True)
    assert [s.name for s in again] == [s.name for s in first]
    assert roles["src"] == "web1"
    # without the backup id of an interrupted run, a site gone from its place is an error, and
    # so is a site at neither place
    with pytest.raises(PermanentError, match="no longer at"):
        _work(SAME, "p1", at="p2")
    with pytest.raises(PermanentError, match="no longer at"):
        _work(SAME, "p1", at="p0", resumed=True)


CROSS = _set(
    b.server("web1", address="10.0.0.5", services={"http": NGINX, "db": MARIADB}),
    b.server("web2", address="10.0.0.6", services={"http": NGINX, "db": MARIADB}),
    b.platform("p1", "web1", path="/srv/p1"),
    b.platform("p2", "web2", path="/srv/p2"),
    b.site(SITE, "p2"),
)

COPY_HEAD = [(BACKUP, "src", None), ("maintenance mode on", "src", None)]
COPY_TAIL = [
    ("updatedb", "web", None),
    ("cache:rebuild", "web", None),
    ("maintenance mode off", "web", None),
    ("health", "web", None),
    (NO_RETURN, "web", None),
    ("old site retired", "src", None),
    ("old vhost removed", "src", None),
    ("sites.php entries removed (old platform)", "src", None),
    ("old site directory removed", "src", None),
]


def test_another_server_copies_directory_and_database_and_removes_the_old_copy_last() -> None:
    steps, roles = _work(CROSS, "p1")
    assert roles == {"web": "web2", "db": "web2", "src": "web1", "srcdb": "web1"}
    assert _table(steps) == [
        *COPY_HEAD,
        ("site directory copied", "web", "src"),
        ("database servers distinct", "db", "srcdb"),
        ("database and user", "db", None),
        ("database copied", "db", "srcdb"),
        ("settings.php", "web", None),
        ("web server group", "web", None),
        ("sites.php entries (new platform)", "web", None),
        ("vhost (present)", "web", None),
        *COPY_TAIL,
        ("old database and user dropped", "srcdb", None),
    ]
    by = {s.name: s for s in steps}
    copied = by["site directory copied"]
    assert isinstance(copied, Transfer)
    assert copied.check is not None and copied.undo is not None and copied.source_lock is None
    assert f".{SITE}.reconciler-tmp" in copied.script and "rm -rf" in copied.undo
    database = by["database copied"]
    assert isinstance(database, Transfer) and database.source_lock is None
    assert 'mysqldump --defaults-file="$HOME"/.my.cnf ' in database.source_script
    assert f"DROP DATABASE IF EXISTS `{DB}`" in database.script
    password = by["database and user"].secrets[0]
    assert password in database.secrets and password in by["updatedb"].secrets
    assert password not in database.script and password not in database.source_script
    assert (
        by["database and user"].undo is not None and "DROP DATABASE" in by["database and user"].undo
    )
    assert by["vhost (present)"].undo is not None and "rm -f" in by["vhost (present)"].undo
    # nothing is undone past the health check: the undo of the point of no return refuses
    barrier = by[NO_RETURN]
    assert barrier.undo is not None
    assert subprocess.run(["sh", "-c", barrier.undo], capture_output=True).returncode != 0
    after = [s for s in steps[steps.index(barrier) + 1 :]]
    assert all(s.undo is None for s in after)
    # before the health check, the old copy is only read (backup, streams) and put in
    # maintenance mode
    before = steps[: steps.index(by["health"])]
    assert [s.name for s in before if s.on in ("src", "srcdb")] == [BACKUP, "maintenance mode on"]
    dropped = by["old database and user dropped"]
    assert dropped.on == "srcdb" and f"DROP DATABASE IF EXISTS `{DB}`" in dropped.script
    _sh_ok(steps)


def test_a_resumed_copy_past_its_point_of_no_return_only_cleans_up() -> None:
    steps, _ = _work(CROSS, "p1", at="p2", resumed=True)
    assert [s.name for s in steps] == [
        BACKUP,
        "old site retired",
        "old vhost removed",
        "sites.php entries removed (old platform)",
        "old site directory removed",
        "old database and user dropped",
        "web server group",
    ]
    assert all(s.undo is None for s in steps)
    assert [s.on for s in steps[:5]] == ["src"] * 5
    _sh_ok(steps)


PINNED = [
    b.server("web1", address="10.0.0.5", services={"http": NGINX, "db": MARIADB}),
    b.platform("p1", "web1", path="/srv/p1"),
    b.platform("p2", "web2", path="/srv/p2"),
    b.site(SITE, "p2", db={"server": "web1"}),
]


def test_a_pinned_database_stays_with_a_user_for_the_new_web_server() -> None:
    manifests = _set(b.server("web2", address="10.0.0.6", services={"http": NGINX}), *PINNED)
    steps, roles = _work(manifests, "p1")
    assert roles == {"web": "web2", "db": "web1", "src": "web1", "srcdb": "web1"}
    names = [s.name for s in steps]
    assert "database copied" not in names and "database servers distinct" not in names
    by = {s.name: s for s in steps}
    user = by["database and user"]
    assert user.on == "db" and "'10.0.0.6'" in user.script and "'localhost'" not in user.script
    assert user.undo is not None and "DROP DATABASE" not in user.undo
    assert "DROP USER IF EXISTS" in user.undo and "'10.0.0.6'" in user.undo
    point = by["database restore point"]
    assert point.on == "src" and point.undo is not None
    assert "/srv/p1/vendor/bin/drush sql:drop" in point.undo  # the old place: its copy is intact
    assert names.index("database restore point") < names.index("updatedb")
    old_users = by["old database users dropped"]
    assert old_users.on == "srcdb" and "DROP DATABASE" not in old_users.script
    assert "'localhost'" in old_users.script and "'10.0.0.6'" not in old_users.script
    _sh_ok(steps)


def test_a_pinned_database_already_granted_keeps_the_copied_settings() -> None:
    manifests = _set(b.server("web2", address="127.0.0.1", services={"http": NGINX}), *PINNED)
    names = [s.name for s in _work(manifests, "p1")[0]]
    assert "database and user" not in names and "settings.php" not in names
    assert "old database users dropped" not in names and "database restore point" in names


def test_a_pinned_database_granted_in_part_is_refused() -> None:
    manifests = _set(b.server("web2", address="::1", services={"http": NGINX}), *PINNED)
    with pytest.raises(PermanentError, match="would change the password"):
        _work(manifests, "p1")


def _contexts(manifests: ManifestSet, old_db: str) -> tuple[SiteContext, SiteContext]:
    """SITE declared on its platform, and the same place with its database on `old_db`."""
    facts: dict[str, ServerFacts] = all_facts(manifests, [])
    site = manifests.sites[SITE]
    where = platform_context(manifests, manifests.platform_of(site), facts["web1"])
    new = site_context(manifests, site, where, facts)
    server = manifests.servers[old_db]
    return replace(new, db=facts[old_db], db_service=server.spec.services.db), new


def test_a_database_only_move_rewrites_settings_php_with_an_undo_from_the_backup() -> None:
    manifests = _set(
        b.server("web1", services={"http": NGINX, "db": MARIADB}),
        b.server("db2", services={"db": {"type": "mariadb", "port": 3307}}),
        b.platform("p1", "web1", path="/srv/p1"),
        b.site(SITE, "p1", db={"server": "db2"}),
    )
    old, new = _contexts(manifests, "web1")
    backup = [Step(name=BACKUP, script="true\n", on="web")]
    steps = upgrade_steps(old, new, backup=backup, core_version="10.3.6")
    assert [s.name for s in steps] == [
        BACKUP,
        "maintenance mode on",
        "database servers distinct",
        "database and user",
        "database copied",
        "settings.php",
        "web server group",
        "updatedb",
        "cache:rebuild",
        "maintenance mode off",
        "health",
        NO_RETURN,
        "old database and user dropped",
    ]
    by = {s.name: s for s in steps}
    settings = by["settings.php"]
    assert settings.undo is not None and "site/settings.php" in settings.undo
    assert f"{SITE}-20260102T030405Z.tar.gz" in settings.undo
    assert "'port' => 3307" in settings.script
    finish = finish_upgrade_steps(old, new, backup=backup, core_version=None)
    assert [s.name for s in finish] == [BACKUP, "old database and user dropped", "web server group"]
    _sh_ok(steps)


def test_what_cannot_be_upgraded_is_refused() -> None:
    manifests = _set(
        b.server("web1", services={"http": NGINX, "db": MARIADB}),
        b.server("lite", services={"db": {"type": "sqlite"}}),
        b.platform("p1", "web1", path="/srv/p1"),
        b.site(SITE, "p1"),
    )
    old, new = _contexts(manifests, "web1")
    backup = [Step(name=BACKUP, script="true\n")]
    with pytest.raises(PermanentError, match="nothing to move"):
        upgrade_steps(old, new, backup=backup, core_version=None)
    lite, _ = _contexts(manifests, "lite")
    with pytest.raises(PermanentError, match="not converted"):
        upgrade_steps(lite, new, backup=backup, core_version=None)
    other = replace(old, platform=replace(old.platform, codebase="/srv/p0"))
    with pytest.raises(ValueError, match="safety backup"):
        upgrade_steps(other, new, backup=[], core_version=None)
    wrong = [Step(name="backup other.example.com-20260102T030405Z", script="true\n")]
    with pytest.raises(ValueError, match="not one of site"):
        upgrade_steps(other, new, backup=wrong, core_version=None)
