"""JSON Schemas of the files trainers write, generated from the pydantic models.

Each scenario file starts with `# yaml-language-server: $schema=../schemas/scenario.schema.json`
(rubric files and compliance packs point at theirs),
so editors with the YAML language server (VS Code's YAML extension, Neovim,
JetBrains…) autocomplete keys, show each field's description and flag errors
while the trainer types. `python -m simulator schema` rewrites the files;
a test checks the committed ones are up to date.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from pydantic import BaseModel

from .settings import PROJECT_ROOT

SCHEMA_DIR = PROJECT_ROOT / "schemas"

# name -> "module:Model". Adding a file kind is one line here.
REGISTRY: dict[str, str] = {
    "scenario": "simulator.scenario:Scenario",
    "rubric": "simulator.rubric.models:Rubric",
    "compliance-pack": "simulator.rubric.models:Pack",
}


def model_for(name: str) -> type[BaseModel]:
    try:
        target = REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown schema {name!r}: choose among {', '.join(REGISTRY)}") from None
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def schema_for(name: str) -> dict:
    schema = model_for(name).model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{name}.schema.json",
        **schema,
    }


def render(name: str) -> str:
    return json.dumps(schema_for(name), indent=2, ensure_ascii=False) + "\n"


def path_for(name: str, out_dir: Path = SCHEMA_DIR) -> Path:
    return out_dir / f"{name}.schema.json"


def write_schemas(out_dir: Path = SCHEMA_DIR, names: list[str] | None = None) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or list(REGISTRY):
        path = path_for(name, out_dir)
        path.write_text(render(name), encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(out_dir: Path = SCHEMA_DIR, names: list[str] | None = None) -> list[Path]:
    """Schema files that are missing or differ from what the models generate now."""
    stale = []
    for name in names or list(REGISTRY):
        path = path_for(name, out_dir)
        if not path.exists() or path.read_text(encoding="utf-8") != render(name):
            stale.append(path)
    return stale
