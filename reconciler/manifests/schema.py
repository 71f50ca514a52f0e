"""JSON Schemas of the manifests, one per kind, generated from the models.

Editors validate manifests as users type through a first line such as
`# yaml-language-server: $schema=schemas/site.schema.json`.
"""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.manifests.models import KINDS

__all__ = ["render_schemas", "write_schemas"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def render_schemas() -> dict[str, str]:
    """File name to JSON text, for every kind."""
    out: dict[str, str] = {}
    for kind, model in KINDS.items():
        schema = model.model_json_schema(by_alias=True, mode="validation")
        schema = {
            "$schema": _DIALECT,
            "$id": f"{kind.lower()}.schema.json",
            "title": f"reconciler/v1 {kind}",
            **{k: v for k, v in schema.items() if k != "title"},
        }
        out[f"{kind.lower()}.schema.json"] = json.dumps(schema, indent=2, sort_keys=False) + "\n"
    return out


def write_schemas(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in render_schemas().items():
        target = directory / name
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written
