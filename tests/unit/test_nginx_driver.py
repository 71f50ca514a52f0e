"""The nginx driver's rendered vhosts, as tables of cases: what each Drupal rule needs is there,
in the right order, and hostile values are refused naming the argument."""

from __future__ import annotations

import re
from typing import Any

import pytest

from reconciler.drivers import nginx

DOCROOT = "/var/aegir/platforms/p1/web"
SOCKET = "unix:/run/php/php8.2-fpm.sock"


def render(**overrides: Any) -> str:
    args: dict[str, Any] = {
        "site_name": "www.example.com",
        "aliases": ["example.com"],
        "docroot_path": DOCROOT,
        "listen_port": 80,
        "fastcgi": SOCKET,
        "redirect_aliases": False,
        "state": "present",
    }
    args.update(overrides)
    return nginx.render_vhost(**args)


def server_blocks(text: str) -> list[str]:
    """The top-level `server { ... }` blocks of *text* (braces counted, comments dropped)."""
    blocks: list[str] = []
    depth = 0
    current: list[str] = []
    for line in text.splitlines():
        code = "" if line.lstrip().startswith("#") else line
        if depth == 0 and code.strip().startswith("server {"):
            current = []
        if depth > 0 or code.strip().startswith("server {"):
            current.append(line)
        depth += code.count("{") - code.count("}")
        if depth == 0 and current:
            blocks.append("\n".join(current))
            current = []
    return blocks


def position(text: str, needle: str) -> int:
    assert needle in text, needle
    return text.index(needle)


def location_regexes(text: str) -> list[str]:
    return re.findall(r'^    location ~\*? "(.*)" \{$', text, flags=re.MULTILINE)


def first_location(text: str, uri: str) -> str | None:
    """The first top-level regex location of *text* matching *uri* (nginx's regex order)."""
    for line in text.splitlines():
        match = re.match(r'^    location (~\*?) "(.*)" \{$', line)
        if match:
            flags = re.IGNORECASE if match.group(1) == "~*" else 0
            if re.search(match.group(2), uri, flags):
                return match.group(2)
    return None


PRESENT = render()


# ------------------------------------------------------------------ the rules of section 4

CONTAINS: list[tuple[str, str]] = [
    ("1 root is the docroot", f"    root {DOCROOT};"),
    ("1 index.php", "    index index.php;"),
    ("1 no listings", "    autoindex off;"),
    ("2 favicon quiet", "    location = /favicon.ico {"),
    ("2 robots quiet", "    location = /robots.txt {"),
    (
        "3 txt/log internal",
        r'    location ~* "^(?!/sites/[^/]+/files/|/\.well-known/).*\.(?:txt|log)$" {',
    ),
    ("4 php under dotted segment", r'    location ~ "\..*/.*\.php$" {'),
    ("5 private denied", '    location ~ "^/sites/.*/private/" {'),
    ("6 php in files denied", r'    location ~ "^/sites/[^/]+/files/.*\.php$" {'),
    ("7 well-known", r'    location ~ "^/\.well-known/" {'),
    ("8 hidden files", r'    location ~ "(^|/)\." {'),
    ("9 front controller", "        try_files $uri /index.php?$query_string;"),
    ("10 @rewrite", "    location @rewrite {\n        rewrite ^ /index.php last;"),
    ("11 vendor php", r'    location ~ "/vendor/.*\.php$" {'),
    ("12 composer.json", r"composer\.(?:json|lock)"),
    ("12 web.config", r"web\.config"),
    ("12 yml", "|yml)"),
    ("13 split path info", r"fastcgi_split_path_info ^(.+?\.php)(|/.*)$;"),
    ("13 script must exist", "try_files $fastcgi_script_name =404;"),
    ("13 fastcgi_params", "include /etc/nginx/fastcgi_params;"),
    ("13 httpoxy", 'fastcgi_param HTTP_PROXY "";'),
    ("13 script filename", "fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;"),
    ("13 path info", "fastcgi_param PATH_INFO $drupal_path_info;"),
    ("13 query string", "fastcgi_param QUERY_STRING $query_string;"),
    ("13 intercept errors", "fastcgi_intercept_errors on;"),
    ("13 fastcgi_pass", f"fastcgi_pass {SOCKET};"),
    ("14 static assets", r'    location ~* "\.(?:js|css|png|jpg|jpeg|gif|ico|svg|webp)$" {'),
    ("14 expires", "expires max;"),
    ("15 image styles", '    location ~ "^/sites/[^/]+/files/styles/" {'),
    ("16 system/files", '    location ~ "^(?:/[a-z-]+)?/system/files/" {'),
    ("17 clean urls", r'if ($request_uri ~ "^/index\.php/(.*)$") {'),
    ("listen", "    listen 80;"),
    ("names", "    server_name www.example.com example.com;"),
]


