"""`reconciler import h01` on the real rig: sites a hoster built by hand are adopted.

Each test prepares h01 as a hoster would, without the reconciler: the stand-in codebase cloned
into a platform directory, a site directory with a settings.php holding its credentials and the
modes and owners of CONTRACT.md's table, its MariaDB database and user made by hand, a sites.php
entry, `drush site:install` run into it, and an nginx vhost. Then `import` writes the manifests,
they validate, are committed, and `plan --detailed-exitcode` tells what is left:

* the vhost the reconciler itself writes (the journal lost, re-adopting what it had built): the
  plan is empty;
* a foreign vhost (another file name, a wildcard name no alias can be): the plan holds one
  `site.verify` with that reason, nothing else, and once applied the plan is empty; beside it, a
  site whose credentials Aegir kept in the vhost (`$_SERVER[...]` in settings.php) is reported as
  not importable, with what to do.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rig import layout, web
from rig.hosts import TestHost
from rig.manifests import server_yaml
from rig.mariadb import FreshDatabase
from rig.web import http_get
from ruamel.yaml import YAML
from unit.gitrepo import commit, make_repo

from reconciler.drivers.nginx import render_vhost

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _reconciler(repo: Path, host: TestHost, *args: str) -> subprocess.CompletedProcess[str]:
    """`reconciler` on the committed manifests (no --worktree), a journal of the test's own."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "reconciler",
            *args,
            "--repo",
            str(repo),
            "--ssh-key",
            str(host.identity_file),
            "--known-hosts",
            str(host.known_hosts),
            "--state",
            str(repo.parent / "state.db"),
            "--log-format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )


def _settings_php(site: str, db: FreshDatabase) -> str:
    return f"""<?php
// {site}: written by hand, credentials kept here.
$databases['default']['default'] = [
  'driver' => 'mysql',
  'database' => '{db.name}',
  'username' => '{db.user}',
  'password' => '{db.password}',
  'host' => '127.0.0.1',
  'port' => 3306,
  'prefix' => '',
];
$settings['hash_salt'] = '{secrets.token_hex(24)}';
$settings['config_sync_directory'] = 'sites/{site}/private/config/sync';
$settings['file_private_path'] = 'sites/{site}/private';
"""


AEGIR_SETTINGS = """<?php
// Aegir's way: the credentials are fastcgi_params of the vhost.
if (isset($_SERVER['db_name'])) {
  $databases['default']['default'] = array(
    'driver' => $_SERVER['db_type'],
    'database' => $_SERVER['db_name'],
    'username' => $_SERVER['db_user'],
    'password' => $_SERVER['db_passwd'],
    'host' => $_SERVER['db_host'],
    'port' => $_SERVER['db_port'],
  );
}
"""


def _codebase(host: TestHost, repo: Path, directory: str) -> Path:
    platform = host.platforms / directory
    host.run(["git", "clone", "--quiet", "--branch", "10.3.6", str(repo), str(platform)])
    return platform


def _site(
    host: TestHost,
    platform: Path,
    site: str,
    settings: str,
    *,
    install: bool,
    aliases: tuple[str, ...] = (),
) -> None:
    """A site directory as CONTRACT.md's table wants it, mapped in sites.php (and aliases)."""
    sites = platform / "web/sites"
    site_dir = sites / site
    host.run(["mkdir", "-p", f"{site_dir}/files", f"{site_dir}/private/config/sync"])
    host.write_file(site_dir / "settings.php", settings.encode(), 0o640)
    if install:
        done = host.run(
            [
                str(platform / "vendor/bin/drush"),
                f"--root={platform}",
                "site:install",
                "-y",
                f"--sites-subdir={site}",
                f"--site-name=Hand built {site}",
            ],
            check=False,
        )
        assert done.returncode == 0, done.err
    entry = "".join(f"$sites['{name}'] = '{site}';\n" for name in (site, *aliases))
    host.run(
        ["sh", "-c", 'touch "$2" && printf "%s" "$1" >> "$2"', "sh", entry, f"{sites}/sites.php"]
    )
    script = (
        'chgrp -R www-data "$1" && find "$1/files" "$1/private" -type d -exec chmod 2770 {} + '
        '&& chmod 0440 "$1/settings.php" && chmod 0550 "$1"'
    )
    host.run(["sh", "-c", script, "sh", str(site_dir)])


def _serve(host: TestHost, name: str, text: str) -> None:
    host.write_file(host.vhost_dir / name, text.encode())
    host.nginx_test()
    web.reload_nginx(layout.spec_for(host.name), via=host)


def _unique(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(4)}.import.example"


def _manifests(tmp_path: Path, host: TestHost) -> Path:
    return make_repo(tmp_path / "manifests", {"servers.yaml": server_yaml(host).encode()})


def _commit(repo: Path, out: Path) -> None:
    commit(repo, {f"imported/{p.name}": p.read_bytes() for p in sorted(out.iterdir())}, "import")


