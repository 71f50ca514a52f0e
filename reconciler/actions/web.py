"""The web server's part of an action: a site's vhost written, tested and reloaded (nginx), or
its PHP built-in server started (`builtin`), and the health request made on the web server.

nginx: the vhost is written beside the old one, `testCommand` runs, and only a passing test is
followed by `reloadCommand`; a failing test puts the previous file back (or removes the new
one) and fails the step with nginx's own error lines, so every other site keeps being served.
All vhost changes on a server hold the server's lock: one site's broken vhost must never make
another site's `nginx -t` fail.

The reconciler owns a managed site's vhost: other files of the vhost directory that observe found
serving the site's names only (`SiteContext.foreign_vhosts`) are set aside in the same step,
before the test (`reconciler.drivers.vhost_aside`: renamed to a hidden name no include glob
loads, never deleted), and put back with the previous vhost when the test fails.
"""

from __future__ import annotations

import re
from typing import Literal

from reconciler.actions.context import SiteContext
from reconciler.actions.script import DONE, Script, Step, lock_name, q
from reconciler.drivers import nginx, vhost_aside
from reconciler.drivers.drush_output import parse_status
from reconciler.errors import PermanentError, ReconcilerError
from reconciler.manifests.models import HttpService
from reconciler.transport.base import CommandResult

__all__ = [
    "TEST_FAILED",
    "health_step",
    "http_service",
    "remove_vhost_steps",
    "vhost_steps",
]

TEST_FAILED = "@@reconciler-webserver-test-failed@@"
_DEFAULT_TEST = "nginx -t"
_DEFAULT_RELOAD = "nginx -s reload"


def http_service(ctx: SiteContext) -> HttpService | None:
    return ctx.web.http


def _commands(ctx: SiteContext, http: HttpService) -> tuple[str, str]:
    sudo = "" if ctx.web.user == "root" else "sudo -n "
    test = http.test_command or sudo + _DEFAULT_TEST
    reload = http.reload_command or sudo + _DEFAULT_RELOAD
    return test, reload


def _explain_test(result: CommandResult) -> str | None:
    if vhost_aside.ASIDE_FAILED in result.err:
        lines = result.err.replace(vhost_aside.ASIDE_FAILED, "").strip().splitlines()
        shown = "; ".join(line.strip() for line in lines if line.strip())
        return (
            f"{shown or 'a foreign vhost could not be set aside'}; the web "
            "server's configuration was left as it was (the previous vhost and the files "
            "already set aside put back): make the vhost directory writable by the login user"
        )
    if TEST_FAILED not in result.err:
        return None
    lines = nginx.parse_test_output(result.err)
    shown = "; ".join(lines) if lines else result.err.replace(TEST_FAILED, "").strip()
    return (
        "the web server's configuration test failed; its configuration was left as it was "
        "(the previous vhost put back, or the new one removed, and any foreign vhost set "
        f"aside renamed back): {shown}"
    )


def _nginx_vhost(
    ctx: SiteContext, http: HttpService, state: Literal["present", "disabled"]
) -> Step:
    assert ctx.vhost_path is not None
    site = ctx.site
    content = nginx.render_vhost(
        ctx.name,
        list(ctx.aliases),
        ctx.platform.root,
        listen_port=http.port,
        fastcgi=http.fastcgi,
        redirect_aliases=site.spec.redirect_aliases if site is not None else False,
        state=state,
        listen_address=http.listen_address,
    )
    test, reload = _commands(ctx, http)
    path = ctx.vhost_path
    old = path + ".reconciler-old"
    foreign = [f for f in ctx.foreign_vhosts if f != path]
    script = Script()
    script.run("mkdir", "-p", ctx.web.vhost_dir or "/")
    script.raw(f"if [ -f {q(path)} ]; then cp -p {q(path)} {q(old)}; else rm -f {q(old)}; fi")
    script.write_file(path, content, "0644")
    # the rollback: our previous vhost back (or the new one removed), foreign ones renamed back
    script.raw("rollback() {")
    script.raw(f"  if [ -f {q(old)} ]; then mv -f {q(old)} {q(path)}; else rm -f {q(path)}; fi")
    for line in vhost_aside.restore_lines(foreign):
        script.raw(f"  {line}")
    script.raw("}")
    for line in vhost_aside.set_aside_lines(foreign, "rollback"):
        script.raw(line)
    script.raw(
        f"if ! out=$(sh -c {q(test)} 2>&1); then\n"
        "  rollback\n"
        f'  printf "%s\\n" "$out" >&2; echo {TEST_FAILED} >&2; exit 1\n'
        "fi"
    )
    script.run("rm", "-f", old)
    script.raw(f"sh -c {q(reload)}")
    return Step(
        name=f"vhost ({state})",
        script=script.text(),
        lock=lock_name("server", ctx.web.name),
        explain=_explain_test,
    )


def vhost_steps(ctx: SiteContext, state: Literal["present", "disabled"]) -> list[Step]:
    """The steps that make the web server serve the site (`present`) or answer 503 for it."""
    http = ctx.web.http
    if http is None or http.type == "none":
        return []
    if http.type == "nginx":
        return [_nginx_vhost(ctx, http, state)]
    if http.type == "builtin":
        from reconciler.actions.builtin_web import serve_steps

        return serve_steps(ctx, base_port=http.port, state=state)
    raise PermanentError(
        f"server {ctx.web.name}: web server type {http.type!r} has no driver yet",
        hint="use `services.http.type: nginx` (or `none` to manage vhosts yourself)",
    )


