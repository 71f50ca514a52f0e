"""Manifests: frozen models, loading from a git tree, checks across documents, JSON Schemas."""

from reconciler.manifests.loader import LoadResult, check_files, load_manifests
from reconciler.manifests.manifestset import ManifestSet
from reconciler.manifests.models import Platform, Server, Site
from reconciler.manifests.names import database_name
from reconciler.manifests.source import SourceSpec
from reconciler.manifests.yamldoc import Problem

__all__ = [
    "LoadResult",
    "ManifestSet",
    "Platform",
    "Problem",
    "Server",
    "Site",
    "SourceSpec",
    "check_files",
    "database_name",
    "load_manifests",
]