@pytest.mark.parametrize(("rule", "needle"), CONTAINS, ids=[c[0] for c in CONTAINS])
def test_present_vhost_contains(rule: str, needle: str) -> None:
    assert needle in PRESENT, rule


def test_header_names_the_site_and_says_managed() -> None:
    first = PRESENT.splitlines()[0]
    assert first.startswith("# www.example.com: managed by reconciler")
    assert "Do not edit: changes are reverted." in first
    assert PRESENT.endswith("}\n")


def test_deny_rules_come_before_php_and_static_rules() -> None:
    php = position(PRESENT, "# 13. PHP, strict")
    static = position(PRESENT, "# 14. static assets")
    styles = position(PRESENT, "# 15. image styles")
    for deny in ("# 3.", "# 4.", "# 5.", "# 6.", "# 8.", "# 11.", "# 12."):
        at = position(PRESENT, deny)
        assert at < php and at < static and at < styles, deny
    assert position(PRESENT, "# 7. RFC 5785") < position(PRESENT, "# 8. hidden")
    assert position(PRESENT, "# 13. PHP, strict") < position(PRESENT, "# 13. every other PHP")


# which top-level regex location nginx picks first for a URI (None: the prefix `location /`)
ROUTES: list[tuple[str, str | None]] = [
    ("/index.php", r"^/(?:index\.php|update\.php(?:/.*)?|core/[^/]+\.php)$"),
    ("/update.php", r"^/(?:index\.php|update\.php(?:/.*)?|core/[^/]+\.php)$"),
    ("/update.php/selection", r"^/(?:index\.php|update\.php(?:/.*)?|core/[^/]+\.php)$"),
    ("/core/install.php", r"^/(?:index\.php|update\.php(?:/.*)?|core/[^/]+\.php)$"),
    ("/core/rebuild.php", r"^/(?:index\.php|update\.php(?:/.*)?|core/[^/]+\.php)$"),
    ("/core/authorize.php", r"^/(?:index\.php|update\.php(?:/.*)?|core/[^/]+\.php)$"),
    ("/core/lib/Drupal.php", r"\.(?:php[0-9]?|phtml|phar)$"),
    ("/autoload.php", r"\.(?:php[0-9]?|phtml|phar)$"),
    ("/core/modules/system/tests/x.php", r"\.(?:php[0-9]?|phtml|phar)$"),
    ("/modules/contrib/foo/foo.php", r"\.(?:php[0-9]?|phtml|phar)$"),
    ("/sites/default/settings.php", r"\.(?:php[0-9]?|phtml|phar)$"),
    ("/INDEX.PHP", r"\.(?:php[0-9]?|phtml|phar)$"),
    ("/sites/www.example.com/files/x.php", r"\..*/.*\.php$"),
    ("/sites/default/files/x.php", r"^/sites/[^/]+/files/.*\.php$"),
    ("/sites/www.example.com/private/x", "^/sites/.*/private/"),
    ("/sites/www.example.com/private/config/sync/system.site.yml", "^/sites/.*/private/"),
    ("/.git/config", r"(^|/)\."),
    ("/.env", r"(^|/)\."),
    ("/sites/default/files/.htaccess", r"(^|/)\."),
    ("/.well-known/security.txt", r"^/\.well-known/"),
    ("/vendor/autoload.php", r"/vendor/.*\.php$"),
    ("/composer.json", "sensitive"),
    ("/composer.lock", "sensitive"),
    ("/web.config", "sensitive"),
    ("/core/core.services.yml", "sensitive"),
    ("/modules/foo/foo.module", "sensitive"),
    ("/modules/foo/foo.install", "sensitive"),
    ("/themes/foo/templates/page.html.twig", "sensitive"),
    ("/dump.sql", "sensitive"),
    ("/backup.mysql", "sensitive"),
    ("/sites/default/settings.php.bak", "sensitive"),
    ("/sites/default/settings.php~", "sensitive"),
    ("/package.json", "sensitive"),
    ("/CHANGELOG.txt", r"^(?!/sites/[^/]+/files/|/\.well-known/).*\.(?:txt|log)$"),
    ("/sites/default/files/styles/thumbnail/public/a.jpg", "^/sites/[^/]+/files/styles/"),
    ("/sites/default/files/css/css_abc.css", r"\.(?:js|css|png|jpg|jpeg|gif|ico|svg|webp)$"),
    ("/core/misc/drupal.js", r"\.(?:js|css|png|jpg|jpeg|gif|ico|svg|webp)$"),
    ("/system/files/report.pdf", "^(?:/[a-z-]+)?/system/files/"),
    ("/fr/system/files/report.pdf", "^(?:/[a-z-]+)?/system/files/"),
    ("/sites/default/files/notes.txt", None),
    ("/node/1", None),
    ("/tag", None),
    ("/blog/template", None),
    ("/", None),
]


