"""PHP's built-in web server (`services.http.type: builtin`, the embedded default): shell fragments
and parsers. Pure: text and argument lists only, no I/O.

Each site gets its own `php -S 127.0.0.1:<port>`, on a port counting up from the server's
`services.http.port`, mapped in `sites/sites.php` as `<port>.127.0.0.1` (how Drupal reads the
host `127.0.0.1:<port>`). What the reconciler keeps of it lives in the server's `vhostDir`, never
in a site or codebase: `<site>.port`, `<site>.pid`, `<site>.log`, `<site>.conf` (a description:
port, docroot, router, state; compared whole to tell whether the running server is the right
one) and, for a disabled site, `<site>.disabled.php`, the router answering 503.

The fragments below are POSIX shell that share the variables and functions of `preamble()`
(all named `b_*`); every value that came from a manifest is quoted with `q()` there and only
there. Site names and paths are checked again here, whatever validated them before.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from reconciler.actions.script import LOCK_TIMEOUT, q
from reconciler.drivers.nginx import DISABLED_TEXT

__all__ = [
    "DISABLED_ROUTER_SUFFIX",
    "LISTEN_ADDRESS",
    "LOCK_DIR",
    "START_WAIT",
    "BuiltinFiles",
    "ServeState",
    "allocate_port_script",
    "check_script",
    "disabled_router_php",
    "health_url",
    "host_key",
    "parse_port",
    "parse_ports",
    "ports_argv",
    "preamble",
    "sites_php_line",
    "sites_php_script",
    "start_script",
    "stop_script",
]

ServeState = Literal["present", "disabled"]

LISTEN_ADDRESS = "127.0.0.1"
DISABLED_ROUTER_SUFFIX = ".disabled.php"
START_WAIT = 10  # seconds a started server has to answer on its port
LOCK_DIR = '"$HOME/.reconciler/locks"'  # where `step_argv` puts step locks, as a shell word
PORT_MAX = 65535

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_RE = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_PORT_LINE_RE = re.compile(r"^PORT=(\d{1,5})$", re.M)
_PORTS_ROW_RE = re.compile(r"^(\S+) (\d{1,5})$")


def _site(name: str) -> str:
    if len(name) > 253 or not _HOST_RE.fullmatch(name):
        raise ValueError(f"not a site name: {name!r}")
    return name


def _path(path: str, what: str) -> str:
    if not path.startswith("/") or any(ord(c) < 32 or ord(c) == 127 for c in path):
        raise ValueError(f"{what} must be an absolute path without control characters: {path!r}")
    return path.rstrip("/") or "/"


def _port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= PORT_MAX:
        raise ValueError(f"not a TCP port: {port!r}")
    return port


@dataclass(frozen=True)
class BuiltinFiles:
    """The state files of one site's built-in server in `vhost_dir`."""

    vhost_dir: str
    site: str
    port: str = field(init=False)
    pid: str = field(init=False)
    log: str = field(init=False)
    conf: str = field(init=False)
    disabled_router: str = field(init=False)

    def __post_init__(self) -> None:
        vhost_dir = _path(self.vhost_dir, "vhostDir")
        base = f"{vhost_dir.rstrip('/')}/{_site(self.site)}"
        object.__setattr__(self, "vhost_dir", vhost_dir)
        for name, suffix in {**_SUFFIXES, "disabled_router": DISABLED_ROUTER_SUFFIX}.items():
            object.__setattr__(self, name, base + suffix)

    @property
    def all(self) -> tuple[str, ...]:
        return (self.port, self.pid, self.log, self.conf, self.disabled_router)


_SUFFIXES = {"port": ".port", "pid": ".pid", "log": ".log", "conf": ".conf"}


def host_key(port: int) -> str:
    """The `sites.php` key Drupal derives from the host `127.0.0.1:<port>`."""
    return f"{_port(port)}.{LISTEN_ADDRESS}"


def sites_php_line(port: int, site: str) -> str:
    """The `sites.php` line that maps the site's port to its directory."""
    return f"$sites['{host_key(port)}'] = '{_site(site)}';"


def health_url(port: int) -> str:
    """The address of a site's built-in server, on the server itself."""
    return f"http://{LISTEN_ADDRESS}:{_port(port)}/"


