"""Example configs shipped inside the package; ``mmtune fetch examples DIR`` copies them out."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from mmtune.errors import MmtuneError


def copy_examples(dest: Path) -> Path:
    """Copy every packaged example config into ``dest`` (never overwriting a file); returns ``dest``."""
    root = resources.files(__name__)
    copied = 0
    dest = Path(dest)

    def walk(node, rel: Path) -> None:
        nonlocal copied
        for child in node.iterdir():
            if child.is_dir() and child.name != "__pycache__":
                walk(child, rel / child.name)
            elif child.name.endswith((".yaml", ".yml", ".md")):
                target = dest / rel / child.name
                if target.exists():
                    raise MmtuneError(f"{target} already exists; not overwriting it (choose another DIR)")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(child.read_text())
                copied += 1

    walk(root, Path())
    if not copied:
        raise MmtuneError("no example configs found in the installed package")
    return dest
