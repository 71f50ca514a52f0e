"""The steps that serve a site with PHP's built-in web server (`services.http.type: builtin`), or
stop serving it. Pure: steps rendered from a `SiteContext`, no I/O.

One step each, under the server's lock (port allocation reads every site's port file); the
sites.php edit inside it also holds the platform's lock, which every sites.php edit takes. See
`reconciler.drivers.builtin` for the files kept in vhostDir and the shell they run.
"""

from __future__ import annotations

from typing import Literal

from reconciler.actions.context import SiteContext
from reconciler.actions.script import LOCK_TIMEOUT, Script, Step, lock_name, q
from reconciler.drivers import builtin
from reconciler.errors import PermanentError
from reconciler.transport.base import CommandResult

__all__ = ["serve_steps", "stop_steps"]

_STEP_TIMEOUT = float(LOCK_TIMEOUT + 120)
"""The step may wait for the platform's lock (up to `LOCK_TIMEOUT`) inside the server's."""


def _files(ctx: SiteContext) -> builtin.BuiltinFiles:
    vhost_dir = ctx.web.vhost_dir
    if vhost_dir is None:
        raise PermanentError(
            f"server {ctx.web.name} has no `services.http`: site {ctx.name} cannot be served",
            hint="declare `services.http` with `type: builtin` and a `vhostDir`",
        )
    return builtin.BuiltinFiles(vhost_dir, ctx.name)


def _preamble(ctx: SiteContext, state: builtin.ServeState) -> str:
    return builtin.preamble(
        _files(ctx),
        docroot=ctx.platform.root,
        sites_php=ctx.platform.sites_php,
        state=state,
    )


def _platform_lock(ctx: SiteContext) -> str:
    return lock_name("platform", ctx.platform.codebase)


def _expect_port(result: CommandResult) -> str | None:
    if builtin.parse_port(result.out) is None:
        return "the built-in web server step did not say which port it serves (no PORT= line)"
    return None


def serve_steps(
    ctx: SiteContext, *, base_port: int, state: Literal["present", "disabled"]
) -> list[Step]:
    """Serve the site (`present`) or answer 503 for it (`disabled`) with its own `php -S`.

    Keeps the site's port (else takes the lowest free one from `base_port` up), maps it in
    sites.php, and (re)starts the server unless it already runs with the right router; prints
    `PORT=<n>`. Skipped when the server runs, answers, and matches `state`."""
    files = _files(ctx)
    pre = _preamble(ctx, state)
    script = Script().raw(pre)
    script.raw(builtin.allocate_port_script(base_port))
    script.raw(builtin.sites_php_script(_platform_lock(ctx), add=True))
    if state == "disabled":
        script.write_file(files.disabled_router, builtin.disabled_router_php(), "0644")
    script.raw(builtin.start_script())
    return [
        Step(
            name=f"built-in web server ({state})",
            script=script.text(),
            check=pre + builtin.check_script(),
            lock=lock_name("server", ctx.web.name),
            timeout=_STEP_TIMEOUT,
            expect=_expect_port,
        )
    ]


def stop_steps(ctx: SiteContext) -> list[Step]:
    """Stop the site's server, remove its port line from sites.php and its files from
    vhostDir. Idempotent; skipped when nothing of it is left."""
    files = _files(ctx)
    pre = _preamble(ctx, "present")
    script = Script().raw(pre)
    script.raw(builtin.stop_script())
    script.raw(builtin.sites_php_script(_platform_lock(ctx), add=False))
    script.run("rm", "-f", *files.all)
    gone = " && ".join(f"[ ! -e {q(path)} ]" for path in files.all)
    check = pre + f'{gone} && ! {{ [ -f "$b_sp" ] && grep -qE -- "$b_site_re" "$b_sp"; }}'
    return [
        Step(
            name="built-in web server stopped",
            script=script.text(),
            check=check,
            lock=lock_name("server", ctx.web.name),
            timeout=_STEP_TIMEOUT,
        )
    ]
