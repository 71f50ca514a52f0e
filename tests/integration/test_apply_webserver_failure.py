"""A vhost that fails the web server's configuration test, on the real rig (h01's nginx).

Two sites are installed; then the Server's `services.http.fastcgi` is changed to an upstream
nginx cannot resolve when it tests its configuration, and a third site is added. Its install
fails at the vhost step with nginx's own message; its vhost is not left in the vhost directory,
and its database, user, directory and `sites.php` entry are undone. nginx's configuration still
passes its test, and the first two sites are still served, their vhosts untouched. Once the
fastcgi address is put back, the next `apply` installs the third site.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from rig.hosts import TestHost
from rig.manifests import Cli, platform_yaml, server_yaml, site_yaml
from rig.mariadb import MariaDBAdmin
from rig.web import http_get

from reconciler.manifests.names import database_name

pytestmark = pytest.mark.integration

PLATFORM = "std"
UNRESOLVABLE_HOST = "no-such-host.invalid"
UNRESOLVABLE = f"{UNRESOLVABLE_HOST}:9000"


@pytest.fixture
def names(mariadb_admin: MariaDBAdmin) -> Iterator[list[str]]:
    token = secrets.token_hex(3)
    sites = [f"{which}-{token}.example.com" for which in ("one", "two", "three")]
    try:
        yield sites
    finally:
        for site in sites:
            db = database_name(site)
            mariadb_admin.run_sql(f"DROP DATABASE IF EXISTS `{db}`")
            for host in ("localhost", "127.0.0.1"):
                mariadb_admin.run_sql(f"DROP USER IF EXISTS '{db}'@'{host}'")


def _server(host: TestHost, fastcgi: str | None = None) -> str:
    """h01 as `server_yaml` declares it, with another `services.http.fastcgi` when given."""
    text = server_yaml(host)
    if fastcgi is None:
        return text
    line = f"      fastcgi: unix:{host.php_fpm_socket}\n"
    assert line in text, text
    return text.replace(line, f"      fastcgi: {fastcgi}\n")


def _status(host: TestHost, site: str) -> int:
    return http_get("127.0.0.1", host.http_port, "/", site).status


def _sites_php_keys(path: Path) -> set[str]:
    return set(re.findall(r"^\$sites\['([^']+)'\] = '[^']+';$", path.read_text(), re.M))


def test_vhost_failing_nginx_test_fails_only_its_action(
    h01: TestHost,
    standin_repo: Path,
    tmp_path: Path,
    names: list[str],
    mariadb_admin: MariaDBAdmin,
) -> None:
    one, two, three = names
    cli = Cli(repo=tmp_path / "git", hosts=[h01], state=tmp_path / "journal.sqlite")
    platform = platform_yaml(PLATFORM, h01, standin_repo)
    cli.write(_server(h01), platform, site_yaml(one, PLATFORM), site_yaml(two, PLATFORM))
    done = cli.run("apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    vhosts = {site: (h01.vhost_dir / f"{site}.conf").read_bytes() for site in (one, two)}

    cli.write(
        _server(h01, UNRESOLVABLE),
        platform,
        *(site_yaml(site, PLATFORM) for site in names),
    )
    failed = cli.run("apply", "--yes")
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert "Plan: 1 to add, 0 to change, 0 to delete." in failed.stdout, output
    # the failure is the third site's, in nginx's own words, and what it made was undone
    lines = [line for line in failed.stdout.splitlines() if line.startswith("  site.install")]
    assert len(lines) == 1, output
    assert lines[0].startswith(f"  site.install {three}: "), output
    assert "the web server's configuration test failed" in lines[0], output
    assert f'[emerg] host not found in upstream "{UNRESOLVABLE_HOST}"' in lines[0], output
    assert f"{h01.vhost_dir}/{three}.conf" in lines[0], output
    assert "(what the action had made was undone)" in lines[0], output
    assert "Apply finished: 0 succeeded, 1 failed or skipped." in failed.stdout, output

    # nothing of the third site is left: no vhost (nor a temporary file), database, user,
    # directory or sites.php entry; nginx's configuration still passes its test
    assert sorted(p.name for p in h01.vhost_dir.iterdir()) == sorted(f"{s}.conf" for s in vhosts)
    db = database_name(three)
    assert db not in mariadb_admin.databases()
    assert mariadb_admin.users(db) == set()
    sites_dir = h01.platforms / PLATFORM / "web/sites"
    assert not (sites_dir / three).exists()
    assert _sites_php_keys(sites_dir / "sites.php") == {one, two}
    assert h01.nginx_test(check=False).returncode == 0
    # every other site is still served, by its own untouched vhost
    for site, content in vhosts.items():
        assert (h01.vhost_dir / f"{site}.conf").read_bytes() == content
        assert _status(h01, site) == 200, site
    assert _status(h01, three) == 404

    plan = cli.run("plan", "--detailed-exitcode")
    assert plan.returncode == 2, plan.stdout + plan.stderr
    assert f"site.install {three}" in plan.stdout, plan.stdout

    # the fastcgi address put back: the next apply installs the third site
    cli.write(_server(h01), platform, *(site_yaml(site, PLATFORM) for site in names))
    fixed = cli.run("apply", "--yes")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    for site in names:
        assert _status(h01, site) == 200, site
    assert db in mariadb_admin.databases()
    assert _sites_php_keys(sites_dir / "sites.php") == set(names)
    assert h01.nginx_test(check=False).returncode == 0
    again = cli.run("plan", "--detailed-exitcode")
    assert again.returncode == 0, again.stdout + again.stderr
