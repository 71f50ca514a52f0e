"""The steps of a site's actions: install, enable, disable, verify (drift repair) and delete.

Pure: each builder returns the steps rendered from a `SiteContext` now, with fresh secrets where
the action writes credentials. Every step is safe to run again after a crash: those that cost or
destroy have a check ("already done?"), the others converge when repeated.

Credentials: the database step sets the user's password to a new one and the settings.php step
writes that same password; both always run together, so a crash between them is healed by the
next run generating a new pair. The site's admin password is passed to `site:install` once and
dropped; nothing secret leaves these steps except through the `secrets` they list for redaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

from reconciler.actions.context import SiteContext
from reconciler.actions.script import Script, Step, lock_name, q
from reconciler.actions.web import health_step, remove_vhost_steps, vhost_steps
from reconciler.drivers import database as sql
from reconciler.drivers.mysql import admin_argv
from reconciler.drivers.settings import MysqlDatabase, SqliteDatabase, render_settings_php
from reconciler.drivers.sitefiles import (
    modes_check,
    prepare_site_dir_script,
    seal_site_dir_script,
    unseal_site_dir_script,
)
from reconciler.drivers.sitesphp import add_entries_script, entries_check, remove_entries_script
from reconciler.errors import PermanentError
from reconciler.secrets import generate_hash_salt, generate_password

__all__ = [
    "credential_steps",
    "delete_steps",
    "directory_steps",
    "disable_steps",
    "enable_steps",
    "install_steps",
    "seal_step",
    "sites_php_step",
    "verify_steps",
]


def _served_state(ctx: SiteContext) -> Literal["present", "disabled"]:
    disabled = ctx.site is not None and ctx.site.spec.state == "disabled"
    return "disabled" if disabled else "present"


def _site_lock(ctx: SiteContext) -> str:
    return lock_name("site", ctx.name)


def _writable(ctx: SiteContext) -> str:
    """Make what we own under the site directory writable (files uploaded through the web
    server belong to its user; they sit in group-writable directories and can be removed)."""
    d = q(ctx.site_dir)
    return f'if [ -d {d} ]; then find {d} -user "$(id -u)" -exec chmod u+w {{}} + ; fi'


def directory_steps(ctx: SiteContext) -> list[Step]:
    script = Script().raw(prepare_site_dir_script(ctx.site_dir, ctx.web.group))
    undo = Script()
    undo.raw(_writable(ctx))
    undo.run("rm", "-rf", ctx.site_dir)
    return [
        Step(
            name="site directory",
            script=script.text(),
            lock=_site_lock(ctx),
            undo=undo.text(),
        )
    ]


def _admin_sql(ctx: SiteContext, payload: bytes) -> str:
    if ctx.db_service is None or ctx.db is None:
        raise PermanentError(f"site {ctx.name}: its database server has no `services.db`")
    defaults = ctx.db_service.admin_defaults_file
    end = "RECONCILER_SQL_EOF"
    text = payload.decode()
    if end in text:  # pragma: no cover - SQL we built
        raise ValueError("SQL holds the here-document terminator")
    return f"{q(*admin_argv(defaults))} <<'{end}'\n{text}{end}\n"


def credential_steps(ctx: SiteContext) -> list[Step]:
    """Database and user (MariaDB/MySQL) with a new password, then settings.php holding it.

    Both steps always run together (neither has a check): the pair is consistent after any
    crash once they have run again."""
    salt = generate_hash_salt()
    trusted = [ctx.name, *ctx.aliases]
    steps: list[Step] = []
    database: MysqlDatabase | SqliteDatabase
    secrets: tuple[str, ...] = (salt,)
    if ctx.sqlite:
        database = SqliteDatabase(path=f"{ctx.relative_dir}/private/db.sqlite")
    else:
        assert ctx.db_service is not None
        password = generate_password()
        secrets = (password, salt)
        database = MysqlDatabase(
            name=ctx.db_name,
            username=ctx.db_user,
            password=password,
            host=ctx.db_service.host,
            port=ctx.db_service.port,
        )
        create = sql.create_site_database(ctx.db_name, ctx.db_user, password, ctx.grant_hosts)
        drop = sql.drop_site_database(ctx.db_name, ctx.db_user, ctx.grant_hosts)
        steps.append(
            Step(
                name="database and user",
                script=_admin_sql(ctx, create),
                on="db",
                lock=_site_lock(ctx),
                undo=_admin_sql(ctx, drop),
                secrets=secrets,
            )
        )
    content = render_settings_php(
        site=ctx.name,
        database=database,
        hash_salt=salt,
        config_sync_directory=f"{ctx.relative_dir}/private/config/sync",
        file_private_path=f"{ctx.relative_dir}/private",
        trusted_hosts=trusted,
    )
    script = Script().raw(unseal_site_dir_script(ctx.site_dir))
    script.write_file(ctx.settings_php, content, "0440")
    steps.append(
        Step(name="settings.php", script=script.text(), lock=_site_lock(ctx), secrets=secrets)
    )
    return steps


def sites_php_step(ctx: SiteContext) -> Step:
    entries = [(host, ctx.name) for host in (ctx.name, *ctx.aliases)]
    return Step(
        name="sites.php",
        script=add_entries_script(ctx.platform.sites_php, entries),
        check=entries_check(ctx.platform.sites_php, entries),
        lock=lock_name("platform", ctx.platform.codebase),
        undo=remove_entries_script(ctx.platform.sites_php, ctx.name),
    )


def seal_step(ctx: SiteContext) -> Step:
    sqlite = ctx.sqlite_path if ctx.sqlite else None
    return Step(
        name="modes",
        script=seal_site_dir_script(ctx.site_dir, ctx.web.group, sqlite),
        check=modes_check(ctx.site_dir, ctx.web.group),
        lock=_site_lock(ctx),
    )


def _install_step(ctx: SiteContext) -> Step:
    site = ctx.site
    if site is None:  # pragma: no cover - installs are of declared sites
        raise ValueError("an install needs the Site manifest")
    admin = generate_password()
    options = site.spec.install
    drush = ctx.drush
    argv = drush.site_install(
        account_pass=admin,
        account_mail=options.admin_email or f"admin@{ctx.name}",
        site_name=options.site_name or ctx.name,
        profile=site.spec.profile,
        locale=options.locale,
    )
    installed = q(*drush.status(["bootstrap"])) + " 2>/dev/null | grep -q '\"Successful\"'"
    script = Script()
    script.raw(unseal_site_dir_script(ctx.site_dir))
    script.raw(q(*argv))
    script.raw(q(*drush.cache_rebuild()) + " >/dev/null 2>&1 || true")
    return Step(
        name="site:install",
        script=script.text(),
        check=installed,
        lock=_site_lock(ctx),
        secrets=(admin,),
        timeout=3600,
    )


def install_steps(ctx: SiteContext) -> list[Step]:
    """Aegir's install, in the order that fails cheaply first: directories, database and
    credentials, sites.php, the installer, modes, the vhost, then the health check. A failure
    undoes what was made (vhost aside: a failed test never leaves a new vhost behind)."""
    state = _served_state(ctx)
    return [
        *directory_steps(ctx),
        *credential_steps(ctx),
        sites_php_step(ctx),
        _install_step(ctx),
        seal_step(ctx),
        *vhost_steps(ctx, state),
        health_step(ctx, disabled=state == "disabled"),
    ]


def enable_steps(ctx: SiteContext) -> list[Step]:
    return [*vhost_steps(ctx, "present"), health_step(ctx)]


def disable_steps(ctx: SiteContext) -> list[Step]:
    return [*vhost_steps(ctx, "disabled"), health_step(ctx, disabled=True)]


def delete_steps(ctx: SiteContext, backup: Sequence[Step]) -> list[Step]:
    """Backup first (a failed backup deletes nothing), then vhost, sites.php entries, database
    and user, and the directory. No undo: after the backup every step only removes."""
    steps = [*backup, *remove_vhost_steps(ctx)]
    steps.append(
        Step(
            name="sites.php entries removed",
            script=remove_entries_script(ctx.platform.sites_php, ctx.name),
            lock=lock_name("platform", ctx.platform.codebase),
        )
    )
    if not ctx.sqlite and ctx.db is not None and ctx.db_service is not None:
        drop = sql.drop_site_database(ctx.db_name, ctx.db_user, ctx.grant_hosts)
        steps.append(
            Step(
                name="database and user dropped",
                script=_admin_sql(ctx, drop),
                on="db",
                lock=_site_lock(ctx),
            )
        )
    remove = Script()
    remove.raw(_writable(ctx))
    remove.run("rm", "-rf", ctx.site_dir)
    steps.append(Step(name="site directory removed", script=remove.text(), lock=_site_lock(ctx)))
    return steps


def verify_steps(
    ctx: SiteContext,
    *,
    credentials: bool,
    vhost: bool,
) -> list[Step]:
    """Drift repair (Aegir's verify): settings.php rewritten with new credentials when its
    database settings drifted or it is missing, the sites.php entries, modes and groups, and the
    vhost when it drifted. Steps that find nothing to do are skipped by their checks."""
    state = _served_state(ctx)
    steps: list[Step] = []
    if credentials:
        steps += [_without_undo(s) for s in credential_steps(ctx)]
    steps.append(_without_undo(sites_php_step(ctx)))
    steps.append(seal_step(ctx))
    if vhost:
        steps += vhost_steps(ctx, state)
    steps.append(health_step(ctx, disabled=state == "disabled"))
    return steps


def _without_undo(step: Step) -> Step:
    """A verify never undoes: the site existed before it and must stay."""
    return replace(step, undo=None)
