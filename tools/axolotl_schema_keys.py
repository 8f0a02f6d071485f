"""List the config keys of Axolotl's pydantic schema, read from its source (no import needed).

Usage: python tools/axolotl_schema_keys.py AXOLOTL_CHECKOUT COMMIT > tests/data/axolotl_schema_keys.json

Axolotl cannot be imported here (it needs CUDA-era dependencies), so the schema files are parsed
with ``ast``: the fields of ``AxolotlInputConfig`` and of its bases (a field spelt through
``alias=`` is listed under the alias, the name users write), and the fields of ``SFTDataset``.
The output is what tests/test_axolotl_keys.py checks mmtune's key lists against.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path


def _classes(root: Path) -> dict[str, ast.ClassDef]:
    out: dict[str, ast.ClassDef] = {}
    for f in sorted((root / "src/axolotl/utils/schemas").rglob("*.py")):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ClassDef):
                out.setdefault(node.name, node)
    return out


def _fields(cls: ast.ClassDef) -> set[str]:
    names = set()
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            name = stmt.target.id
            if name.startswith("_") or name == "model_config":
                continue
            if isinstance(stmt.value, ast.Call):
                for kw in stmt.value.keywords:
                    if kw.arg == "alias" and isinstance(kw.value, ast.Constant):
                        name = kw.value.value
            names.add(name)
    return names


def keys_of(name: str, classes: dict[str, ast.ClassDef]) -> set[str]:
    cls = classes[name]
    keys = _fields(cls)
    for base in cls.bases:
        if isinstance(base, ast.Name) and base.id in classes:
            keys |= keys_of(base.id, classes)
    return keys


def main() -> None:
    root, commit = Path(sys.argv[1]), sys.argv[2]
    classes = _classes(root)
    out = {
        "source": f"https://github.com/axolotl-ai-cloud/axolotl/tree/{commit}/src/axolotl/utils/schemas",
        "config": sorted(keys_of("AxolotlInputConfig", classes)),
        "dataset": sorted(keys_of("SFTDataset", classes)),
    }
    json.dump(out, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
