"""Where everything of a site or platform is on its servers: paths with `~/` resolved against the
login user's home, names of database and user, grant hosts, the drush of the platform.

Pure: built from the manifests and the facts observe reported about a server (user, home).
"""

from __future__ import annotations

import grp
import os
import posixpath
from dataclasses import dataclass

from reconciler.drivers.database import grant_hosts
from reconciler.drivers.drush import Drush
from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.models import DbService, HttpService, Platform, Server, Site
from reconciler.manifests.names import database_name

__all__ = [
    "PlatformContext",
    "ServerFacts",
    "SiteContext",
    "expand",
    "http_group",
    "platform_context",
    "site_context",
]


def http_group(server: Server) -> str:
    """The group PHP runs as on `server`: `services.http.group`, except for PHP's built-in
    server on this machine (the embedded default) without an explicit group, where PHP runs as
    the user running the reconciler: then that user's primary group."""
    http = server.spec.services.http
    if http is None:
        return "www-data"
    if (
        http.type == "builtin"
        and server.spec.transport == "local"
        and "group" not in http.model_fields_set
    ):
        return grp.getgrgid(os.getgid()).gr_name
    return http.group


def expand(path: str, home: str) -> str:
    """`path` with a leading `~/` replaced by `home`; other paths as they are."""
    if path == "~":
        return home
    if path.startswith("~/"):
        return posixpath.join(home, path[2:])
    return path


@dataclass(frozen=True)
class ServerFacts:
    """A declared server and what observe learned of its login: user and home directory."""

    server: Server
    user: str
    home: str

    @property
    def name(self) -> str:
        return self.server.name

    @property
    def http(self) -> HttpService | None:
        return self.server.spec.services.http

    @property
    def group(self) -> str:
        return http_group(self.server)

    def path(self, path: str) -> str:
        return expand(path, self.home)

    @property
    def backups(self) -> str:
        return self.path(self.server.spec.paths.backups)

    @property
    def vhost_dir(self) -> str | None:
        http = self.http
        return self.path(http.vhost_dir) if http is not None else None


@dataclass(frozen=True)
class PlatformContext:
    name: str
    web: ServerFacts
    codebase: str
    docroot: str
    drush_path: str
    platform: Platform | None = None

    @property
    def root(self) -> str:
        return posixpath.normpath(posixpath.join(self.codebase, self.docroot))

    @property
    def sites_dir(self) -> str:
        return posixpath.join(self.root, "sites")

    @property
    def sites_php(self) -> str:
        return posixpath.join(self.sites_dir, "sites.php")


@dataclass(frozen=True)
class SiteContext:
    """One site at one place: `platform` is where it is (or goes), `db` the database server."""

    name: str
    platform: PlatformContext
    db: ServerFacts | None
    db_service: DbService | None
    db_name: str
    db_user: str
    site: Site | None = None
    foreign_vhosts: tuple[str, ...] = ()
    """Other files of the web server's vhost directory serving only this site's names, as
    observe found them: set aside when the site's vhost is written (`reconciler.actions.web`)."""

    @property
    def web(self) -> ServerFacts:
        return self.platform.web

    @property
    def site_dir(self) -> str:
        return posixpath.join(self.platform.sites_dir, self.name)

    @property
    def settings_php(self) -> str:
        return posixpath.join(self.site_dir, "settings.php")

    @property
    def files_dir(self) -> str:
        return posixpath.join(self.site_dir, "files")

    @property
    def private_dir(self) -> str:
        return posixpath.join(self.site_dir, "private")

    @property
    def config_sync(self) -> str:
        return posixpath.join(self.private_dir, "config", "sync")

    @property
    def relative_dir(self) -> str:
        """The site directory relative to the docroot: what settings.php names (Drupal resolves
        it against DRUPAL_ROOT), so that it stays right when the site moves to another platform."""
        return f"sites/{self.name}"

    @property
    def sqlite_path(self) -> str:
        return posixpath.join(self.private_dir, "db.sqlite")

    @property
    def sqlite(self) -> bool:
        return self.db_service is not None and self.db_service.type == "sqlite"

    @property
    def aliases(self) -> tuple[str, ...]:
        return self.site.spec.aliases if self.site is not None else ()

    @property
    def drush(self) -> Drush:
        return Drush(
            codebase=self.platform.codebase,
            site=self.name,
            docroot=self.platform.docroot,
            drush=self.platform.drush_path,
        )

    @property
    def vhost_path(self) -> str | None:
        directory = self.web.vhost_dir
        return posixpath.join(directory, f"{self.name}.conf") if directory else None

    @property
    def backups_dir(self) -> str:
        return posixpath.join(self.web.backups, self.name)

    @property
    def grant_hosts(self) -> list[str]:
        if self.db is None:
            return []
        return grant_hosts(self.web.server.spec.effective_address, self.db.name, self.web.name)


def platform_context(
    manifests: ManifestSet, platform: Platform, web: ServerFacts
) -> PlatformContext:
    return PlatformContext(
        name=platform.name,
        web=web,
        codebase=web.path(manifests.platform_path(platform)),
        docroot=platform.spec.docroot,
        drush_path=platform.spec.drush,
        platform=platform,
    )


def site_context(
    manifests: ManifestSet,
    site: Site,
    platform: PlatformContext,
    facts: dict[str, ServerFacts],
) -> SiteContext:
    """A declared site on `platform` (its declared one, or the one it is on now)."""
    db_server = manifests.db_server_of(site)
    generated = database_name(site.name)
    return SiteContext(
        name=site.name,
        platform=platform,
        db=facts.get(db_server.name),
        db_service=db_server.spec.services.db,
        db_name=site.spec.db.name or generated,
        db_user=site.spec.db.user or generated,
        site=site,
    )


def server_facts(
    server: Server, observed_user: str | None, observed_home: str | None
) -> ServerFacts:
    """Facts of a declared server; without an observed home, `~/` paths cannot be resolved."""
    user = observed_user or server.spec.user
    home = observed_home or ("/root" if user == "root" else f"/home/{user}")
    return ServerFacts(server=server, user=user, home=home)


def observed_site_context(
    manifests: ManifestSet,
    facts: dict[str, ServerFacts],
    server: str,
    codebase_path: str,
    docroot: str | None,
    platform_name: str | None,
    site_name: str,
    observed_db_name: str | None,
    observed_db_user: str | None,
) -> SiteContext:
    """A site where observe found it: declared or not (an Unmanaged site being pruned).

    The database names come from the manifest when the site is declared, else from what its
    settings.php names; its database server is the declared one, else the web server itself."""
    web = facts[server]
    platform = manifests.platforms.get(platform_name or "")
    drush = platform.spec.drush if platform is not None else "vendor/bin/drush"
    where = PlatformContext(
        name=platform_name or codebase_path,
        web=web,
        codebase=codebase_path,
        docroot=docroot or (platform.spec.docroot if platform is not None else "web"),
        drush_path=drush,
        platform=platform,
    )
    site = manifests.sites.get(site_name)
    if site is not None:
        return site_context(manifests, site, where, facts)
    generated = database_name(site_name)
    return SiteContext(
        name=site_name,
        platform=where,
        db=web,
        db_service=web.server.spec.services.db,
        db_name=observed_db_name or generated,
        db_user=observed_db_user or generated,
        site=None,
    )
