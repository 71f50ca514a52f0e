"""Drift of a site that is where git wants it: modes, owners, database settings, vhost (in
`reconciler.plan.vhosts`, re-exported here); and where a site's database is now
(`database_home`), so that a database on another server is moved, never replaced by an empty one.

Pure functions of the declared and the observed state; each reason is one line a user reads in
the plan ("settings.php mode is 0644, want 0440").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.actions.context import http_group
from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.models import Server, Site
from reconciler.manifests.names import database_name
from reconciler.observe.models import ObservedServer, ObservedSite
from reconciler.plan.vhosts import VhostIndex, find_vhost, vhost_reasons

__all__ = [
    "WANTED_MODES",
    "DatabaseHome",
    "VhostIndex",
    "address_drift",
    "database_home",
    "database_reasons",
    "database_rename",
    "engine_change",
    "find_vhost",
    "mode_reasons",
    "names_service",
    "same_machine",
    "unreachable_service",
    "vhost_reasons",
]

WANTED_MODES: dict[str, tuple[str, str]] = {
    "siteDir": ("site directory", "0550"),
    "settings": ("settings.php", "0440"),
    "files": ("files/", "2770"),
    "private": ("private/", "2770"),
}
"""CONTRACT.md's modes of a site: the observed key, how a reason names it, and the wanted mode."""


def mode_reasons(declared: Server, seen: ObservedSite, login_user: str | None) -> list[str]:
    """Modes, owners and groups of a site against CONTRACT.md's table."""
    modes = seen.modes.as_json()
    group = http_group(declared) if declared.spec.services.http is not None else None
    reasons: list[str] = []
    for key, (label, want) in WANTED_MODES.items():
        mode = modes.get(key)
        if mode is None:
            if key != "siteDir":
                reasons.append(f"{label} is missing")
            continue
        if mode != want:
            reasons.append(f"{label} mode is {mode}, want {want}")
        owner_group = seen.owners.get(key)
        if owner_group and ":" in owner_group:
            owner, _, got = owner_group.partition(":")
            user = login_user
            if user and owner != user:
                reasons.append(f"{label} owner is {owner}, want {user}")
            if group and got != group:
                reasons.append(f"{label} group is {got}, want {group}")
    if seen.settings_error:
        reasons.append(f"settings.php could not be read: {seen.settings_error}")
    return reasons


LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})
"""Host names that, in a site's settings.php, mean the machine the site runs on."""

MYSQL_DEFAULT_PORT = 3306
"""The port Drupal uses when settings.php names none."""


@dataclass(frozen=True)
class DatabaseHome:
    """Where the MariaDB/MySQL database a site's settings.php names is now.

    `server` is the declared Server holding it, or None when that cannot be told; `unknown` then
    says why. `address` is the host and port settings.php names (`127.0.0.1:3306`), `name` the
    database."""

    server: str | None
    address: str
    name: str | None
    unknown: str = ""


def _port(value: object) -> int | None:
    if value is None or value == "":
        return MYSQL_DEFAULT_PORT
    try:
        return int(str(value))
    except ValueError:
        return None


def _machine(server: Server) -> str:
    address = server.spec.effective_address.lower()
    return "loopback" if address in LOOPBACK else address


def same_machine(manifests: ManifestSet, one: str, other: str) -> bool:
    """Whether two declared servers are one machine: the same server, or the same `address`
    (`host` without one; `localhost` and `127.0.0.1` are one)."""
    servers = manifests.servers
    return one == other or _machine(servers[one]) == _machine(servers[other])


def names_service(
    manifests: ManifestSet, web: str, server: str, host: object, port: object
) -> bool:
    """Whether `host:port`, in the settings.php of a site on the web server `web`, is `server`'s
    `services.db`: the same host and port, where a loopback host (`127.0.0.1`, `localhost`) is
    the database of the site's own machine only."""
    service = manifests.servers[server].spec.services.db
    if service is None or service.type == "sqlite" or _port(port) != service.port:
        return False
    wanted = service.host.lower()
    got = str(host or "localhost").lower()
    if got in LOOPBACK:
        return wanted in LOOPBACK and same_machine(manifests, web, server)
    return got == wanted