_DISABLED_PAGE = (
    '<!DOCTYPE html>\n<html lang="en">\n<head><meta charset="utf-8">'
    "<title>Site disabled</title></head>\n"
    f"<body>\n<h1>Site disabled</h1>\n<p>{DISABLED_TEXT}</p>\n</body>\n</html>\n"
)


def disabled_router_php() -> str:
    """The router of a disabled site: 503 and a short page for every request."""
    page = _DISABLED_PAGE.replace("\\", "\\\\").replace("'", "\\'")
    return (
        "<?php\n\n/**\n * @file\n"
        " * Managed by reconciler: the router of a disabled site under PHP's built-in web\n"
        " * server. Every request answers 503; the site and its data are kept.\n */\n\n"
        "http_response_code(503);\n"
        "header('Content-Type: text/html; charset=UTF-8');\n"
        "header('Retry-After: 3600');\n"
        "header('Cache-Control: no-store');\n"
        f"print '{page}';\n"
    )


# The functions every fragment may use. `b_answers PORT`: something accepts connections on it.
# `b_await PORT SECONDS`: wait until it does. `b_ours PID [PORT]`: PID is a live `php -S` of
# ours (on PORT); without `ps`, a live PID is taken at its word. `b_portnow`: the recorded port.
# `b_stop`: stop the recorded server (TERM, up to 5 s, then KILL) and forget its pid.
_FUNCTIONS = r"""b_answers() {
  "$b_php" -r 'exit(@fsockopen("127.0.0.1", (int) $argv[1], $n, $m, 0.5) ? 0 : 1);' "$1" \
    >/dev/null 2>&1
}
b_await() {
  "$b_php" -r '$end = microtime(true) + (float) $argv[2];
    do { if (@fsockopen("127.0.0.1", (int) $argv[1], $n, $m, 0.5)) exit(0); usleep(100000); }
    while (microtime(true) < $end); exit(1);' "$1" "$2" >/dev/null 2>&1
}
b_ours() {
  case ${1:-} in ''|*[!0-9]*) return 1 ;; esac
  kill -0 "$1" 2>/dev/null || return 1
  command -v ps >/dev/null 2>&1 || return 0
  b_pat="-S 127.0.0.1:"
  [ -z "${2:-}" ] || b_pat="$b_pat$2 "
  COLUMNS=4096 ps -p "$1" -o args= 2>/dev/null | grep -qF -- "$b_pat"
}
b_pidnow() { if [ -f "$b_pidf" ]; then cat "$b_pidf"; fi; }
b_stop() {
  b_old=$(b_pidnow)
  if b_ours "$b_old"; then
    kill "$b_old" 2>/dev/null || true
    b_i=0
    while b_ours "$b_old" && [ "$b_i" -lt 50 ]; do
      sleep 0.1 2>/dev/null || sleep 1; b_i=$((b_i + 1))
    done
    if b_ours "$b_old"; then kill -9 "$b_old" 2>/dev/null || true; sleep 1; fi
  fi
  rm -f "$b_pidf"
}
b_portnow() {
  if [ -f "$b_portf" ]; then
    b_x=$(cat "$b_portf")
    case $b_x in ''|*[!0-9]*) ;; *) [ "$b_x" -gt 65535 ] || printf '%s\n' "$b_x" ;; esac
  fi
}
b_conf_text() {
  printf '# Managed by reconciler: the PHP built-in web server of site %s.\n' "$b_site"
  printf 'port=%s\ndocroot=%s\nrouter=%s\nstate=%s\n' "$1" "$b_docroot" "$b_router" "$b_state"
}
if [ "$b_state" = disabled ]; then
  b_router=$b_off
elif [ -f "$b_docroot/.ht.router.php" ]; then
  b_router=$b_docroot/.ht.router.php
else
  b_router=$b_docroot/index.php
fi"""


_LINE_RE_PRE = r"^\$sites\['"
_LINE_RE_POST = r"\.127\.0\.0\.1'] = '"


def _site_line_pattern(site: str) -> str:
    """An extended regular expression for any port line of `site` (lines this module wrote).

    Only `.` needs escaping in a site name; `]` outside a bracket expression is ordinary (a
    backslash before it is undefined in POSIX and GNU grep warns about it)."""
    return _LINE_RE_PRE + "[0-9]+" + _LINE_RE_POST + _site(site).replace(".", r"\.") + "';$"