def test_re_adopting_what_the_reconciler_had_built_gives_an_empty_plan(
    h01: TestHost,
    standin_repo: Path,
    fresh_db: Callable[[], FreshDatabase],
    tmp_path: Path,
) -> None:
    db = fresh_db()
    site = _unique("ra")
    alias = f"www.{site}"
    platform = _codebase(h01, standin_repo, "Standin_10.3.6")
    _site(h01, platform, site, _settings_php(site, db), install=True, aliases=(alias,))
    ours = render_vhost(
        site,
        [alias],
        f"{platform}/web",
        listen_port=h01.http_port,
        listen_address="127.0.0.1",
        fastcgi=f"unix:{h01.php_fpm_socket}",
        redirect_aliases=False,
        state="present",
    )
    _serve(h01, f"{site}.conf", ours)
    page = http_get("127.0.0.1", h01.http_port, "/", alias)
    assert page.status == 200 and f"Hand built {site}".encode() in page.body, page.body[:300]

    repo = _manifests(tmp_path, h01)
    out = repo / "imported"
    done = _reconciler(repo, h01, "import", h01.name, "--out", str(out))
    assert done.returncode == 0, done.stderr
    files = sorted(p.name for p in out.iterdir())
    assert files == ["platform-standin-10-3-6.yaml", f"site-{site}.yaml"]
    assert done.stdout.split() == [str(out / f) for f in files]
    assert "Imported from h01: 1 platform, 1 site" in done.stderr
    assert "Once they are committed, the plan holds nothing for them." in done.stderr
    platform_doc = YAML(typ="safe").load((out / files[0]).read_text())
    assert platform_doc["spec"] == {
        "server": "h01",
        "path": str(platform),
        "docroot": "web",
        "source": {"existing": True},
    }
    site_text = (out / files[1]).read_text()
    assert site_text.startswith("# Imported by `reconciler import h01` on ")
    assert YAML(typ="safe").load(site_text)["spec"] == {
        "platform": "standin-10-3-6",
        "db": {"name": db.name, "user": db.user},
        "aliases": [alias],
    }
    assert db.password not in done.stdout + done.stderr + site_text

    _commit(repo, out)
    valid = _reconciler(repo, h01, "validate")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    plan = _reconciler(repo, h01, "plan", "--detailed-exitcode", "--format", "json")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    data = json.loads(plan.stdout)
    assert data["actions"] == [] and data["unmanaged"] == [], data

    again = _reconciler(repo, h01, "import", h01.name)
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""
    assert "Nothing to import from h01" in again.stderr


def test_a_foreign_vhost_is_one_verify_and_aegir_credentials_are_not_imported(
    h01: TestHost,
    standin_repo: Path,
    fresh_db: Callable[[], FreshDatabase],
    tmp_path: Path,
) -> None:
    db, aegir_db = fresh_db(), fresh_db()
    site, aegir = _unique("fv"), _unique("aegir")
    platform = _codebase(h01, standin_repo, "legacy")
    _site(h01, platform, site, _settings_php(site, db), install=True)
    _site(h01, platform, aegir, AEGIR_SETTINGS, install=False)
    names = f"{site} www.{site}"
    _serve(h01, f"legacy-{site}.conf", web.php_vhost(h01, names, f"{platform}/web"))
    params = "".join(
        f"        fastcgi_param {key} {value};\n"
        for key, value in [
            ("db_type", "mysql"),
            ("db_name", aegir_db.name),
            ("db_user", aegir_db.user),
            ("db_passwd", aegir_db.password),
            ("db_host", "127.0.0.1"),
            ("db_port", "3306"),
        ]
    )
    aegir_vhost = web.php_vhost(h01, aegir, f"{platform}/web").replace(
        "        fastcgi_pass", params + "        fastcgi_pass"
    )
    assert aegir_db.password in aegir_vhost
    _serve(h01, f"{aegir}.conf", aegir_vhost)
    assert http_get("127.0.0.1", h01.http_port, "/", f"www.{site}").status == 200

    repo = _manifests(tmp_path, h01)
    out = tmp_path / "out"
    done = _reconciler(repo, h01, "import", h01.name, "--out", str(out))
    assert done.returncode == 1, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["platform-legacy.yaml", f"site-{site}.yaml"]
    assert "Not importable (1):" in done.stderr
    refused = next(line for line in done.stderr.splitlines() if line.startswith(f"  Site {aegir}"))
    assert "$_SERVER" in refused and "move the credentials into settings.php" in refused
    spec = YAML(typ="safe").load((out / f"site-{site}.yaml").read_text())["spec"]
    assert spec["aliases"] == [f"www.{site}"]
    assert spec["db"] == {"name": db.name, "user": db.user}
    assert aegir_db.password not in done.stdout + done.stderr

    _commit(repo, out)
    valid = _reconciler(repo, h01, "validate")
    assert valid.returncode == 0, valid.stdout + valid.stderr
    plan = _reconciler(repo, h01, "plan", "--detailed-exitcode", "--format", "json")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    data = json.loads(plan.stdout)
    assert [(a["kind"], a["object"]["name"]) for a in data["actions"]] == [("site.verify", site)]
    reason = data["actions"][0]["reason"]
    foreign = f"{h01.vhost_dir}/legacy-{site}.conf"
    assert f"vhost {foreign} (not the reconciler's) also serves" in reason, reason
    assert f"set aside as {h01.vhost_dir}/.legacy-{site}.conf.replaced-by-reconciler" in reason
    assert [(u["kind"], u["name"]) for u in data["unmanaged"]] == [("Site", aegir)]

    applied = _reconciler(repo, h01, "apply", "--yes")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    after = _reconciler(repo, h01, "plan", "--detailed-exitcode", "--format", "json")
    assert after.returncode == 0, after.stdout + after.stderr
    assert http_get("127.0.0.1", h01.http_port, "/", f"www.{site}").status == 200
    assert not Path(foreign).exists()
    assert Path(f"{h01.vhost_dir}/.legacy-{site}.conf.replaced-by-reconciler").exists()
