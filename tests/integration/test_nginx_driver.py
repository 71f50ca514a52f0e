"""Vhosts rendered by `reconciler.drivers.nginx`, served by the rig's real nginx and php-fpm.

A stand-in platform is cloned on h01 and a SQLite site installed into it as aegir over SSH; the
rendered vhost goes into the test's own vhost directory, the host's test command runs
(`test_argv`), nginx is reloaded (`reload_argv`, as aegir through sudo), and the rules are checked
over real HTTP with the site's Host header.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

import pytest
from rig import layout, web
from rig.hosts import Result, TestHost
from rig.web import HttpResponse, http_get

from reconciler.drivers import nginx

pytestmark = pytest.mark.integration

SECRET = "NGINX-DRIVER-SECRET"
"""Written into every file that must never be served; no response may contain it."""


@dataclass(frozen=True)
class InstalledSite:
    host: TestHost
    platform: Path
    name: str
    alias: str

    @property
    def docroot(self) -> Path:
        return self.platform / "web"

    @property
    def site_dir(self) -> Path:
        return self.docroot / "sites" / self.name

    def get(self, path: str, host_header: str | None = None) -> HttpResponse:
        return http_get(layout.LOOPBACK, self.host.http_port, path, host_header or self.name)


def ok(result: Result) -> Result:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.out}\n{result.err}"
    return result


def install_site(host: TestHost, repo: Path, site_name: str) -> InstalledSite:
    """Clone the stand-in and install a SQLite site in `sites/<name>`, as the contract lays
    it out; map the name and an alias in sites.php; plant files that must stay hidden."""
    token = secrets.token_hex(4)
    name, alias = f"nx-{token}.example", f"alias-{token}.example"
    platform = host.platforms / "p1"
    host.run(["git", "clone", "--quiet", "--branch", "10.3.6", str(repo), str(platform)])
    site = InstalledSite(host, platform, name, alias)
    private = site.site_dir / "private"
    ok(
        host.run(
            [
                str(platform / "vendor/bin/drush"),
                "site:install",
                "minimal",
                "-y",
                f"--db-url=sqlite://localhost/{private / 'db.sqlite'}",
                f"--sites-subdir={name}",
                f"--site-name={site_name}",
                "--account-pass=not-random",
            ],
            check=False,
        )
    )
    sites = site.docroot / "sites"
    mapping = "".join(f"$sites[{n!r}] = {name!r};\n" for n in (name, alias))
    script = (
        'test -f "$1/sites.php" || cp "$1/example.sites.php" "$1/sites.php"; '
        'printf "%s" "$2" >> "$1/sites.php"; '
        # the web server's group reads and writes the database (contract: 2770 / 0660)
        'chmod 2770 "$3" && chmod 0660 "$3/db.sqlite"'
    )
    host.run(["sh", "-c", script, "sh", str(sites), mapping, str(private)])
    secret = f"<?php echo '{SECRET}';\n".encode()
    for path in (
        private / "x",
        site.site_dir / "files" / "x.php",
        site.docroot / ".git" / "config",
        site.docroot / "composer.json",
        site.docroot / "web.config",
        site.docroot / "settings.php.bak",
    ):
        host.run(["mkdir", "-p", str(path.parent)])
        host.write_file(path, secret)
    host.write_file(site.site_dir / "files" / "notes.txt", b"public notes\n")
    return site


def deploy(site: InstalledSite, *, state: nginx.VhostState, redirect: bool = False) -> str:
    """Render the site's vhost, write it as aegir, test it, reload nginx; the text."""
    host = site.host
    text = nginx.render_vhost(
        site.name,
        [site.alias],
        str(site.docroot),
        listen_port=host.http_port,
        listen_address=layout.LOOPBACK,
        fastcgi=f"unix:{host.php_fpm_socket}",
        redirect_aliases=redirect,
        state=state,
    )
    host.write_file(host.vhost_dir / nginx.vhost_file_name(site.name), text.encode())
    tested = host.run(nginx.test_argv(host.nginx_test_cmd), check=False)
    assert tested.returncode == 0, nginx.parse_test_output(tested.err) or tested.err
    reload(host)
    return text


