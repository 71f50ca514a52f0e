"""Observed state: what a server holds, as the probe and the database query found it.

The JSON keys are CONTRACT.md's (`observe --format json`); more may be added, none removed.
Secrets never enter these models: the database password and hash salt are not read out of
`settings.php` at all. Plain frozen dataclasses: observing thousands of sites must not pay for
validation of what the parser itself built.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ObservedBackup",
    "ObservedDatabase",
    "ObservedDbServer",
    "ObservedModes",
    "ObservedPlatform",
    "ObservedServer",
    "ObservedSite",
    "ObservedVhost",
    "to_json",
]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def to_json(value: Any) -> Any:
    """JSON-ready data with the contract's camelCase keys."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {_camel(f.name): to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    return value


class _Observed:
    def as_json(self) -> dict[str, Any]:
        data = to_json(self)
        assert isinstance(data, dict)
        return data


@dataclass(frozen=True)
class ObservedDatabase(_Observed):
    """The `$databases['default']['default']` entry of a site's settings.php (no password)."""

    driver: str | None = None
    name: str | None = None
    host: str | None = None
    port: int | str | None = None
    username: str | None = None
    dynamic: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObservedModes(_Observed):
    """Permission bits as four octal digits (`"0440"`), or None when absent."""

    site_dir: str | None = None
    settings: str | None = None
    files: str | None = None
    private: str | None = None


@dataclass(frozen=True)
class ObservedSite(_Observed):
    name: str
    path: str
    database: ObservedDatabase | None = None
    modes: ObservedModes = ObservedModes()
    owners: dict[str, str] = field(default_factory=dict)
    files_bytes: int = 0
    private_bytes: int = 0
    settings_error: str | None = None
    includes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ObservedPlatform(_Observed):
    name: str | None
    path: str
    docroot: str | None
    core_version: str | None
    sites: tuple[ObservedSite, ...] = ()
    exists: bool = True


@dataclass(frozen=True)
class ObservedVhost(_Observed):
    path: str
    size: int
    mode: str
    server_names: tuple[str, ...] = ()
    root: str | None = None


@dataclass(frozen=True)
class ObservedBackup(_Observed):
    id: str
    site: str
    path: str
    size: int
    time: float
    mode: str


@dataclass(frozen=True)
class ObservedDbServer(_Observed):
    """What one query on a database server lists: databases (with sizes) and users."""

    databases: dict[str, int] = field(default_factory=dict)
    users: tuple[tuple[str, str], ...] = ()
    error: str | None = None


@dataclass(frozen=True)
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