def unreachable_service(manifests: ManifestSet, web: str, db_server: str) -> str | None:
    """Why sites on `web` cannot use `db_server`'s database as declared (its `services.db` host
    is a loopback address of another machine), else None."""
    service = manifests.servers[db_server].spec.services.db
    if service is None or service.type == "sqlite" or service.host.lower() not in LOOPBACK:
        return None
    if same_machine(manifests, web, db_server):
        return None
    return (
        f"{db_server}'s services.db host is {service.host}, a loopback address, which sites on "
        f"{web} (another machine) cannot reach: declare the address web servers use for it"
    )


def address_drift(
    manifests: ManifestSet, site: Site, seen: ObservedSite, web: str | None = None
) -> bool:
    """Whether settings.php names a database host or port other than the declared database
    server's `services.db` (keys settings.php computes at run time are not compared). With the
    web server the site is on (`web`), a loopback host names that machine only."""
    observed = seen.database
    declared = manifests.db_server_of(site)
    service = declared.spec.services.db
    if observed is None or service is None or service.type == "sqlite" or seen.settings_error:
        return False
    if observed.driver != "mysql":
        return False
    dynamic = set(observed.dynamic)
    if "*" in dynamic:
        return False
    host = "host" not in dynamic and str(observed.host) != str(service.host)
    port = "port" not in dynamic and str(observed.port) != str(service.port)
    if host or port:
        return True
    return (
        web is not None
        and "host" not in dynamic
        and str(observed.host).lower() in LOOPBACK
        and not same_machine(manifests, web, declared.name)
    )


def engine_change(manifests: ManifestSet, site: Site, seen: ObservedSite) -> str | None:
    """The driver settings.php names when it is another database engine than the declared
    database server's (`sqlite` declared `mariadb`, or the other way round), else None."""
    observed = seen.database
    service = manifests.db_server_of(site).spec.services.db
    if observed is None or service is None or seen.settings_error or observed.driver is None:
        return None
    if {"*", "driver"} & set(observed.dynamic):
        return None
    want = "sqlite" if service.type == "sqlite" else "mysql"
    return observed.driver if observed.driver != want else None


def database_home(
    manifests: ManifestSet,
    site: Site,
    web: str,
    seen: ObservedSite,
    observed: Mapping[str, ObservedServer],
) -> DatabaseHome | None:
    """Which declared server holds the database that `site`'s settings.php names, as seen on the
    web server `web`; None when there is no MariaDB/MySQL database to locate (none, SQLite).

    * settings.php naming the declared database server's `services.db` (`names_service`) means
      that server;
    * otherwise the declared servers whose `services.db` it names, of which exactly one must
      list the database;
    * a host that is no declared server's, a server whose databases could not be listed, a
      database on none or on several of them, or settings.php computing its database at run
      time: cannot be told (`server` None, `unknown` says why).
    """
    database = seen.database
    if database is None or seen.settings_error or database.driver != "mysql":
        return None
    address = f"{database.host}:{database.port}"
    dynamic = set(database.dynamic) & {"*", "host", "port", "database"}
    if dynamic:
        keys = ", ".join(sorted(dynamic))
        why = f"settings.php computes its database ({keys}) at run time"
        return DatabaseHome(None, address, database.name, why)
    declared = manifests.db_server_of(site).name
    if names_service(manifests, web, declared, database.host, database.port):
        return DatabaseHome(declared, address, database.name)
    if database.name is None or _port(database.port) is None:
        return DatabaseHome(None, address, database.name, "settings.php names no database")
    candidates = [
        name
        for name in sorted(manifests.servers)
        if names_service(manifests, web, name, database.host, database.port)
    ]
    if not candidates:
        return DatabaseHome(
            None,
            address,
            database.name,
            f"settings.php names {address}, which no declared server's services.db is "
            f"(as seen from {web})",
        )
    holders: list[str] = []
    unlisted: list[str] = []
    for name in candidates:
        server = observed.get(name)
        listing = server.database_server if server is not None and server.reachable else None
        if listing is None or listing.error is not None:
            why = listing.error if listing is not None and listing.error else "not observed"
            unlisted.append(f"{name}: {why}")
        elif database.name in listing.databases:
            holders.append(name)
    if len(holders) == 1:
        return DatabaseHome(holders[0], address, database.name)
    named = ", ".join(candidates)
    if holders:
        why = f"database {database.name} is on each of {', '.join(holders)}"
    elif unlisted:
        why = f"the databases could not be listed ({'; '.join(unlisted)})"
    else:
        why = f"database {database.name} is not there"
    return DatabaseHome(
        None, address, database.name, f"settings.php names {address} ({named}): {why}"
    )


