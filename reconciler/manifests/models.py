"""The manifest models: `Server`, `Platform` and `Site`, exactly as CONTRACT.md section 2 describes.

Frozen pydantic v2 models; unknown fields are errors. Field names are the manifests' camelCase
names (`hostKeys`, `vhostDir`, ...). Rules that need more than one document (references, unique
names and aliases) live in `crossref`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from reconciler.manifests.names import (
    AbsPath,
    CronSchedule,
    DbIdentifier,
    DbUser,
    DnsLabel,
    Duration,
    FastcgiAddress,
    GitRef,
    GitUrl,
    HostKey,
    NetHost,
    Port,
    PosixName,
    RelPath,
    SafeText,
    SiteName,
)

__all__ = [
    "API_VERSION",
    "KINDS",
    "BackupKeep",
    "BackupPolicy",
    "CronPolicy",
    "DbService",
    "Document",
    "GitSource",
    "HttpService",
    "InstallOptions",
    "Metadata",
    "Platform",
    "PlatformSpec",
    "Server",
    "ServerPaths",
    "ServerServices",
    "ServerSpec",
    "Site",
    "SiteDb",
    "SiteSpec",
    "Source",
]

API_VERSION = "reconciler/v1"


class _Model(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_default=True,
    )


# ---------------------------------------------------------------- Server


class ServerPaths(_Model):
    platforms: AbsPath = "/var/aegir/platforms"
    backups: AbsPath = "/var/aegir/backups"


class HttpService(_Model):
    """The web server. `builtin` (PHP's built-in server) is for the embedded default only."""

    type: Literal["nginx", "apache", "builtin", "none"] = "nginx"
    vhost_dir: AbsPath = "/etc/nginx/sites-enabled"
    test_command: StrictStr | None = Field(
        default=None,
        description="Run by the server's shell before every reload; default `sudo -n nginx -t` "
        "(without `sudo -n` when the SSH user is root).",
    )
    reload_command: StrictStr | None = Field(
        default=None,
        description="Default `sudo -n nginx -s reload` (without `sudo -n` when the user is root).",
    )
    port: Port = 80
    listen_address: NetHost | None = Field(
        default=None,
        description="The address vhosts listen on (`listen ADDRESS:PORT`); default every "
        "address (`listen PORT`). Needed where other server blocks listen on a specific address, "
        "which nginx prefers over a wildcard listen.",
    )
    fastcgi: FastcgiAddress = "unix:/run/php/php8.2-fpm.sock"
    group: PosixName = "www-data"


class DbService(_Model):
    type: Literal["mariadb", "mysql", "sqlite"] = "mariadb"
    host: NetHost = Field(
        default="127.0.0.1", description="The address sites use to reach the database."
    )
    port: Port = 3306
    admin_defaults_file: AbsPath = Field(
        default="~/.my.cnf",
        description="A client options file on this server holding the admin account.",
    )


class ServerServices(_Model):
    http: HttpService | None = None
    db: DbService | None = None


class ServerSpec(_Model):
    transport: Literal["ssh", "local"] = "ssh"
    host: NetHost | None = None
    port: Port = 22
    user: PosixName = "aegir"
    address: NetHost | None = Field(
        default=None, description="The address other servers see this one at; default `host`."
    )
    host_keys: tuple[HostKey, ...] = ()
    paths: ServerPaths = ServerPaths()
    services: ServerServices = ServerServices()
    concurrency: StrictInt = Field(default=2, ge=1, le=64)

    @model_validator(mode="before")
    @classmethod
    def _fill_commands(cls, data: Any) -> Any:
        """The default test and reload commands depend on the SSH user (no sudo for root)."""
        if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
            return data
        services: dict[str, Any] = data["services"]
        http = services.get("http")
        if not isinstance(http, dict) or http.get("type", "nginx") not in ("nginx", "apache"):
            return data
        binary = "nginx" if http.get("type", "nginx") == "nginx" else "apachectl"
        sudo = "" if data.get("user") == "root" else "sudo -n "
        test = f"{sudo}{binary} -t" if binary == "nginx" else f"{sudo}apachectl configtest"
        reload = f"{sudo}{binary} -s reload" if binary == "nginx" else f"{sudo}apachectl graceful"
        filled = dict(http)
        filled.setdefault("testCommand", test)
        filled.setdefault("reloadCommand", reload)
        return {**data, "services": {**services, "http": filled}}

    @model_validator(mode="after")
    def _ssh_needs_host(self) -> ServerSpec:
        if self.transport == "ssh" and self.host is None:
            raise PydanticCustomError(
                "ssh_host",
                "an ssh server needs `host`",
                {"hint": "add `host: <name or address>`, or set `transport: local` for this host"},
            )
        return self

    @property
    def effective_address(self) -> str:
        return self.address or self.host or "127.0.0.1"


# ---------------------------------------------------------------- Platform


class GitSource(_Model):
    url: GitUrl
    ref: GitRef


class Source(_Model):
    git: GitSource | None = None
    existing: StrictBool | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Source:
        if (self.git is None) == (self.existing is not True):
            raise PydanticCustomError(
                "source_kind",
                "a source is either `git` or `existing: true`",
                {
                    "hint": "write `source: {git: {url: ..., ref: ...}}` "
                    "or `source: {existing: true}`"
                },
            )
        return self


class PlatformSpec(_Model):
    server: DnsLabel
    path: AbsPath | None = Field(
        default=None, description="The codebase root; default `<paths.platforms>/<name>`."
    )
    docroot: RelPath = "web"
    source: Source
    build: tuple[StrictStr, ...] = ()
    drush: RelPath = "vendor/bin/drush"
    state: Literal["present", "absent"] = "present"
    locked: StrictBool = False


# ---------------------------------------------------------------- Site


class SiteDb(_Model):
    server: DnsLabel | None = None
    name: DbIdentifier | None = None
    user: DbUser | None = None


class InstallOptions(_Model):
    site_name: SafeText | None = None
    admin_email: SafeText | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    locale: StrictStr = Field(default="en", pattern=r"^[a-z]{2,3}(?:-[a-z0-9]{2,8})?$")


class BackupKeep(_Model):
    daily: StrictInt = Field(default=7, ge=0, le=3650)
    weekly: StrictInt = Field(default=4, ge=0, le=520)
    monthly: StrictInt = Field(default=6, ge=0, le=240)


class BackupPolicy(_Model):
    schedule: CronSchedule
    keep: BackupKeep = BackupKeep()


class CronPolicy(_Model):
    interval: Duration = "1h"


class SiteSpec(_Model):
    platform: DnsLabel
    db: SiteDb = SiteDb()
    profile: StrictStr = Field(default="standard", pattern=r"^[a-z][a-z0-9_]{0,63}$")
    aliases: tuple[SiteName, ...] = ()
    redirect_aliases: StrictBool = False
    state: Literal["present", "disabled", "absent"] = "present"
    clone_from: SiteName | None = None
    install: InstallOptions = InstallOptions()
    backups: BackupPolicy | None = None
    cron: CronPolicy = CronPolicy()


# ---------------------------------------------------------------- envelope


class Metadata(_Model):
    name: StrictStr
    labels: dict[StrictStr, StrictStr] = {}
    annotations: dict[StrictStr, StrictStr] = {}


class SiteMetadata(Metadata):
    name: SiteName


class LabelMetadata(Metadata):
    name: DnsLabel


class Server(_Model):
    api_version: Literal["reconciler/v1"]
    kind: Literal["Server"]
    metadata: LabelMetadata
    spec: ServerSpec

    @property
    def name(self) -> str:
        return self.metadata.name


class Platform(_Model):
    api_version: Literal["reconciler/v1"]
    kind: Literal["Platform"]
    metadata: LabelMetadata
    spec: PlatformSpec

    @property
    def name(self) -> str:
        return self.metadata.name


class Site(_Model):
    api_version: Literal["reconciler/v1"]
    kind: Literal["Site"]
    metadata: SiteMetadata
    spec: SiteSpec

    @property
    def name(self) -> str:
        return self.metadata.name


Document = Server | Platform | Site

KINDS: dict[str, type[Server] | type[Platform] | type[Site]] = {
    "Server": Server,
    "Platform": Platform,
    "Site": Site,
}
