"""nginx vhosts for Drupal 10/11 sites, and the commands that test and reload nginx.

Pure: text and argument lists only, no I/O. `render_vhost` writes the server block(s) of one
site following the rules of the Drupal nginx reference (drupal-drush-contract.md section 4),
in its strict PHP variant: only `/index.php`, `/update.php` (and `/update.php/...`) and
`/core/<name>.php` reach PHP-FPM; every other `.php` is refused.

Every value that comes from a manifest is checked again here, whatever validated it before:
host names, paths, ports and the FastCGI address must not be able to break out of an nginx
directive (no `;`, braces, quotes, whitespace, `$`, `#` or control characters), and anything
else is refused with a `ValueError` naming the argument.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Sequence
from typing import Literal

__all__ = [
    "DEFAULT_FASTCGI_PARAMS",
    "DISABLED_TEXT",
    "VHOST_SUFFIX",
    "VhostState",
    "parse_test_output",
    "reload_argv",
    "render_vhost",
    "test_argv",
    "vhost_file_name",
]

VhostState = Literal["present", "disabled"]

VHOST_SUFFIX = ".conf"
DEFAULT_FASTCGI_PARAMS = "/etc/nginx/fastcgi_params"
"""The standard FastCGI parameter file shipped with nginx (absolute: an nginx started with
`-c` resolves relative includes against that file's directory)."""
DISABLED_TEXT = "This site is disabled."
"""The body a disabled site answers (with status 503)."""

_SITE_NAME_MAX = 253
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
# used with fullmatch only: `$` would accept a trailing newline
_HOST_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_NET_HOST_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*", re.IGNORECASE)
_PATH_RE = re.compile(r"/[A-Za-z0-9._/@+=,:-]*")
_LEVEL_RE = re.compile(r"\[(emerg|alert|crit|error)\]\s*(?:\d+#\d+:\s*(?:\*\d+\s+)?)?(.*)$")

# ------------------------------------------------------------------------- the Drupal rules

# 12: core's .htaccess FilesMatch list (matched on the last path segment, case-sensitive as
# Apache's FilesMatch is: a case-insensitive match would refuse Drupal paths such as /tag).
_SENSITIVE = (
    r"(?:\.(?:engine|inc|install|make|module|profile|po|sh|[^/]*sql|theme|twig|tpl(?:\.php)?"
    r"|xtmpl|yml)(?:~|\.sw[op]|\.bak|\.orig|\.save)?"
    r"|/(?:Entries[^/]*|Repository|Root|Tag|Template|composer\.(?:json|lock)|web\.config"
    r"|yarn\.lock|package\.json|package-lock\.json)"
    r"|/#[^/]*#"
    r"|\.php(?:~|\.sw[op]|\.bak|\.orig|\.save))$"
)

# 13, strict: the only scripts PHP-FPM ever runs.
_PHP_ENTRY_POINTS = r"^/(?:index\.php|update\.php(?:/.*)?|core/[^/]+\.php)$"


def _php_block(fastcgi: str, fastcgi_params: str) -> list[str]:
    return [
        "    # 13. PHP, strict: only /index.php, /update.php(/...) and /core/<name>.php run",
        f'    location ~ "{_PHP_ENTRY_POINTS}" {{',
        r"        fastcgi_split_path_info ^(.+?\.php)(|/.*)$;",
        "        # try_files resets $fastcgi_path_info: keep it first",
        "        set $drupal_path_info $fastcgi_path_info;",
        "        # the script must exist (CVE-2019-11043)",
        "        try_files $fastcgi_script_name =404;",
        f"        include {fastcgi_params};",
        '        fastcgi_param HTTP_PROXY "";',
        "        fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;",
        "        fastcgi_param PATH_INFO $drupal_path_info;",
        "        fastcgi_param QUERY_STRING $query_string;",
        "        fastcgi_intercept_errors on;",
        f"        fastcgi_pass {fastcgi};",
        "    }",
        "",
        "    # 13. every other PHP file is refused, never run nor shown",
        r'    location ~* "\.(?:php[0-9]?|phtml|phar)$" {',
        "        return 404;",
        "    }",
    ]


def _site_block(
    names: list[str], docroot: str, listen: str, fastcgi: str, fastcgi_params: str
) -> list[str]:
    return [
        "server {",
        f"    listen {listen};",
        f"    server_name {' '.join(names)};",
        "",
        "    # 1. the docroot; no directory listings; index.php",
        f"    root {docroot};",
        "    index index.php;",
        "    autoindex off;",
        "",
        "    # 17. clean URLs: /index.php/<path> -> /<path> (raw $request_uri: no decoded CR/LF)",
        r'    if ($request_uri ~ "^/index\.php/(.*)$") {',
        "        return 307 /$1;",
        "    }",
        "",
        "    # 2. quiet favicon and robots.txt",
        "    location = /favicon.ico {",
        "        log_not_found off;",
        "        access_log off;",
        "    }",
        "    location = /robots.txt {",
        "        allow all;",
        "        log_not_found off;",
        "        access_log off;",
        "        try_files $uri @rewrite;",
        "    }",
        "",
        "    # deny rules: regex locations match in the order written, so these come before",
        "    # the PHP and static-file rules",
        "",
        "    # 3. *.txt and *.log (outside the public files and .well-known) only from this host",
        r'    location ~* "^(?!/sites/[^/]+/files/|/\.well-known/).*\.(?:txt|log)$" {',
        "        allow 127.0.0.1;",
        "        allow ::1;",
        "        deny all;",
        "    }",
        "",
        "    # 4. PHP below a path segment that holds a dot",
        r'    location ~ "\..*/.*\.php$" {',
        "        return 403;",
        "    }",
        "",
        "    # 5. the site's private files (served only through Drupal, /system/files/)",
        '    location ~ "^/sites/.*/private/" {',
        "        return 403;",
        "    }",
        "",
        "    # 6. PHP in the public files",
        r'    location ~ "^/sites/[^/]+/files/.*\.php$" {',
        "        deny all;",
        "    }",
        "",
        "    # 7. RFC 5785 well-known URIs (before the hidden-file rule)",
        '    location ~ "^/\\.well-known/" {',
        r'        location ~* "\.(?:php[0-9]?|phtml|phar)$" {',
        "            return 404;",
        "        }",
        "        try_files $uri @rewrite;",
        "    }",
        "",
        "    # 8. hidden files and directories (.git, .env, .ht*)",
        '    location ~ "(^|/)\\." {',
        "        return 403;",
        "    }",
        "",
        "    # 11. PHP under vendor/",
        r'    location ~ "/vendor/.*\.php$" {',
        "        return 404;",
        "    }",
        "",
        "    # 12. sensitive files, as core's .htaccess lists them",
        f'    location ~ "{_SENSITIVE}" {{',
        "        return 404;",
        "    }",
        "",
        *_php_block(fastcgi, fastcgi_params),
        "",
        "    # 15. image styles are generated by Drupal when missing",
        '    location ~ "^/sites/[^/]+/files/styles/" {',
        "        try_files $uri @rewrite;",
        "    }",
        "",
        "    # 16. private files through Drupal",
        '    location ~ "^(?:/[a-z-]+)?/system/files/" {',
        "        try_files $uri /index.php?$query_string;",
        "    }",
        "",
        "    # 14. static assets; CSS/JS aggregates are generated by Drupal when missing",
        r'    location ~* "\.(?:js|css|png|jpg|jpeg|gif|ico|svg|webp)$" {',
        "        try_files $uri @rewrite;",
        "        expires max;",
        "        log_not_found off;",
        "    }",
        "",
        "    # 9. the front controller",
        "    location / {",
        "        try_files $uri /index.php?$query_string;",
        "    }",
        "",
        "    # 10. fallback of the static and image-style rules",
        "    location @rewrite {",
        "        rewrite ^ /index.php last;",
        "    }",
        "}",
    ]


def _redirect_block(aliases: list[str], primary: str, listen: str) -> list[str]:
    return [
        "# aliases answer 301 to the primary name",
        "server {",
        f"    listen {listen};",
        f"    server_name {' '.join(aliases)};",
        f"    return 301 $scheme://{primary}$request_uri;",
        "}",
    ]


def _disabled_block(names: list[str], listen: str) -> list[str]:
    return [
        "# 18. the site is disabled: 503 for every request, nothing reaches PHP",
        "server {",
        f"    listen {listen};",
        f"    server_name {' '.join(names)};",
        "    default_type text/plain;",
        f'    return 503 "{DISABLED_TEXT}\\n";',
        "}",
    ]


# ------------------------------------------------------------------------- validation


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _host_name(value: object, arg: str) -> str:
    if not isinstance(value, str) or len(value) > _SITE_NAME_MAX or not _HOST_RE.fullmatch(value):
        raise ValueError(
            f"{arg}: {_shown(value)} is not a lower-case host name "
            "(letters, digits and '-' in dot-separated labels)"
        )
    return value


def _abs_path(value: object, arg: str) -> str:
    if not isinstance(value, str) or not _PATH_RE.fullmatch(value):
        raise ValueError(
            f"{arg}: {_shown(value)} is not an absolute path "
            "(letters, digits and . _ / @ + = , : - only)"
        )
    if ".." in value.split("/") or posixpath.normpath(value) != value:
        raise ValueError(f"{arg}: {_shown(value)} is not a normalised absolute path")
    return value


def _port(value: object, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise ValueError(f"{arg}: {_shown(value)} is not a port number (1-65535)")
    return value


def _ip_or_host(value: str) -> str | None:
    """*value* as nginx writes an address (IPv6 in brackets), or None when it is neither."""
    if _NET_HOST_RE.fullmatch(value):  # host names, localhost and IPv4 addresses
        return value
    bare = value[1:-1] if value.startswith("[") and value.endswith("]") else value
    if "%" in bare:  # zone ids are not for nginx
        return None
    try:
        return f"[{ipaddress.IPv6Address(bare).compressed}]"
    except ValueError:
        return None


def _fastcgi(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"fastcgi: {_shown(value)} is not a FastCGI address")
    if value.startswith("unix:"):
        return "unix:" + _abs_path(value.removeprefix("unix:"), "fastcgi")
    host, sep, port = value.rpartition(":")
    address = _ip_or_host(host) if sep and port.isdigit() and len(port) <= 5 else None
    if address is None or not 0 < int(port) < 65536:
        raise ValueError(
            f"fastcgi: {_shown(value)} is not a FastCGI address "
            "(unix:/run/php/php8.2-fpm.sock or 127.0.0.1:9000)"
        )
    return f"{address}:{int(port)}"


def _listen(address: object, port: object) -> str:
    number = _port(port, "listen_port")
    if address is None:
        return str(number)
    shown = _ip_or_host(address) if isinstance(address, str) else None
    if shown is None:
        raise ValueError(f"listen_address: {_shown(address)} is not an IP address or host name")
    return f"{shown}:{number}"


def _aliases(value: object, site_name: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"aliases: {_shown(value)} is not a list of host names")
    names = [_host_name(alias, "aliases") for alias in value]
    if site_name in names:
        raise ValueError(f"aliases: {site_name!r} is the site's own name")
    if len(set(names)) != len(names):
        raise ValueError("aliases: a host name is listed twice")
    return sorted(names)


# ------------------------------------------------------------------------- API


def vhost_file_name(site_name: str) -> str:
    """The name of the site's vhost file in `vhostDir`: `<site name>.conf`."""
    return _host_name(site_name, "site_name") + VHOST_SUFFIX


def render_vhost(
    site_name: str,
    aliases: Sequence[str],
    docroot_path: str,
    *,
    listen_port: int,
    fastcgi: str,
    redirect_aliases: bool,
    state: VhostState,
    listen_address: str | None = None,
    fastcgi_params: str = DEFAULT_FASTCGI_PARAMS,
) -> str:
    """The nginx server block(s) of one site, as the text of its vhost file.

    `state` `present`: the Drupal site served from *docroot_path* (the directory holding
    `index.php`) for its name and aliases; with *redirect_aliases* the aliases get their own
    server block answering 301 to the primary name instead. `disabled`: one server block
    answering 503 for the name and every alias, with no PHP. *listen_address* (default: every
    address) pins the `listen` address; *fastcgi_params* is the FastCGI parameter file
    included. Raises `ValueError`, naming the argument, for any unsafe value.
    """
    name = _host_name(site_name, "site_name")
    others = _aliases(aliases, name)
    docroot = _abs_path(docroot_path, "docroot_path")
    upstream = _fastcgi(fastcgi)
    params = _abs_path(fastcgi_params, "fastcgi_params")
    listen = _listen(listen_address, listen_port)
    if not isinstance(redirect_aliases, bool):
        raise ValueError(f"redirect_aliases: {_shown(redirect_aliases)} is not a boolean")
    if state not in ("present", "disabled"):
        raise ValueError(f"state: {_shown(state)} is not 'present' or 'disabled'")

    lines = [
        f"# {name}: managed by reconciler. Do not edit: changes are reverted.",
        f"# state: {state}; aliases: {' '.join(others) or '-'}"
        + ("; aliases redirect" if others and redirect_aliases else ""),
        "",
    ]
    if state == "disabled":
        lines += _disabled_block([name, *others], listen)
    elif redirect_aliases and others:
        lines += _site_block([name], docroot, listen, upstream, params)
        lines += ["", *_redirect_block(others, name, listen)]
    else:
        lines += _site_block([name, *others], docroot, listen, upstream, params)
    return "\n".join(lines) + "\n"


def _shell_command(command: object, arg: str) -> list[str]:
    if not isinstance(command, str) or not command.strip() or "\0" in command:
        raise ValueError(f"{arg}: {_shown(command)} is not a command line")
    return ["sh", "-c", command]


def test_argv(test_command: str) -> list[str]:
    """The server's `testCommand`, run by its shell as written (`nginx -t` by default)."""
    return _shell_command(test_command, "test_command")


def reload_argv(reload_command: str) -> list[str]:
    """The server's `reloadCommand`, run by its shell as written (after a passing test)."""
    return _shell_command(reload_command, "reload_command")


test_argv.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def parse_test_output(stderr: str) -> list[str]:
    """nginx's error lines in a failed test's stderr, as `[level] message`, in order.

    `[emerg]`, `[alert]`, `[crit]` and `[error]` lines count (warnings do not); duplicates are
    dropped. An empty list means the failure was not nginx's own (sudo refusing, say): show
    the whole stderr then.
    """
    found: list[str] = []
    for line in stderr.splitlines():
        match = _LEVEL_RE.search(line)
        if match is None:
            continue
        entry = f"[{match.group(1)}] {match.group(2).strip()}".rstrip()
        if entry not in found:
            found.append(entry)
    return found
