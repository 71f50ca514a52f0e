"""Foreign vhosts on the real rig: a site a hoster served from a vhost file of its own name.

h01 is prepared as `test_import.py` prepares it (its helpers, imported): the stand-in codebase,
site directories with their settings.php, databases, sites.php entries and an nginx vhost
written by hand. `reconciler import` writes the manifests, which are committed, then:

* a foreign file serving the site's names only: the plan's verify says it is set aside; after
  apply it is renamed to a hidden name (its text kept), `nginx -T` no longer holds it, the site
  answers through the reconciler's vhost; once git says `disabled`, every name answers 503, so
  nothing else serves it;
* a foreign file serving two sites: nothing is renamed, both stay served, and the plan's notes
  name the file, the names and the split to do by hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rig import layout, web
from rig.hosts import TestHost, run_local
from rig.mariadb import FreshDatabase
from rig.web import http_get
from unit.gitrepo import commit

from integration.test_import import (
    _codebase,
    _commit,
    _manifests,
    _reconciler,
    _serve,
    _settings_php,
    _site,
    _unique,
)

pytestmark = pytest.mark.integration


def _nginx_dump(host: TestHost) -> str:
    """`nginx -T` of the host's nginx (run as root here, as the rig reloads it: the login user's
    sudo allows `-t` and `-s reload` only): every file it loads, with its text, and warnings."""
    conf = layout.spec_for(host.name).dir / "nginx.conf"
    done = run_local([layout.NGINX, "-T", "-c", str(conf)])
    return done.out + done.err


def _plan(repo: Path, host: TestHost, want_code: int) -> dict[str, Any]:
    plan = _reconciler(repo, host, "plan", "--detailed-exitcode", "--format", "json")
    assert plan.returncode == want_code, plan.stdout + plan.stderr
    data = json.loads(plan.stdout)
    assert isinstance(data, dict)
    return data


def _apply(repo: Path, host: TestHost) -> None:
    applied = _reconciler(repo, host, "apply", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr


def test_a_foreign_vhost_is_set_aside_and_a_disabled_site_answers_503(
    h01: TestHost,
    standin_repo: Path,
    fresh_db: Callable[[], FreshDatabase],
    tmp_path: Path,
) -> None:
    db = fresh_db()
    site = _unique("fs")
    alias = f"www.{site}"
    platform = _codebase(h01, standin_repo, "legacy")
    _site(h01, platform, site, _settings_php(site, db), install=True, aliases=(alias,))
    foreign = h01.vhost_dir / f"legacy-{site}.conf"
    foreign_text = web.php_vhost(h01, f"{site} {alias}", f"{platform}/web")
    _serve(h01, foreign.name, foreign_text)
    # the hand-written vhost sends /index.php/<path> to PHP; the reconciler's answers 307
    assert http_get("127.0.0.1", h01.http_port, "/index.php/x", alias).status == 200

    repo = _manifests(tmp_path, h01)
    out = repo / "imported"
    done = _reconciler(repo, h01, "import", h01.name, "--out", str(out))
    assert done.returncode == 0, done.stderr
    _commit(repo, out)

    data = _plan(repo, h01, 2)
    actions = data["actions"]
    assert isinstance(actions, list)
    assert [(a["kind"], a["object"]["name"]) for a in actions] == [("site.verify", site)]
    aside = h01.vhost_dir / f".{foreign.name}.replaced-by-reconciler"
    reason = actions[0]["reason"]
    assert f"vhost {h01.vhost_dir}/{site}.conf is missing" in reason, reason
    assert (
        f"vhost {foreign} (not the reconciler's) also serves {site} {alias}: set aside as {aside}"
    ) in reason, reason

    _apply(repo, h01)
    assert sorted(p.name for p in h01.vhost_dir.iterdir()) == [aside.name, f"{site}.conf"]
    assert aside.read_text() == foreign_text
    dump = _nginx_dump(h01)
    assert f"# configuration file {h01.vhost_dir}/{site}.conf:" in dump, dump[-2000:]
    assert foreign.name not in dump and "conflicting server name" not in dump, dump[-2000:]
    for name in (site, alias):
        page = http_get("127.0.0.1", h01.http_port, "/", name)
        assert page.status == 200 and f"Hand built {site}".encode() in page.body, page.body[:300]
        assert http_get("127.0.0.1", h01.http_port, "/index.php/x", name).status == 307
    assert _plan(repo, h01, 0)["actions"] == []

    manifest = out / f"site-{site}.yaml"
    disabled = manifest.read_text().replace("spec:\n", "spec:\n  state: disabled\n", 1)
    assert disabled != manifest.read_text()
    commit(repo, {f"imported/{manifest.name}": disabled.encode()}, "disable")
    kinds = [(a["kind"], a["object"]["name"]) for a in _plan(repo, h01, 2)["actions"]]
    assert kinds == [("site.disable", site)]
    _apply(repo, h01)
    for name in (site, alias):
        page = http_get("127.0.0.1", h01.http_port, "/", name)
        assert page.status == 503 and b"This site is disabled." in page.body, (name, page)
    assert aside.read_text() == foreign_text


def test_a_foreign_vhost_serving_another_site_too_is_left_with_a_note(
    h01: TestHost,
    standin_repo: Path,
    fresh_db: Callable[[], FreshDatabase],
    tmp_path: Path,
) -> None:
    one, two = _unique("sa"), _unique("sb")
    platform = _codebase(h01, standin_repo, "shared")
    for name in (one, two):
        _site(h01, platform, name, _settings_php(name, fresh_db()), install=True)
    shared = h01.vhost_dir / f"shared-{one}.conf"
    text = web.php_vhost(h01, one, f"{platform}/web") + web.php_vhost(h01, two, f"{platform}/web")
    _serve(h01, shared.name, text)

    repo = _manifests(tmp_path, h01)
    out = repo / "imported"
    done = _reconciler(repo, h01, "import", h01.name, "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "platform-shared.yaml",
        f"site-{one}.yaml",
        f"site-{two}.yaml",
    ]
    _commit(repo, out)

    data = _plan(repo, h01, 0)
    assert data["actions"] == [], data
    notes = data["notes"]
    assert isinstance(notes, list)
    for name, other in ((one, two), (two, one)):
        note = next((n for n in notes if n.startswith(f"Site {name}: ")), None)
        assert note is not None, notes
        assert f"its vhost is not written: {shared} serves its names {name} and also {other}" in (
            note
        )
        assert "split it by hand" in note and f"writes {h01.vhost_dir}/{name}.conf" in note

    _apply(repo, h01)
    assert sorted(p.name for p in h01.vhost_dir.iterdir()) == [shared.name]
    assert shared.read_text() == text
    assert shared.name in _nginx_dump(h01)
    for name in (one, two):
        page = http_get("127.0.0.1", h01.http_port, "/", name)
        assert page.status == 200 and f"Hand built {name}".encode() in page.body, page.body[:300]
