"""Observed state: what a server holds, as the probe and the database query found it.

The JSON keys are CONTRACT.md's (`observe --format json`); more may be added, none removed.
Secrets never enter these models: the database password and hash salt are not read out of
`settings.php` at all.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

__all__ = [
    "ObservedBackup",
    "ObservedDatabase",
    "ObservedDbServer",
    "ObservedModes",
    "ObservedPlatform",
    "ObservedServer",
    "ObservedSite",
    "ObservedVhost",
]


class _Observed(BaseModel):
    model_config = ConfigDict(frozen=True, alias_generator=to_camel, validate_by_name=True)

    def as_json(self) -> dict[str, object]:
        return self.model_dump(by_alias=True, mode="json")


class ObservedDatabase(_Observed):
    """The `$databases['default']['default']` entry of a site's settings.php (no password)."""

    driver: str | None = None
    name: str | None = None
    host: str | None = None
    port: int | str | None = None
    username: str | None = None
    dynamic: tuple[str, ...] = ()


class ObservedModes(_Observed):
    """Permission bits as four octal digits (`"0440"`), or None when absent."""

    site_dir: str | None = None
    settings: str | None = None
    files: str | None = None
    private: str | None = None


class ObservedSite(_Observed):
    name: str
    path: str
    database: ObservedDatabase | None = None
    modes: ObservedModes = ObservedModes()
    owners: dict[str, str] = {}
    files_bytes: int = 0
    private_bytes: int = 0
    settings_error: str | None = None
    includes: tuple[str, ...] = ()


class ObservedPlatform(_Observed):
    name: str | None
    path: str
    docroot: str | None
    core_version: str | None
    sites: tuple[ObservedSite, ...] = ()
    exists: bool = True


class ObservedVhost(_Observed):
    path: str
    size: int
    mode: str
    server_names: tuple[str, ...] = ()
    root: str | None = None


class ObservedBackup(_Observed):
    id: str
    site: str
    path: str
    size: int
    time: float
    mode: str


class ObservedDbServer(_Observed):
    """What one query on a database server lists: databases (with sizes) and users."""

    databases: dict[str, int] = {}
    users: tuple[tuple[str, str], ...] = ()
    error: str | None = None


class ObservedServer(_Observed):
    name: str
    reachable: bool
    error: str | None = None
    user: str | None = None
    home: str | None = None
    platforms: tuple[ObservedPlatform, ...] = ()
    vhosts: tuple[ObservedVhost, ...] = ()
    backups: tuple[ObservedBackup, ...] = ()
    database_server: ObservedDbServer | None = None
    problems: tuple[str, ...] = ()

    def site(self, name: str) -> tuple[ObservedPlatform, ObservedSite] | None:
        for platform in self.platforms:
            for site in platform.sites:
                if site.name == name:
                    return platform, site
        return None