def preamble(
    files: BuiltinFiles,
    *,
    docroot: str,
    sites_php: str,
    state: ServeState,
    php: str = "php",
) -> str:
    """The variables and functions every fragment uses; values quoted here."""
    if state not in ("present", "disabled"):
        raise ValueError(f"not a state of a served site: {state!r}")
    if not php or any(ord(c) < 32 for c in php):
        raise ValueError(f"not a PHP executable: {php!r}")
    pairs = {
        "b_site": files.site,
        "b_state": state,
        "b_php": php,
        "b_vd": files.vhost_dir,
        "b_docroot": _path(docroot, "docroot"),
        "b_sp": _path(sites_php, "sites.php"),
        "b_portf": files.port,
        "b_pidf": files.pid,
        "b_logf": files.log,
        "b_conf": files.conf,
        "b_off": files.disabled_router,
        "b_line_pre": "$sites['",
        "b_line_post": f".{LISTEN_ADDRESS}'] = '{files.site}';",
        "b_site_re": _site_line_pattern(files.site),
    }
    lines = [f"{name}={q(value)}" for name, value in pairs.items()]
    return "\n".join(lines) + "\n" + _FUNCTIONS + "\n"


def check_script() -> str:
    """Exits 0 when the site's server runs with the right port, router and state, answers, and
    its port is mapped in sites.php: the serve step has nothing to do."""
    return """b_p=$(b_portnow); [ -n "$b_p" ] || exit 1
b_ours "$(b_pidnow)" "$b_p" || exit 1
[ -f "$b_conf" ] && [ "$(cat "$b_conf")" = "$(b_conf_text "$b_p")" ] || exit 1
[ -f "$b_sp" ] && grep -qxF -- "$b_line_pre$b_p$b_line_post" "$b_sp" || exit 1
[ "$b_state" != disabled ] || [ -f "$b_off" ] || exit 1
b_answers "$b_p\""""


def allocate_port_script(base_port: int) -> str:
    """Sets `b_p`: the site's recorded port, else the lowest port from `base_port` up that no
    other `*.port` file in vhostDir holds and nothing listens on (recorded at once). Must run
    under the server's lock."""
    base = _port(base_port)
    return f"""mkdir -p "$b_vd"
b_p=$(b_portnow)
if [ -z "$b_p" ]; then
  b_used=" "
  for b_f in "$b_vd"/*.port; do
    [ -f "$b_f" ] && [ "$b_f" != "$b_portf" ] || continue
    b_used="$b_used$(cat "$b_f") "
  done
  b_p={base}
  while :; do
    if [ "$b_p" -gt {PORT_MAX} ]; then
      echo "no free port from {base} up for site $b_site" >&2; exit 1
    fi
    case $b_used in *" $b_p "*) ;; *) b_answers "$b_p" || break ;; esac
    b_p=$((b_p + 1))
  done
  printf '%s\\n' "$b_p" > "$b_portf.tmp"
  mv -f "$b_portf.tmp" "$b_portf"
fi"""


def sites_php_script(platform_lock: str, *, add: bool) -> str:
    """Rewrites sites.php (temporary file, then a rename; mode 0644) without any port line of
    this site and without any other line for port `$b_p` (when set), then with the site's line
    when `add`. Other lines are kept byte for byte. Holds the platform's lock (`platform_lock`,
    a lock file name) like every other sites.php edit; unchanged content is not rewritten."""
    if "/" in platform_lock or platform_lock.startswith(".") or not platform_lock:
        raise ValueError(f"not a lock name: {platform_lock!r}")
    port_re = q(_LINE_RE_PRE) + '"$b_p"' + q(_LINE_RE_POST + "[^']*';$")
    append = 'printf "%s\\n" "$b_line_pre$b_p$b_line_post" >> "$b_tmp"' if add else ":"
    create = "printf '<?php\\n\\n' > \"$b_tmp\"" if add else "exit 0"
    return f"""mkdir -p {LOCK_DIR}
(
  flock -w {LOCK_TIMEOUT} 9 || {{ echo "sites.php: the platform lock was not free" >&2; exit 1; }}
  b_tmp="$b_sp.reconciler-builtin-tmp"
  if [ -n "${{b_p:-}}" ]; then
    set -- -e "$b_site_re" -e {port_re}
  else
    set -- -e "$b_site_re"
  fi
  if [ -s "$b_sp" ]; then
    {{ grep -v -E "$@" "$b_sp" || [ $? -eq 1 ]; }} > "$b_tmp"
  else
    {create}
  fi
  {append}
  if [ -f "$b_sp" ] && cmp -s "$b_tmp" "$b_sp"; then
    rm -f "$b_tmp"
  else
    chmod 0644 "$b_tmp"
    mv -f "$b_tmp" "$b_sp"
  fi
) 9>{LOCK_DIR}/{q(platform_lock)}"""