@pytest.mark.parametrize(("uri", "expected"), ROUTES, ids=[r[0] for r in ROUTES])
def test_first_matching_location(uri: str, expected: str | None) -> None:
    got = first_location(PRESENT, uri)
    if expected == "sensitive":
        assert got is not None and got.startswith(r"(?:\.(?:engine|inc|install"), got
    else:
        assert got == expected


def test_only_the_allowed_php_entry_points_reach_fastcgi() -> None:
    (site,) = server_blocks(PRESENT)
    assert site.count("fastcgi_pass") == 1
    php = site[site.index("# 13. PHP, strict") :]
    php = php[: php.index("    }\n")]
    assert r'location ~ "^/(?:index\.php|update\.php(?:/.*)?|core/[^/]+\.php)$" {' in php
    allowed = re.compile(r"^/(?:index\.php|update\.php(?:/.*)?|core/[^/]+\.php)$")
    for uri in ("/index.php", "/update.php", "/update.php/start", "/core/install.php"):
        assert allowed.search(uri)
    for uri in ("/core/lib/Drupal.php", "/autoload.php", "/x.php", "/index.php5", "/cron.php"):
        assert not allowed.search(uri)


# ------------------------------------------------------------------ aliases and states


def test_aliases_served_as_the_site() -> None:
    text = render(aliases=["b.example.com", "a.example.com"])
    (block,) = server_blocks(text)
    assert "server_name www.example.com a.example.com b.example.com;" in block
    assert "return 301" not in text


def test_redirect_aliases_get_a_301_block() -> None:
    text = render(aliases=["b.example.com", "a.example.com"], redirect_aliases=True)
    site, redirect = server_blocks(text)
    assert "    server_name www.example.com;" in site
    assert "fastcgi_pass" in site
    assert "    server_name a.example.com b.example.com;" in redirect
    assert "    return 301 $scheme://www.example.com$request_uri;" in redirect
    assert "fastcgi_pass" not in redirect and "root " not in redirect


def test_redirect_without_aliases_is_one_block() -> None:
    text = render(aliases=[], redirect_aliases=True)
    assert len(server_blocks(text)) == 1
    assert "server_name www.example.com;" in text
    assert "301" not in text