def reload(host: TestHost) -> None:
    spec = layout.spec_for(host.name)
    old = web.nginx_workers(spec)
    ok(host.run(nginx.reload_argv(host.nginx_reload_cmd), check=False))
    web.wait_reloaded(spec, old)


DENIED = [
    "/sites/{name}/private/x",
    "/sites/{name}/private/db.sqlite",
    "/.git/config",
    "/core/lib/Drupal.php",
    "/core/includes/standin.inc",
    "/sites/{name}/files/x.php",
    "/sites/{name}/settings.php",
    "/composer.json",
    "/web.config",
    "/settings.php.bak",
]


def test_site_served_with_the_drupal_rules_then_disabled(standin_repo: Path, h01: TestHost) -> None:
    site = install_site(h01, standin_repo, "Nginx Driver Site")
    deploy(site, state="present")

    for host_header in (site.name, site.alias):
        page = site.get("/", host_header)
        assert page.status == 200, (host_header, page.body[:300])
        assert b'<h1 id="site-name">Nginx Driver Site</h1>' in page.body
    front = site.get("/index.php")
    assert front.status == 200
    assert b"Nginx Driver Site" in front.body
    routed = site.get("/node/1?x=1")
    assert routed.status == 200 and b"Nginx Driver Site" in routed.body
    clean = site.get("/index.php/node/1")
    assert clean.status == 307
    assert clean.headers["location"].endswith(f"{site.name}:{h01.http_port}/node/1")
    notes = site.get(f"/sites/{site.name}/files/notes.txt")
    assert (notes.status, notes.body) == (200, b"public notes\n")

    for template in DENIED:
        path = template.format(name=site.name)
        # each file is there, readable by the web server's group: only the rules hide it
        ok(h01.run(["test", "-f", str(site.docroot) + path], check=False))
        response = site.get(path)
        assert response.status in (403, 404), (path, response.status, response.body[:200])
        assert SECRET.encode() not in response.body, path
        assert b"<?php" not in response.body, path

    # disabled: 503 for the name and the alias, whatever the path; nothing reaches PHP
    deploy(site, state="disabled")
    for host_header in (site.name, site.alias):
        for path in ("/", "/index.php", "/node/1", "/core/lib/Drupal.php", "/.git/config"):
            response = site.get(path, host_header)
            assert response.status == 503, (host_header, path, response.status)
            assert response.body == (nginx.DISABLED_TEXT + "\n").encode()
            assert b"Nginx Driver Site" not in response.body

    # enabled again: served again
    deploy(site, state="present")
    assert site.get("/").status == 200


def test_redirect_aliases_answer_301_to_the_primary_name(standin_repo: Path, h01: TestHost) -> None:
    site = install_site(h01, standin_repo, "Redirecting Site")
    deploy(site, state="present", redirect=True)

    moved = site.get("/node/1?page=2", site.alias)
    assert moved.status == 301
    assert moved.headers["location"] == f"http://{site.name}/node/1?page=2"
    assert b"Redirecting Site" not in moved.body
    page = site.get("/")
    assert page.status == 200 and b"Redirecting Site" in page.body


def test_a_broken_vhost_fails_the_test_command(h01: TestHost) -> None:
    broken = h01.vhost_dir / "broken.conf"
    h01.write_file(
        broken,
        f"server {{\n    listen {layout.LOOPBACK}:{h01.http_port};\n"
        "    server_name broken.example;\n    bogus_directive on;\n}}\n".encode(),
    )
    try:
        tested = h01.run(nginx.test_argv(h01.nginx_test_cmd), check=False)
    finally:
        h01.run(["rm", "-f", str(broken)])
    assert tested.returncode != 0
    errors = nginx.parse_test_output(tested.err)
    assert errors, tested.err
    assert any('unknown directive "bogus_directive"' in e and f"{broken}:4" in e for e in errors), (
        errors
    )
    assert all(e.startswith(("[emerg]", "[alert]", "[crit]", "[error]")) for e in errors)

    # removed: the configuration passes again and nginx reloads as before
    again = h01.run(nginx.test_argv(h01.nginx_test_cmd), check=False)
    assert again.returncode == 0, again.err
    assert nginx.parse_test_output(again.err) == []
    reload(h01)
