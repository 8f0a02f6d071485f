"""Tiny random-weight checkpoints of every model family (``mmtune tiny FAMILY DIR``).

A tiny checkpoint is the real transformers architecture at toy sizes, with a tokenizer trained
locally that has the family's special tokens (or a shrunk tekken file for mistral-common
families) and processor settings that keep media down to a few tokens. Tests, the quickstart and
the benchmarks run on them; no hub is needed.

Each family has one recipe in ``mmtune/tiny/<family>.py``: a function
``(out_dir, seed, sizes) -> None`` registered with ``@recipe("<family id>")``. Recipe modules are
imported lazily, the first time ``recipes()`` or ``make_tiny`` is called. Shared helpers live in
``save.py`` (``save_tiny``), ``tokenizer.py`` (locally trained tokenizers) and ``tekken.py`` (tekken
files and tables shared by the Mistral recipes). ``mmtune.tiny`` imports ``mmtune.models``, never the
reverse: a family module keeps only what its runtime code needs.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmtune.errors import MmtuneError


@dataclass(frozen=True)
class TinySizes:
    """Sizes of a tiny checkpoint; a recipe uses the ones that apply to its family.

    ``hidden`` / ``layers``: the language model; ``vision_*``: the vision tower; ``audio_*``: the
    audio encoder. Other sizes (image side, tokens per image, ...) are constants of each recipe.
    """

    hidden: int = 64
    layers: int = 2
    vision_dim: int = 32
    vision_layers: int = 2
    audio_dim: int = 32
    audio_layers: int = 2


Recipe = Callable[[Path, int, TinySizes], None]


def text_heads(sizes: TinySizes) -> int:
    """Attention heads of a tiny language model: one per 16 hidden units, at least 2."""
    return max(2, sizes.hidden // 16)


def _with_extra(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    clash = sorted(base.keys() & extra.keys())
    if clash:
        raise TypeError(f"extra keys {clash} would override the shared shape; write that config out in full")
    return {**base, **extra}


def text_config(tok: Any, sizes: TinySizes, **extra: Any) -> dict[str, Any]:
    """The language-model sub-config most recipes share, plus the family's own ``extra`` keys.

    Most tiny LMs have the same shape (vocabulary of ``tok``, ``hidden`` wide with a 2x MLP,
    ``layers`` deep, ``text_heads`` heads and half as many KV heads), so it is written once here and
    a change of the tiny sizes reaches every family. ``extra`` may add keys but not override these:
    a family whose LM differs in one of them writes its config out in full.
    """
    heads = text_heads(sizes)
    base = {
        "vocab_size": len(tok),
        "hidden_size": sizes.hidden,
        "intermediate_size": sizes.hidden * 2,
        "num_hidden_layers": sizes.layers,
        "num_attention_heads": heads,
        "num_key_value_heads": max(1, heads // 2),
    }
    return _with_extra(base, extra)


def vision_config(sizes: TinySizes, **extra: Any) -> dict[str, Any]:
    """The ViT-style vision sub-config most recipes share, plus the family's own ``extra`` keys.

    ``vision_dim`` wide with a 2x MLP, ``vision_layers`` deep, 2 heads; written once so the
    families that use these transformers key names stay in step. As with ``text_config``,
    ``extra`` may add keys but not override these.
    """
    base = {
        "hidden_size": sizes.vision_dim,
        "intermediate_size": sizes.vision_dim * 2,
        "num_hidden_layers": sizes.vision_layers,
        "num_attention_heads": 2,
    }
    return _with_extra(base, extra)


_RECIPES: dict[str, Recipe] = {}
# Modules of this package that hold helpers, not recipes.
_HELPERS = frozenset({"save", "tokenizer", "tekken"})


def recipe(family_id: str) -> Callable[[Recipe], Recipe]:
    """Register the decorated function as the tiny-checkpoint recipe of ``family_id``."""

    def register(fn: Recipe) -> Recipe:
        if family_id in _RECIPES and _RECIPES[family_id] is not fn:
            raise RuntimeError(f"two tiny recipes for family {family_id!r}")
        _RECIPES[family_id] = fn
        return fn

    return register


def _load_all() -> None:
    for mod in pkgutil.iter_modules(__path__):
        if mod.name not in _HELPERS:
            importlib.import_module(f"{__name__}.{mod.name}")


def recipes() -> dict[str, Recipe]:
    """Family id -> recipe function, for every family that has one."""
    _load_all()
    return dict(sorted(_RECIPES.items()))


def make_tiny(family_id: str, out_dir: Path, seed: int = 0, sizes: TinySizes | None = None) -> Path:
    """Write a tiny random-weight checkpoint of ``family_id`` to ``out_dir`` and return that path.

    ``seed`` fixes the weights (the tokenizer and processor do not depend on it); ``sizes`` defaults
    to ``TinySizes()``. The saved ``config.json`` records ``mmtune_family``.
    """
    from mmtune.models.families import all_families

    known = recipes()
    if family_id not in known:
        if family_id in all_families():
            raise MmtuneError(
                f"no tiny checkpoint recipe for family {family_id!r} yet "
                f"(add one in src/mmtune/tiny/{family_id}.py); families with one: {', '.join(known)}"
            )
        raise MmtuneError(f"unknown model family {family_id!r}; families with a tiny recipe: {', '.join(known)}")
    out_dir = Path(out_dir)
    known[family_id](out_dir, seed, sizes if sizes is not None else TinySizes())
    return out_dir


__all__ = ["Recipe", "TinySizes", "make_tiny", "recipe", "recipes", "text_config", "text_heads", "vision_config"]