@pytest.mark.parametrize("redirect", [False, True])
def test_disabled_answers_503_for_name_and_every_alias(redirect: bool) -> None:
    text = render(aliases=["b.example.com", "a.example.com"], state="disabled",
                  redirect_aliases=redirect)  # fmt: skip
    (block,) = server_blocks(text)
    assert "    server_name www.example.com a.example.com b.example.com;" in block
    assert f'    return 503 "{nginx.DISABLED_TEXT}\\n";' in block
    for absent in ("fastcgi", "php", "root ", "location", "301", "try_files"):
        assert absent not in block, absent
    assert text.splitlines()[0].startswith("# www.example.com: managed by reconciler")


def test_listen_address_and_tcp_fastcgi() -> None:
    text = render(listen_port=18201, listen_address="127.0.0.1", fastcgi="127.0.0.1:9000")
    assert "    listen 127.0.0.1:18201;" in text
    assert "fastcgi_pass 127.0.0.1:9000;" in text
    v6 = render(listen_address="::1", fastcgi="[::1]:9000")
    assert "    listen [::1]:80;" in v6
    assert "fastcgi_pass [::1]:9000;" in v6
    assert "fastcgi_pass php-fpm.internal:9000;" in render(fastcgi="php-fpm.internal:9000")


def test_fastcgi_params_path_is_configurable() -> None:
    assert "include /usr/local/etc/nginx/fastcgi_params;" in render(
        fastcgi_params="/usr/local/etc/nginx/fastcgi_params"
    )


def test_deterministic_and_alias_order_independent() -> None:
    one = render(aliases=["a.example.com", "b.example.com"])
    two = render(aliases=("b.example.com", "a.example.com"))
    assert one == two == render(aliases=["a.example.com", "b.example.com"])


def test_vhost_file_name() -> None:
    assert nginx.vhost_file_name("www.example.com") == "www.example.com.conf"
    with pytest.raises(ValueError, match="site_name"):
        nginx.vhost_file_name("../etc/passwd")


# ------------------------------------------------------------------ hostile values

HOSTILE: list[tuple[str, dict[str, Any]]] = [
    ("site_name", {"site_name": "example.com; return 200"}),
    ("site_name", {"site_name": "example.com\nserver {"}),
    ("site_name", {"site_name": "example.com\n"}),
    ("site_name", {"site_name": "Example.com"}),
    ("site_name", {"site_name": "ex{ample}.com"}),
    ("site_name", {"site_name": "$host"}),
    ("site_name", {"site_name": "~^(.*)$"}),
    ("site_name", {"site_name": "*.example.com"}),
    ("site_name", {"site_name": "a" * 64 + ".com"}),
    ("site_name", {"site_name": ""}),
    ("site_name", {"site_name": 42}),
    ("aliases", {"aliases": ["ok.example.com", "evil.com;"]}),
    ("aliases", {"aliases": ['a"b.com']}),
    ("aliases", {"aliases": ["a b.com"]}),
    ("aliases", {"aliases": "example.com"}),
    ("aliases", {"aliases": ["www.example.com"]}),
    ("aliases", {"aliases": ["a.example.com", "a.example.com"]}),
    ("docroot_path", {"docroot_path": "/var/www/web; include /etc/shadow"}),
    ("docroot_path", {"docroot_path": "/var/www/$host"}),
    ("docroot_path", {"docroot_path": "/var/www/web\n"}),
    ("docroot_path", {"docroot_path": "/var/www/{web}"}),
    ("docroot_path", {"docroot_path": "/var/www/'web'"}),
    ("docroot_path", {"docroot_path": "/var/www/my web"}),
    ("docroot_path", {"docroot_path": "/var/www/../etc"}),
    ("docroot_path", {"docroot_path": "/var/www/web/"}),
    ("docroot_path", {"docroot_path": "web"}),
    ("docroot_path", {"docroot_path": "/var/www/#web"}),
    ("fastcgi", {"fastcgi": "unix:/run/php.sock; root /"}),
    ("fastcgi", {"fastcgi": "unix:run/php.sock"}),
    ("fastcgi", {"fastcgi": "unix:/run/$php.sock"}),
    ("fastcgi", {"fastcgi": "127.0.0.1"}),
    ("fastcgi", {"fastcgi": "127.0.0.1:99999"}),
    ("fastcgi", {"fastcgi": "127.0.0.1:0"}),
    ("fastcgi", {"fastcgi": "evil host:9000"}),
    ("fastcgi", {"fastcgi": "[fe80::1%eth0]:9000"}),
    ("fastcgi", {"fastcgi": "127.0.0.1:9000\n"}),
    ("fastcgi_params", {"fastcgi_params": "/etc/nginx/fastcgi_params;"}),
    ("fastcgi_params", {"fastcgi_params": "fastcgi_params"}),
    ("listen_port", {"listen_port": 0}),
    ("listen_port", {"listen_port": 65536}),
    ("listen_port", {"listen_port": "80"}),
    ("listen_port", {"listen_port": True}),
    ("listen_address", {"listen_address": "127.0.0.1 default_server"}),
    ("listen_address", {"listen_address": "*"}),
    ("redirect_aliases", {"redirect_aliases": "yes"}),
    ("state", {"state": "absent"}),
    ("state", {"state": "Present"}),
]


