"""The committed JSON Schemas are current, and the examples validate with a schema line."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.manifests.loader import load_manifests
from reconciler.manifests.schema import render_schemas
from reconciler.manifests.source import SourceSpec

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schemas_are_not_stale() -> None:
    for name, text in render_schemas().items():
        committed = ROOT / "schemas" / name
        assert committed.exists(), f"schemas/{name} missing: run `reconciler schema --out schemas`"
        assert committed.read_text() == text, (
            f"schemas/{name} is stale: run `reconciler schema --out schemas`"
        )


@pytest.mark.parametrize("example", ["quickstart", "multi-server"])
def test_examples_validate(example: str) -> None:
    result = load_manifests(SourceSpec(repo=str(ROOT), path=f"examples/{example}", worktree=True))
    assert result.valid, [p.render() for p in result.errors]
    for path in (ROOT / "examples" / example).glob("*.yaml"):
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema=../../schemas/"), path


def test_quickstart_is_the_embedded_default() -> None:
    manifests = load_manifests(
        SourceSpec(repo=str(ROOT), path="examples/quickstart", worktree=True)
    ).require()
    (server,) = manifests.servers.values()
    assert server.spec.transport == "local"
    assert not server.spec.paths.platforms.startswith("/var/aegir")
    assert server.spec.services.http is not None and server.spec.services.http.type == "builtin"
    assert server.spec.services.db is not None and server.spec.services.db.type == "sqlite"
    assert len(manifests.sites) == 2


def test_multi_server_has_two_ssh_servers_with_nginx_and_mariadb() -> None:
    manifests = load_manifests(
        SourceSpec(repo=str(ROOT), path="examples/multi-server", worktree=True)
    ).require()
    web = [s for s in manifests.servers.values() if s.spec.services.http is not None]
    db = [s for s in manifests.servers.values() if s.spec.services.db is not None]
    assert len(web) >= 2 and all(s.spec.transport == "ssh" for s in manifests.servers.values())
    assert all(s.spec.services.http and s.spec.services.http.type == "nginx" for s in web)
    assert db and all(s.spec.services.db and s.spec.services.db.type == "mariadb" for s in db)
    assert len(manifests.platforms) == 2 and len(manifests.sites) >= 3