def remove_vhost_steps(ctx: SiteContext) -> list[Step]:
    """Remove the site's vhost (and reload), or stop its built-in server; idempotent."""
    http = ctx.web.http
    if http is None or http.type == "none":
        return []
    if http.type == "builtin":
        from reconciler.actions.builtin_web import stop_steps

        return stop_steps(ctx)
    if http.type != "nginx":
        return []
    assert ctx.vhost_path is not None
    test, reload = _commands(ctx, http)
    path = ctx.vhost_path
    script = Script()
    script.raw(f"if [ -e {q(path)} ]; then")
    script.raw(f"  rm -f {q(path)}")
    script.raw(
        f"  if ! out=$(sh -c {q(test)} 2>&1); then "
        f'printf "%s\\n" "$out" >&2; echo {TEST_FAILED} >&2; exit 1; fi'
    )
    script.raw(f"  sh -c {q(reload)}")
    script.raw("fi")
    return [
        Step(
            name="vhost removed",
            script=script.text(),
            lock=lock_name("server", ctx.web.name),
            explain=_explain_test,
        )
    ]


# ---------------------------------------------------------------- health

_HTTP_PROBE = (
    # GET argv[1] with Host argv[2] until it answers one of the codes in argv[3] three times in
    # a row, or argv[4] seconds pass (after an action, 15: a reload takes effect when the web
    # server's new workers start, a moment after the reload command returns, and old workers
    # may still answer meanwhile); with 0, one request is the answer (`status`).
    '$c = stream_context_create(["http" => ["header" => "Host: " . $argv[2], '
    '"ignore_errors" => true, "follow_location" => 0, "timeout" => 10]]); '
    '$want = explode(",", $argv[3]); $end = microtime(true) + (float) $argv[4]; $ok = 0; '
    "do { $http_response_header = []; @file_get_contents($argv[1], false, $c); "
    "$h = $http_response_header; "
    '$code = isset($h[0]) ? (explode(" ", $h[0])[1] ?? "0") : "0"; '
    "if (in_array($code, $want, true)) { if (++$ok >= 3) break; usleep(100000); continue; } "
    "$ok = 0; usleep(250000); } "
    "while (microtime(true) < $end); "
    'echo "HTTP=", $code, "\\n";'
)
_CODE_RE = re.compile(r"^HTTP=(\d{1,3})$", re.M)
_DRUSH_MARK = "@@reconciler-drush-status@@"


def _url(ctx: SiteContext) -> str | None:
    http = ctx.web.http
    if http is None or http.type in ("none", "apache"):
        return None
    if http.type == "builtin":
        return None  # the port is known on the server only: see the script
    host = http.listen_address or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{http.port}/"


SETTLE_SECONDS = 15.0
"""How long the health check after an action waits for the web server to answer as wanted
(three answers in a row)."""


def health_step(
    ctx: SiteContext, *, disabled: bool = False, settle: float = SETTLE_SECONDS
) -> Step:
    """CONTRACT.md's health: `/` with the site's Host header, made on the web server, answers
    200 (or a redirect's 301), and drush says `bootstrap: Successful`. A disabled site must
    answer 503 instead (its drush status is not asked). `settle`: how long to wait for three
    wanted answers in a row (after an action); 0 takes the first answer (a status report)."""
    http = ctx.web.http
    script = Script()
    url = _url(ctx)
    wanted = "503" if disabled else "200,301"
    if http is not None and http.type == "builtin" and ctx.web.vhost_dir:
        port_file = f"{ctx.web.vhost_dir}/{ctx.name}.port"
        script.raw(f'port=$(cat {q(port_file)}); url="http://127.0.0.1:$port/"')
        script.raw(f'php -r {q(_HTTP_PROBE)} "$url" {q(ctx.name, wanted, f"{settle:g}")}')
    elif url is not None:
        script.raw(f"php -r {q(_HTTP_PROBE)} {q(url, ctx.name, wanted, f'{settle:g}')}")
    if not disabled:
        status = ctx.drush.status(["bootstrap"])
        script.raw(f"echo {_DRUSH_MARK}")
        script.raw(q(*status) + " 2>/dev/null || true")

    def expect(result: CommandResult) -> str | None:
        code = _CODE_RE.search(result.out)
        problems: list[str] = []
        if code is not None:
            got = int(code.group(1))
            wanted = (503,) if disabled else (200, 301)
            if got not in wanted:
                problems.append(
                    f"GET / with Host {ctx.name} answered {got or 'nothing'}, want "
                    + " or ".join(map(str, wanted))
                )
        if not disabled:
            value = ""
            if _DRUSH_MARK in result.out:
                text = result.out.split(_DRUSH_MARK, 1)[1].replace(DONE, "")
                try:
                    status = parse_status(text, 0)
                    value = "Successful" if status.bootstrap_successful else "not successful"
                except ReconcilerError:
                    value = ""
            if value != "Successful":
                problems.append(
                    f"drush core:status says bootstrap {value or 'nothing'!r}, want 'Successful'"
                )
        return "; ".join(problems) if problems else None

    return Step(name="health", script=script.text() or ":\n", expect=expect, timeout=120)
