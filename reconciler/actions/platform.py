"""The steps of a platform's actions: build (clone `source.git` at `ref`, run `build`) and delete.

A build happens beside its final place (`<path>.reconciler-build`) and is renamed into place only
once the clone, the checkout and every build command succeeded: a failed or interrupted build
never leaves a half codebase where sites would be installed. Platform code is written with
umask 022 (readable by the web server, writable only by the SSH user).
"""

from __future__ import annotations

import posixpath

from reconciler.actions.context import PlatformContext, expand
from reconciler.actions.script import Script, Step, lock_name, q
from reconciler.errors import PermanentError

__all__ = ["build_steps", "delete_platform_steps"]


def build_steps(ctx: PlatformContext) -> list[Step]:
    platform = ctx.platform
    if platform is None or platform.spec.source.git is None:
        raise PermanentError(f"Platform {ctx.name}: only a git source can be built")
    git = platform.spec.source.git
    url = expand(git.url, ctx.web.home)
    final = ctx.codebase
    build = final + ".reconciler-build"
    script = Script()
    script.raw("umask 022")
    script.run("mkdir", "-p", posixpath.dirname(final))
    script.run("rm", "-rf", build)
    script.run("git", "clone", "--quiet", "--no-checkout", "--", url, build)
    script.run(
        "git", "-C", build, "-c", "advice.detachedHead=false", "checkout", "--quiet", git.ref
    )
    for command in platform.spec.build:
        script.raw(f"(cd {q(build)} && sh -c {q(command)})")
    script.raw(
        f"if [ ! -f {q(posixpath.join(build, ctx.docroot, 'index.php'))} ]; then "
        f"echo 'no index.php in the docroot {ctx.docroot!s} after the build' >&2; exit 1; fi"
    )
    sites = posixpath.join(build, ctx.docroot, "sites")
    script.run("mkdir", "-p", sites)
    script.run("chmod", "0755", sites)
    script.run("mv", build, final)
    done = f"[ -f {q(posixpath.join(final, ctx.docroot, 'index.php'))} ]"
    undo = Script().run("rm", "-rf", build).text()
    return [
        Step(
            name=f"clone {git.ref} and build",
            script=script.text(),
            check=done,
            lock=lock_name("platform", final),
            undo=undo,
            timeout=3600,
        )
    ]


def delete_platform_steps(ctx: PlatformContext) -> list[Step]:
    """Remove the codebase, refused on the server itself if any site directory is in it."""
    sites = q(ctx.sites_dir)
    script = Script()
    script.raw(
        f'for f in {sites}/*/settings.php; do if [ -e "$f" ]; then '
        'echo "a site is still on this platform: $f" >&2; exit 1; fi; done'
    )
    script.raw(f"if [ -d {q(ctx.codebase)} ]; then chmod -R u+w {q(ctx.codebase)}; fi")
    script.run("rm", "-rf", ctx.codebase)
    return [
        Step(
            name="codebase removed",
            script=script.text(),
            lock=lock_name("platform", ctx.codebase),
        )
    ]
