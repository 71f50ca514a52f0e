"""Where the database of a site found by `import` is: the `db` of its Site, or why not.

Pure. settings.php names a host and port (and the database and user, adopted as `db.name` and
`db.user`); the declared Server whose `services.db` that is holds it: the site's own server (no
`db.server`), or another one (`db.server`), telling several apart by their database listings.
A database no declared server holds, another engine than the server declares, or a database the
listing shows is not there, cannot be adopted: the reason says what to do.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.models import Server
from reconciler.observe.models import ObservedServer, ObservedSite
from reconciler.plan.drift import names_service

__all__ = ["CREDENTIAL_KEYS", "adopt_database", "database_servers_needed"]

CREDENTIAL_KEYS = frozenset({"*", "driver", "database", "username", "password", "host", "port"})
"""The keys of a site's database settings that must be plain values in settings.php."""


def _loopback_web(manifests: ManifestSet, web: str, site: ObservedSite) -> bool:
    db = site.database
    assert db is not None
    return names_service(manifests, web, web, db.host, db.port)


def database_servers_needed(
    manifests: ManifestSet, server: str, observed: ObservedServer
) -> list[str]:
    """The other declared servers whose database listing tells where an undeclared site's
    database is (its settings.php names their `services.db`): observe them too."""
    needed: set[str] = set()
    for codebase in observed.platforms:
        for site in codebase.sites:
            db = site.database
            if site.name in manifests.sites or db is None or db.driver != "mysql":
                continue
            if CREDENTIAL_KEYS & set(db.dynamic) or _loopback_web(manifests, server, site):
                continue
            needed.update(
                name
                for name in manifests.servers
                if name != server and names_service(manifests, server, name, db.host, db.port)
            )
    return sorted(needed)


def adopt_database(
    manifests: ManifestSet,
    observed: Mapping[str, ObservedServer],
    server: Server,
    name: str,
    site: ObservedSite,
) -> tuple[dict[str, str] | str, list[str]]:
    """The `db` of the Site `name` (settings.php literal, checked by the caller), or why it
    cannot be imported; and notes."""
    db = site.database
    assert db is not None
    web = server.name
    service = server.spec.services.db
    if db.driver == "sqlite":
        if service is not None and service.type == "sqlite":
            return {}, []
        declared = f"a {service.type} services.db" if service else "no services.db"
        return (
            f"its settings.php names an SQLite database; Server {web} declares {declared}: "
            "a database is not converted from one engine to another",
            [],
        )
    if db.driver != "mysql":
        return (
            f"its settings.php names a {db.driver or 'missing'} database driver; the "
            "reconciler manages MariaDB/MySQL and SQLite databases",
            [],
        )
    if not db.name or not db.username:
        return "its settings.php names no database name or no database user", []
    address = f"{db.host or 'localhost'}:{db.port or 3306}"
    if names_service(manifests, web, web, db.host, db.port):
        holders = [web]
    else:
        holders = [
            s
            for s in sorted(manifests.servers)
            if names_service(manifests, web, s, db.host, db.port)
        ]
    if not holders:
        return (
            f"its settings.php names the database server {address}, which is no declared "
            f"Server's services.db (as seen from {web}): commit a Server manifest for that "
            "database server (with services.db), then import again",
            [],
        )
    listed = [s for s in holders if _lists(observed.get(s), db.name) is True]
    if len(holders) > 1:
        if len(listed) != 1:
            return (
                f"its settings.php names {address}, the services.db of "
                f"{', '.join(holders)}; which one holds database {db.name} cannot be told",
                [],
            )
        holders = listed
    home = holders[0]
    found = _lists(observed.get(home), db.name)
    notes: list[str] = []
    if found is False:
        return (
            f"its settings.php names database {db.name}, which is not on {home}: "
            "the site has no data there to adopt",
            [],
        )
    if found is None:
        notes.append(
            f"Site {name}: the databases of {home} could not be listed, so that "
            f"database {db.name} is there was not checked"
        )
    adopted = {"name": db.name, "user": db.username}
    if home != web:
        adopted = {"server": home, **adopted}
    return adopted, notes


def _lists(server: ObservedServer | None, database: str) -> bool | None:
    """Whether `server`'s database listing holds `database` (None: no listing to tell)."""
    if server is None or not server.reachable or server.database_server is None:
        return None
    if server.database_server.error is not None:
        return None
    return database in server.database_server.databases
