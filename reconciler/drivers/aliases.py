"""Drush site alias files (`<server>.site.yml`), rendered from the manifests alone.

One file per server, one environment per site on a platform of that server, named after the site
with dots as `_` (`drush @web1.www_example_com status`). A record holds `root` (the platform's
docroot), `uri`, and for a server reached over SSH `host`, `user` and, when the port is not 22,
`ssh.options: -p N`. A `~/` path is resolved with the home directory observe found on the server.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Mapping

from ruamel.yaml import YAML

from reconciler.actions.context import expand
from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.models import Platform

__all__ = [
    "AliasRecord",
    "alias_files",
    "env_name",
    "homes_needed",
    "render_aliases",
    "render_yaml",
]

AliasRecord = dict[str, object]


def env_name(site: str) -> str:
    """The environment name of a site: its name with dots as `_`."""
    return site.replace(".", "_")


def _docroot(manifests: ManifestSet, platform: Platform) -> str:
    return posixpath.join(manifests.platform_path(platform), platform.spec.docroot)


def _listed(manifests: ManifestSet) -> list[tuple[str, Platform, str]]:
    """(server, platform, site) for every site not declared absent, sorted by server and site."""
    rows: list[tuple[str, Platform, str]] = []
    for site in manifests.sites.values():
        if site.spec.state == "absent":
            continue
        platform = manifests.platform_of(site)
        if platform.spec.state == "absent":
            continue
        rows.append((platform.spec.server, platform, site.name))
    return sorted(rows, key=lambda row: (row[0], row[2]))


def homes_needed(manifests: ManifestSet) -> set[str]:
    """The servers whose docroots start with `~/`: their home must be observed first."""
    return {
        server
        for server, platform, _ in _listed(manifests)
        if _docroot(manifests, platform).startswith("~")
    }


def render_aliases(
    manifests: ManifestSet, homes: Mapping[str, str] | None = None
) -> dict[str, dict[str, AliasRecord]]:
    """{server: {environment: record}}; a `~/` docroot without a home in `homes` is a KeyError."""
    homes = homes or {}
    out: dict[str, dict[str, AliasRecord]] = {}
    for name, platform, site in _listed(manifests):
        server = manifests.servers[name]
        root = _docroot(manifests, platform)
        if root.startswith("~"):
            root = expand(root, homes[name])
        record: AliasRecord = {"root": posixpath.normpath(root), "uri": f"http://{site}"}
        if server.spec.transport == "ssh":
            if server.spec.host is not None:
                record["host"] = server.spec.host
            record["user"] = server.spec.user
            if server.spec.port != 22:
                record["ssh"] = {"options": f"-p {server.spec.port}"}
        out.setdefault(name, {})[env_name(site)] = record
    return out


def render_yaml(envs: Mapping[str, AliasRecord]) -> str:
    """One `<server>.site.yml` document: block style, keys in a stable order."""
    yaml = YAML()
    yaml.default_flow_style = False
    out = io.StringIO()
    yaml.dump({env: dict(record) for env, record in envs.items()}, out)
    return out.getvalue()


def alias_files(aliases: Mapping[str, Mapping[str, AliasRecord]]) -> dict[str, str]:
    """{file name: YAML text} for `render_aliases`' result."""
    return {f"{server}.site.yml": render_yaml(envs) for server, envs in aliases.items()}
