"""Drush alias files from manifests: names, records, `~/` paths, left-out sites, and the CLI."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from reconciler.drivers.aliases import (
    alias_files,
    env_name,
    homes_needed,
    render_aliases,
    render_yaml,
)
from reconciler.manifests.manifestset import ManifestSet
from unit import builders as b
from unit.gitrepo import make_repo

ROOT = Path(__file__).resolve().parents[2]


def _set(*docs: b.Doc) -> ManifestSet:
    return b.check(list(docs)).require()


def _local(name: str, **spec: Any) -> b.Doc:
    doc = b.server(name, transport="local", **spec)
    del doc["spec"]["host"]
    return doc


CASES: list[tuple[str, list[b.Doc], dict[str, dict[str, dict[str, object]]]]] = [
    (
        "ssh on port 22, default platform path",
        [b.server("web1"), b.platform("p1", "web1"), b.site("www.example.com", "p1")],
        {
            "web1": {
                "www_example_com": {
                    "root": "/var/aegir/platforms/p1/web",
                    "uri": "http://www.example.com",
                    "host": "web1.example.net",
                    "user": "aegir",
                }
            }
        },
    ),
    (
        "another port, user, path and docroot",
        [
            b.server("web2", port=2222, user="deploy"),
            b.platform("d10", "web2", path="/srv/d10", docroot="docroot"),
            b.site("a.example.org", "d10"),
        ],
        {
            "web2": {
                "a_example_org": {
                    "root": "/srv/d10/docroot",
                    "uri": "http://a.example.org",
                    "host": "web2.example.net",
                    "user": "deploy",
                    "ssh": {"options": "-p 2222"},
                }
            }
        },
    ),
    (
        "local transport: no host, user or ssh",
        [_local("here"), b.platform("p1", "here", path="/srv/p1"), b.site("b.example.com", "p1")],
        {"here": {"b_example_com": {"root": "/srv/p1/web", "uri": "http://b.example.com"}}},
    ),
    (
        "absent sites left out, servers without sites have no file",
        [
            b.server("web1"),
            b.server("web3"),
            b.platform("p1", "web1", path="/srv/p1"),
            b.site("gone.example.com", "p1", state="absent"),
            b.site("kept.example.com", "p1"),
        ],
        {
            "web1": {
                "kept_example_com": {
                    "root": "/srv/p1/web",
                    "uri": "http://kept.example.com",
                    "host": "web1.example.net",
                    "user": "aegir",
                }
            }
        },
    ),
    (
        "sites grouped by the server of their platform",
        [
            b.server("web1"),
            b.server("web2"),
            b.platform("p1", "web1", path="/srv/p1"),
            b.platform("p2", "web2", path="/srv/p2"),
            b.site("x.example.com", "p2"),
            b.site("y.example.com", "p1"),
            b.site("z.example.com", "p2"),
        ],
        {
            "web1": {
                "y_example_com": {
                    "root": "/srv/p1/web",
                    "uri": "http://y.example.com",
                    "host": "web1.example.net",
                    "user": "aegir",
                }
            },
            "web2": {
                name: {
                    "root": "/srv/p2/web",
                    "uri": f"http://{site}",
                    "host": "web2.example.net",
                    "user": "aegir",
                }
                for name, site in (
                    ("x_example_com", "x.example.com"),
                    ("z_example_com", "z.example.com"),
                )
            },
        },
    ),
]


@pytest.mark.parametrize(("docs", "want"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_render(docs: list[b.Doc], want: dict[str, dict[str, dict[str, object]]]) -> None:
    manifests = _set(*docs)
    assert homes_needed(manifests) == set()
    assert render_aliases(manifests) == want


@pytest.mark.parametrize(
    ("site", "env"),
    [("www.example.com", "www_example_com"), ("a-b.example.co.uk", "a-b_example_co_uk")],
)
def test_env_name(site: str, env: str) -> None:
    assert env_name(site) == env


@pytest.mark.parametrize(
    ("platform", "home", "root"),
    [
        ({"path": "~/platforms/p1"}, "/home/aegir", "/home/aegir/platforms/p1/web"),
        ({"docroot": "."}, "/var/aegir", "/var/aegir/platforms/p1"),
    ],
)
def test_home_paths(platform: dict[str, str], home: str, root: str) -> None:
    server = b.server("web1", paths={"platforms": "~/platforms", "backups": "/b"})
    manifests = _set(server, b.platform("p1", "web1", **platform), b.site("s.example.com", "p1"))
    assert homes_needed(manifests) == {"web1"}
    assert render_aliases(manifests, {"web1": home})["web1"]["s_example_com"]["root"] == root
    with pytest.raises(KeyError):
        render_aliases(manifests)


def test_yaml_round_trip() -> None:
    rendered = render_aliases(_set(*CASES[1][1]))
    files = alias_files(rendered)
    assert list(files) == ["web2.site.yml"]
    assert YAML(typ="safe").load(files["web2.site.yml"]) == rendered["web2"]
    assert "ssh:\n    options: -p 2222\n" in render_yaml(rendered["web2"])


SERVERS = """apiVersion: reconciler/v1
kind: Server
metadata: {name: web1}
spec: {host: web1.example.net, port: 2200, services: {http: {type: nginx}, db: {type: mariadb}}}
---
apiVersion: reconciler/v1
kind: Server
metadata: {name: web2}
spec: {host: 10.0.0.7, user: deploy, services: {http: {type: nginx}, db: {type: mariadb}}}
---
apiVersion: reconciler/v1
kind: Platform
metadata: {name: p1}
spec: {server: web1, path: /srv/p1, source: {existing: true}}
---
apiVersion: reconciler/v1
kind: Platform
metadata: {name: p2}
spec: {server: web2, source: {existing: true}}
---
apiVersion: reconciler/v1
kind: Site
metadata: {name: www.example.com}
spec: {platform: p1}
---
apiVersion: reconciler/v1
kind: Site
metadata: {name: old.example.com}
spec: {platform: p1, state: absent}
---
apiVersion: reconciler/v1
kind: Site
metadata: {name: shop.example.org}
spec: {platform: p2}
"""


def _aliases(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", "aliases", "--repo", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def test_cli_writes_files(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"m.yaml": SERVERS.encode()})
    out = tmp_path / "drush" / "sites"
    done = _aliases(repo, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["web1.site.yml", "web2.site.yml"]
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
    yaml = YAML(typ="safe")
    assert yaml.load((out / "web1.site.yml").read_text()) == {
        "www_example_com": {
            "root": "/srv/p1/web",
            "uri": "http://www.example.com",
            "host": "web1.example.net",
            "user": "aegir",
            "ssh": {"options": "-p 2200"},
        }
    }
    assert yaml.load((out / "web2.site.yml").read_text()) == {
        "shop_example_org": {
            "root": "/var/aegir/platforms/p2/web",
            "uri": "http://shop.example.org",
            "host": "10.0.0.7",
            "user": "deploy",
        }
    }
    printed = _aliases(repo)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith("# web1.site.yml\n")
    assert "\n# web2.site.yml\n" in printed.stdout
    assert "old_example_com" not in printed.stdout
    as_json = _aliases(repo, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["web2"] == yaml.load((out / "web2.site.yml").read_text())
