"""Builders of manifest documents for the unit tests: a valid baseline, changed per case."""

from __future__ import annotations

import copy
from typing import Any

from ruamel.yaml import YAML

from reconciler.manifests.loader import LoadResult, check_files
from reconciler.manifests.source import ManifestFile

Doc = dict[str, Any]


def server(name: str = "web1", **spec: Any) -> Doc:
    base: Doc = {
        "host": f"{name}.example.net",
        "services": {"http": {"type": "nginx"}, "db": {"type": "mariadb"}},
    }
    base.update(spec)
    return {
        "apiVersion": "reconciler/v1",
        "kind": "Server",
        "metadata": {"name": name},
        "spec": base,
    }


def platform(name: str = "p1", server: str = "web1", **spec: Any) -> Doc:
    base: Doc = {
        "server": server,
        "source": {"git": {"url": "https://git.example.net/p.git", "ref": "10.3.6"}},
    }
    base.update(spec)
    return {
        "apiVersion": "reconciler/v1",
        "kind": "Platform",
        "metadata": {"name": name},
        "spec": base,
    }


def site(name: str = "www.example.com", platform: str = "p1", **spec: Any) -> Doc:
    base: Doc = {"platform": platform}
    base.update(spec)
    return {"apiVersion": "reconciler/v1", "kind": "Site", "metadata": {"name": name}, "spec": base}


def baseline() -> list[Doc]:
    return [server(), platform(), site()]


def dump(docs: list[Doc]) -> bytes:
    import io

    out = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.dump_all(copy.deepcopy(docs), out)
    return out.getvalue().encode()


def check(docs: list[Doc], path: str = "m.yaml") -> LoadResult:
    return check_files("0" * 40, [ManifestFile(path, dump(docs))])


def messages(result: LoadResult) -> list[str]:
    return [p.message for p in result.errors]