def stop_script() -> str:
    """Stops the site's server when its pid file names a live `php -S` of ours; sets `b_p`."""
    return "b_p=$(b_portnow)\nb_stop"


def start_script() -> str:
    """Unless the right server already runs: stops the old one, starts `php -S` detached (its
    own session, no terminal, stdin from /dev/null, output to the log, file descriptors 3-9
    closed so that no lock is inherited), waits until the port answers, records pid and
    description. Prints `PORT=<port>`."""
    return f"""if b_ours "$(b_pidnow)" "$b_p" && [ -f "$b_conf" ] \\
  && [ "$(cat "$b_conf")" = "$(b_conf_text "$b_p")" ]; then
  :
else
  b_stop
  if [ ! -d "$b_docroot" ]; then
    echo "the docroot $b_docroot of site $b_site does not exist" >&2; exit 1
  fi
  if b_answers "$b_p"; then
    echo "port $b_p of site $b_site is in use by another process" >&2; exit 1
  fi
  rm -f "$b_conf"
  : >> "$b_logf"
  (
    exec 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
    umask 007
    if command -v setsid >/dev/null 2>&1; then
      exec setsid nohup "$b_php" -S "127.0.0.1:$b_p" -t "$b_docroot" "$b_router" \\
        </dev/null >>"$b_logf" 2>&1
    fi
    exec nohup "$b_php" -S "127.0.0.1:$b_p" -t "$b_docroot" "$b_router" \\
      </dev/null >>"$b_logf" 2>&1
  ) &
  b_new=$!
  printf '%s\\n' "$b_new" > "$b_pidf"
  if ! b_await "$b_p" {START_WAIT} || ! b_ours "$b_new" "$b_p"; then
    echo "the PHP built-in server of $b_site did not start on 127.0.0.1:$b_p:" >&2
    tail -n 5 "$b_logf" >&2 || true
    if b_ours "$b_new"; then kill "$b_new" 2>/dev/null || true; fi
    rm -f "$b_pidf"
    exit 1
  fi
  b_conf_text "$b_p" > "$b_conf.tmp"
  chmod 0644 "$b_conf.tmp"
  mv -f "$b_conf.tmp" "$b_conf"
fi
[ "$b_state" = disabled ] || rm -f "$b_off"
echo "PORT=$b_p\""""


_PORTS_SCRIPT = (
    'cd "$1" 2>/dev/null || exit 0; '
    'for f in *.port; do [ -f "$f" ] || continue; p=$(cat "./$f") || continue; '
    'printf "%s %s\\n" "${f%.port}" "$p"; done'
)


def ports_argv(vhost_dir: str) -> list[str]:
    """A command printing `<site> <port>` for every site with a port file in `vhost_dir`
    (nothing when the directory does not exist)."""
    return ["sh", "-c", _PORTS_SCRIPT, "sh", _path(vhost_dir, "vhostDir")]


def parse_ports(stdout: str) -> dict[str, int]:
    """The output of `ports_argv`: site name -> port. Lines that are not a site name and a
    port (a damaged port file) are left out."""
    ports: dict[str, int] = {}
    for line in stdout.splitlines():
        m = _PORTS_ROW_RE.match(line.strip())
        if m is None or not _HOST_RE.fullmatch(m.group(1)) or len(m.group(1)) > 253:
            continue
        port = int(m.group(2))
        if 1 <= port <= PORT_MAX:
            ports[m.group(1)] = port
    return ports


def parse_port(stdout: str) -> int | None:
    """The port a serve step printed (`PORT=<n>`), or None."""
    found: Sequence[str] = _PORT_LINE_RE.findall(stdout)
    port = int(found[-1]) if found else 0
    return port if 1 <= port <= PORT_MAX else None