def database_reasons(
    manifests: ManifestSet,
    site: Site,
    seen: ObservedSite,
    listing: ObservedServer | None,
    *,
    web: str | None = None,
    observed: Mapping[str, ObservedServer] | None = None,
) -> list[str]:
    """The database named in settings.php against the declared (or generated) one: each reason
    is one that verify repairs by writing the declared credentials into settings.php.

    `listing` is the declared database server as observed: a database missing there is a
    reason only when settings.php names that server (not one it computes at run time). When
    settings.php names another
    database host or port, rewriting it would point the site at a new, empty database unless the
    data is known to be on the declared server already: that needs the web server the site is on
    (`web`) and every observed server (`observed`) to tell (`database_home`); without them, or
    when the data is elsewhere or cannot be located, there is no reason (the planner moves the
    database, or says in a note why it does not)."""
    observed_db = seen.database
    db_server = manifests.db_server_of(site)
    service = db_server.spec.services.db
    if observed_db is None or service is None or seen.settings_error:
        return []
    dynamic = set(observed_db.dynamic)
    if "*" in dynamic or engine_change(manifests, site, seen) is not None:
        return []
    if address_drift(manifests, site, seen, web):
        if web is None or observed is None:
            return []
        home = database_home(manifests, site, web, seen, observed)
        if home is None or home.server != db_server.name:
            return []
    reasons: list[str] = []

    def differs(key: str, got: object, want: object, label: str) -> None:
        if key not in dynamic and str(got) != str(want):
            reasons.append(f"settings.php database {label} is {got}, want {want}")

    if service.type == "sqlite":
        differs("driver", observed_db.driver, "sqlite", "driver")
        return reasons
    generated = database_name(site.name)
    name = site.spec.db.name or generated
    user = site.spec.db.user or generated
    differs("driver", observed_db.driver, "mysql", "driver")
    if database_rename(manifests, site, seen) is not None:
        return []  # never repaired by pointing the site at another (empty) database
    differs("username", observed_db.username, user, "user")
    differs("host", observed_db.host, service.host, "host")
    differs("port", observed_db.port, service.port, "port")
    if (
        not {"host", "port"} & dynamic
        and listing is not None
        and listing.database_server is not None
        and listing.database_server.error is None
        and name not in listing.database_server.databases
    ):
        reasons.append(f"database {name} is not on {db_server.name}")
    return reasons


def database_rename(manifests: ManifestSet, site: Site, seen: ObservedSite) -> str | None:
    """A note when settings.php names another database than git declares (or generates): its
    data is in the database it names, so a repair would point the site at another, empty one.
    Nothing is done about it; the note says how to adopt the database or move the data."""
    observed_db = seen.database
    service = manifests.db_server_of(site).spec.services.db
    if observed_db is None or service is None or service.type == "sqlite" or seen.settings_error:
        return None
    if "database" in observed_db.dynamic or "*" in observed_db.dynamic:
        return None
    wanted = site.spec.db.name or database_name(site.name)
    if observed_db.name is None or observed_db.name == wanted:
        return None
    return (
        f"Site {site.name}: settings.php names database {observed_db.name}, git wants {wanted}; "
        "not repaired (the site's data is in the database it names): to keep it, declare "
        f"`db: {{name: {observed_db.name}, user: {observed_db.username or '...'}}}`; to move "
        "the data, restore a backup into the wanted database"
    )
