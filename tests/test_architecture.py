"""The layering rule of docs/architecture.md, checked on the source: data flows one way.

Every ``mmtune`` import (module level or inside a function) may only reach a module on the same
floor or a lower one, module-level imports form no cycle, and modules stay small enough to read.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mmtune"

# Lowest floor first. A module belongs to the longest prefix that names it.
FLOORS: list[tuple[str, ...]] = [
    (
        "mmtune",
        "mmtune.errors",
        "mmtune.conversation",
        "mmtune.config",
        "mmtune.preflight",
        "mmtune.examples",
    ),
    ("mmtune.data",),
    ("mmtune.transforms", "mmtune.export"),
    ("mmtune.models",),
    ("mmtune.tiny",),
    ("mmtune.preprocess",),
    ("mmtune.outputs",),
    ("mmtune.train",),
    ("mmtune.quickstart", "mmtune.views"),
    ("mmtune.cli", "mmtune.__main__"),
]
MAX_LINES = 400


def module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def floor_of(module: str) -> int:
    best, floor = -1, None
    for i, prefixes in enumerate(FLOORS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, floor = len(p), i
    assert floor is not None, f"{module} is on no floor of tests/test_architecture.py"
    return floor


def imports(path: Path) -> list[tuple[str, bool]]:
    """(imported mmtune module, at module level?) for every import in ``path``."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    out = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        out.extend((n, id(node) in top) for n in names if n == "mmtune" or n.startswith("mmtune."))
    return out


SOURCES = sorted(SRC.rglob("*.py"))


def test_no_import_reaches_a_higher_floor():
    bad = []
    for path in SOURCES:
        me = module_name(path)
        for target, _ in imports(path):
            if floor_of(target) > floor_of(me):
                bad.append(f"{me} imports {target}")
    assert not bad, "imports that run against the data flow:\n" + "\n".join(bad)


def test_no_import_cycle():
    graph = {module_name(p): {t for t, top in imports(p) if top} for p in SOURCES}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(t) :] + [t]))
            if t in graph and t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_modules_stay_small(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(SRC)} has {n} lines (keep modules under {MAX_LINES})"


def test_transforms_name_no_family():
    """Transforms read a family through the FamilySpec protocol; no family module or id appears there."""
    from mmtune.models.families import all_families

    ids = set(all_families())
    for path in (SRC / "transforms").rglob("*.py"):
        text = path.read_text()
        assert "mmtune.models" not in text, path
        named = {i for i in ids if f'"{i}"' in text or f"'{i}'" in text}
        assert not named, f"{path.name} names families {named}"


def test_no_model_type_branches_outside_family_modules():
    """Family quirks live in the family's module: no code elsewhere compares a family id or model type."""
    from mmtune.models.families import all_families

    ids = set(all_families())
    bad = []
    for path in SOURCES:
        rel = path.relative_to(SRC)
        if rel.parts[:2] == ("models", "families") or rel.parts[0] == "tiny":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                consts = [c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and isinstance(c.value, str)]
                hit = [c for c in consts if c in ids]
                if hit:
                    bad.append(f"{rel}:{node.lineno} compares with {hit}")
    assert not bad, "\n".join(bad)
