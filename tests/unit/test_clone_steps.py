"""The clone's steps, rendered from manifests without servers: their order, roles and locks, that
the source is only read (no step or undo names it, its side only dumps and archives), the aliases
of the clone's own manifest only, secrets only in scripts sent on stdin, valid `sh`, the clones
refused, and the files copy run for real through the local transport."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from reconciler.actions.clone import TRANSFER_STEPS, clone_steps, copied_excludes
from reconciler.actions.context import (
    ServerFacts,
    SiteContext,
    platform_context,
    server_facts,
    site_context,
)
from reconciler.actions.script import Step, Transfer, lock_name, render_step, stream_argv
from reconciler.apply.runner import run_steps
from reconciler.errors import PermanentError
from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.names import database_name
from reconciler.transport.local import LocalTransport
from unit import builders as b

SOURCE, CLONE = "www.example.com", "copy.example.com"
NAMES = [
    "site directory",
    "database and user",
    "settings.php",
    "sites.php",
    "database copied",
    "files copied",
    "modes",
    "cache:rebuild",
    "vhost (present)",
    "health",
]


def _set(*docs: b.Doc) -> ManifestSet:
    return b.check(list(docs)).require()


def _ctx(manifests: ManifestSet, name: str) -> SiteContext:
    facts: dict[str, ServerFacts] = {
        n: server_facts(s, "aegir", "/home/aegir") for n, s in manifests.servers.items()
    }
    site = manifests.sites[name]
    platform = manifests.platform_of(site)
    where = platform_context(manifests, platform, facts[platform.spec.server])
    return site_context(manifests, site, where, facts)


def _two_servers(clone: Mapping[str, object] | None = None, web2: str = "mariadb") -> ManifestSet:
    web2_services = {"http": {"type": "nginx"}, "db": {"type": web2}}
    return _set(
        b.server("web1", address="10.0.0.5"),
        b.server("web2", address="10.0.0.6", services=web2_services),
        b.platform("p1", "web1", path="/srv/p1"),
        b.platform("p2", "web2", path="/srv/p2"),
        b.site(SOURCE, "p1", aliases=["example.com"]),
        b.site(CLONE, "p2", cloneFrom=SOURCE, aliases=["copy.example.net"], **(clone or {})),
    )


def _sqlite(root: str = "/srv") -> ManifestSet:
    services = {"http": {"type": "nginx"}, "db": {"type": "sqlite"}}
    return _set(
        b.server("web1", services=services),
        b.platform("p1", "web1", path=f"{root}/p1"),
        b.platform("p2", "web1", path=f"{root}/p2"),
        b.site(SOURCE, "p1"),
        b.site(CLONE, "p2", cloneFrom=SOURCE),
    )


def _steps(manifests: ManifestSet) -> tuple[list[Step | Transfer], SiteContext, SiteContext]:
    source, target = _ctx(manifests, SOURCE), _ctx(manifests, CLONE)
    return clone_steps(target, source), source, target


def _texts(step: Step | Transfer) -> list[str]:
    """Everything of a step that runs on the new site's servers."""
    return [t for t in (step.script, step.check, step.undo) if t is not None]


def test_order_roles_and_locks() -> None:
    steps, source, target = _steps(_two_servers())
    assert [s.name for s in steps] == NAMES
    on = {s.name: s.on for s in steps}
    assert on["database and user"] == "db"
    assert {n: r for n, r in on.items() if n != "database and user"} == dict.fromkeys(
        [n for n in NAMES if n != "database and user"], "web"
    )
    transfers = [s for s in steps if isinstance(s, Transfer)]
    assert [t.name for t in transfers] == list(TRANSFER_STEPS)
    for transfer in transfers:
        assert transfer.source_on == "src"
        assert transfer.source_lock == lock_name("site", SOURCE)
        assert transfer.lock == lock_name("site", CLONE)
        assert transfer.undo is None and transfer.check is None
    assert target.db_name == database_name(CLONE) != source.db_name
    assert target.grant_hosts == ["localhost", "127.0.0.1"]  # its web server holds its db


def test_the_source_is_only_read() -> None:
    steps, source, target = _steps(_two_servers())
    for step in steps:
        for text in _texts(step):
            assert source.site_dir not in text and source.db_name not in text, step.name
            assert source.platform.codebase not in text, step.name
    undone = [s.name for s in steps if s.undo is not None]
    assert undone == ["site directory", "database and user", "sites.php"]
    dump, files = (s for s in steps if isinstance(s, Transfer))
    assert dump.source_script.split()[1:3] == ["sql:dump", "'--structure-tables-list=cache_*'"]
    assert f"--uri=http://{SOURCE}" in dump.source_script
    assert "tar -cf -" in files.source_script and source.site_dir in files.source_script
    for transfer in (dump, files):
        for word in ("rm ", "sql:drop", "sql:cli", "chmod", "chgrp", "mv ", "tar -x", ">"):
            assert word not in transfer.source_script, (transfer.name, word)
    assert f"--uri=http://{CLONE}" in dump.script and "sql:drop" in dump.script
    assert target.site_dir in files.script and "tar -xf -" in files.script


