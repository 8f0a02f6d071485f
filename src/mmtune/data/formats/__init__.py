"""Format registry: every input format is one module here (DESIGN.md, principle 1)."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from typing import Any

from mmtune.data.formats.base import Format, RowContext
from mmtune.errors import ConfigError

log = logging.getLogger("mmtune")
_REGISTRY: dict[str, type[Format]] = {}
_LOADED = False

__all__ = ["Format", "RowContext", "register", "all_formats", "format_by_type", "detect_format"]


def register(cls: type[Format]) -> type[Format]:
    _REGISTRY[cls.name] = cls
    return cls


def all_formats() -> dict[str, type[Format]]:
    """Every format module of this package, imported once (helper modules register nothing)."""
    global _LOADED
    if not _LOADED:  # not ``if not _REGISTRY``: importing one format module directly fills it
        for mod in pkgutil.iter_modules(__path__):
            if mod.name != "base":
                importlib.import_module(f"{__name__}.{mod.name}")
        _LOADED = True
    return dict(_REGISTRY)


def format_by_type(type_name: str) -> type[Format]:
    for fmt in all_formats().values():
        if type_name == fmt.name or type_name in fmt.aliases:
            return fmt
    names = sorted({n for f in all_formats().values() for n in (f.name, *f.aliases)})
    raise ConfigError(f"unknown dataset type {type_name!r}; known: {', '.join(names)}")


def detect_format(rows: list[dict[str, Any]], dataset: str) -> type[Format]:
    """Pick the format that fits most of the first rows; if several fit, say which was taken.

    Most, not all: one malformed row among the first few should become that row's error (with
    its row number), not make the whole dataset unreadable.
    """
    if not rows:
        raise ConfigError(f"{dataset}: dataset is empty")
    scores = {f: sum(1 for r in rows if f.detect(r)) for f in all_formats().values()}
    best = max(scores.values(), default=0)
    if best == 0:
        cols = ", ".join(sorted(rows[0]))
        raise ConfigError(f"{dataset}: cannot tell the data format from columns ({cols}); set `type:` for this dataset")
    fits = sorted((f for f, n in scores.items() if n == best), key=lambda f: -f.priority)
    if len(fits) > 1:
        log.info(
            "%s: rows fit formats %s; using %r (set `type:` to choose)", dataset, [f.name for f in fits], fits[0].name
        )
    if best < len(rows):
        log.warning("%s: only %d of the first %d rows look like %r", dataset, best, len(rows), fits[0].name)
    return fits[0]
