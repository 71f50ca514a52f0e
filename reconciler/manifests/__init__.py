"""Manifests: frozen models, loading from a git tree, checks across documents, JSON Schemas.

Import the modules themselves (`reconciler.manifests.models`, `.loader`, ...): this package
imports nothing, so that commands which need only the models do not pay for git.
"""
