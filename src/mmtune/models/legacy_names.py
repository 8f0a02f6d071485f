"""Module names as checkpoints written for transformers 4 spelled them.

transformers 5 renamed many multimodal models' modules (``language_model.model.layers`` became
``model.language_model.layers`` for Voxtral, LLaVA, Qwen2-VL, ...) and renames old checkpoints'
weights while loading them. Configs written for the old names (Axolotl's own Voxtral example
among them) carry ``lora_target_modules`` regexes that match nothing in the renamed model. The
renaming rules are transformers' own (``conversion_mapping``), applied to the regex as they are
applied to an old checkpoint's weight names, so such a regex is honoured with a warning.
"""

from __future__ import annotations

import logging
import re
from typing import Any

log = logging.getLogger("mmtune")


def current_spelling(model: Any, regex: str) -> str | None:
    """``regex`` (a ``lora_target_modules`` regex) rewritten with transformers' renaming rules for
    ``model``, when the rewrite matches modules the original does not; else None. The rules are
    prefix renamings (``^language_model`` -> ``model.language_model``), so they apply to the regex's
    text the way they apply to an old checkpoint's weight names."""
    names = [n for n, _ in model.named_modules() if n]
    if any(re.fullmatch(regex, n) for n in names):
        return None
    try:
        from transformers.conversion_mapping import get_model_conversion_mapping
        from transformers.core_model_loading import WeightRenaming, apply_renamings

        renamings = [t for t in get_model_conversion_mapping(model) if isinstance(t, WeightRenaming)]
        new = apply_renamings(regex, renamings)
    except Exception as e:  # private API of transformers: without it, no translation
        log.debug("no legacy module names (%s: %s)", type(e).__name__, e)
        return None
    try:
        return new if new != regex and any(re.fullmatch(new, n) for n in names) else None
    except re.error:
        return None