@pytest.mark.parametrize(
    ("argument", "overrides"), HOSTILE, ids=[f"{a}-{i}" for i, (a, _) in enumerate(HOSTILE)]
)
def test_hostile_values_refused_naming_the_argument(
    argument: str, overrides: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=rf"^{argument}: "):
        render(**overrides)


def test_no_value_reaches_the_text_unchecked() -> None:
    """Every line of the output is made of safe characters: no stray quotes or controls."""
    text = render(aliases=["a.example.com"], redirect_aliases=True)
    assert all(c == "\n" or 32 <= ord(c) < 127 for c in text)


# ------------------------------------------------------------------ commands and output


def test_test_and_reload_argv_run_the_shell_as_written() -> None:
    cmd = "sudo -n nginx -t -c /etc/nginx/nginx.conf"
    assert nginx.test_argv(cmd) == ["sh", "-c", cmd]
    assert nginx.reload_argv("sudo -n nginx -s reload") == ["sh", "-c", "sudo -n nginx -s reload"]
    for bad in ("", "   ", "nginx -t\0"):
        with pytest.raises(ValueError, match=r"^test_command: "):
            nginx.test_argv(bad)
        with pytest.raises(ValueError, match=r"^reload_command: "):
            nginx.reload_argv(bad)


TEST_OUTPUT: list[tuple[str, str, list[str]]] = [
    (
        "stderr format",
        'nginx: [emerg] unknown directive "bogus" in /etc/nginx/sites-enabled/a.conf:3\n'
        "nginx: configuration file /etc/nginx/nginx.conf test failed\n",
        ['[emerg] unknown directive "bogus" in /etc/nginx/sites-enabled/a.conf:3'],
    ),
    (
        "error_log format",
        "2026/11/29 14:57:03 [emerg] 7250#7250: unexpected end of file, expecting "
        '"}" in /x/a.conf:3\nnginx: configuration file /x/nginx.conf test failed\n',
        ['[emerg] unexpected end of file, expecting "}" in /x/a.conf:3'],
    ),
    (
        "warnings are not errors, errors kept in order, duplicates dropped",
        'nginx: [warn] conflicting server name "a.example" on 0.0.0.0:80, ignored\n'
        "nginx: [error] open() failed\n"
        "nginx: [emerg] bind() failed\n"
        "nginx: [error] open() failed\n",
        ["[error] open() failed", "[emerg] bind() failed"],
    ),
    ("success", "nginx: configuration file /etc/nginx/nginx.conf test is successful\n", []),
    ("sudo refusing", "sudo: a password is required\n", []),
]


@pytest.mark.parametrize(
    ("stderr", "expected"), [c[1:] for c in TEST_OUTPUT], ids=[c[0] for c in TEST_OUTPUT]
)
def test_parse_test_output(stderr: str, expected: list[str]) -> None:
    assert nginx.parse_test_output(stderr) == expected