def test_aliases_are_the_clones_own() -> None:
    steps, _, _ = _steps(_two_servers())
    everything = "".join(t for s in steps for t in _texts(s))
    everything += "".join(s.source_script for s in steps if isinstance(s, Transfer))
    assert "copy.example.net" in everything
    assert "'example.com'" not in everything and "$sites['example.com']" not in everything


def test_secrets_only_in_scripts_on_stdin() -> None:
    steps, _, _ = _steps(_two_servers())
    secrets = {secret for s in steps for secret in s.secrets}
    assert len(secrets) == 2 and all(len(s) >= 32 for s in secrets)  # password and hash salt
    for step in steps:
        if isinstance(step, Transfer):  # its scripts travel in argv
            argv = [
                *stream_argv(step.source_script, step.source_lock),
                *stream_argv(step.script, step.lock),
            ]
            assert not any(secret in arg for secret in secrets for arg in argv), step.name
    again, _, _ = _steps(_two_servers())
    assert secrets.isdisjoint(secret for s in again for secret in s.secrets)


@pytest.mark.parametrize("manifests", [_two_servers(), _sqlite()], ids=["mariadb", "sqlite"])
def test_every_script_is_valid_sh(manifests: ManifestSet) -> None:
    steps, _, _ = _steps(manifests)
    for step in steps:
        if isinstance(step, Transfer):
            bodies = [stream_argv(step.source_script, None)[2], stream_argv(step.script, None)[2]]
        else:
            bodies = [render_step(step)] + ([render_step(step, undo=True)] if step.undo else [])
        for body in bodies:
            done = subprocess.run(["sh", "-n"], input=body, capture_output=True, text=True)
            assert done.returncode == 0, (step.name, done.stderr)


def test_the_dump_is_rewritten_in_the_sources_dialect() -> None:
    mariadb, _, _ = _steps(_two_servers())
    sqlite, source, target = _steps(_sqlite())
    link = f"http://{SOURCE}/sites/{SOURCE}/f"
    mysql_line = f"INSERT INTO `n` VALUES (1,'it\\'s {link}');\n".encode()
    sqlite_line = f"INSERT INTO n VALUES(1,'it''s \\ {link}');\n".encode()
    mysql_dump = next(s for s in mariadb if isinstance(s, Transfer))
    sqlite_dump = next(s for s in sqlite if isinstance(s, Transfer))
    assert mysql_dump.rewrite is not None and sqlite_dump.rewrite is not None
    want = f"http://{CLONE}/sites/{CLONE}/f".encode()
    assert mysql_dump.rewrite(mysql_line) == mysql_line.replace(link.encode(), want)
    assert sqlite_dump.rewrite(sqlite_line) == sqlite_line.replace(link.encode(), want)
    assert "sql:drop" not in sqlite_dump.script and target.sqlite_path in sqlite_dump.script
    assert copied_excludes(source)[-2:] == ["private/db.sqlite", "private/db.sqlite-*"]


def test_clones_that_are_refused() -> None:
    with pytest.raises(PermanentError) as mixed:
        _steps(_two_servers(web2="sqlite"))
    message = mixed.value.message
    assert f"Site {CLONE}: cannot be cloned from {SOURCE}" in message
    assert "would be sqlite on web2" in message and f"{SOURCE}'s is mariadb on web1" in message
    shared = {"db": {"name": database_name(SOURCE)}}
    with pytest.raises(PermanentError, match="a clone gets its own"):
        _steps(_two_servers(clone=shared))


def test_the_files_copy_leaves_out_settings_the_database_and_generated_files(
    tmp_path: Path,
) -> None:
    steps, source, target = _steps(_sqlite(str(tmp_path)))
    copy = next(s for s in steps if isinstance(s, Transfer) and s.name == "files copied")
    src = Path(source.site_dir)
    kept = ["files/a.txt", "files/sub/deep name.bin", "files/styles/t.png", "private/x.txt"]
    left = ["settings.php", "private/db.sqlite", "private/db.sqlite-journal", "files/css/a.css"]
    left += ["files/js/a.js", "files/php/twig/t.php", "private/tmp/upload.part"]
    for name in kept + left:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(name.encode())
    (src / "files" / "link").symlink_to("a.txt")
    Path(target.site_dir, "files").mkdir(parents=True)
    before = sorted(p.relative_to(src) for p in src.rglob("*"))
    local = {"web": LocalTransport("w"), "src": LocalTransport("s")}
    outcome = asyncio.run(run_steps([copy], local))
    assert outcome.ok, outcome.error
    dest = Path(target.site_dir)
    for name in kept:
        assert (dest / name).read_bytes() == name.encode()
    for name in left:
        assert not (dest / name).exists(), name
    assert (dest / "files/link").is_symlink() and (dest / "private/tmp").is_dir()
    assert sorted(p.relative_to(src) for p in src.rglob("*")) == before
