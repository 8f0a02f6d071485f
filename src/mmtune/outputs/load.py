"""Load what a training run left in its output folder: the model (base + adapter, or full
weights), its processor, its family and the exact preprocessing settings from the run card.

``predict`` uses it today; ``evaluate``, ``merge`` and ``chat`` are meant to start from it too, so
every command that reads an output folder reproduces training-time preprocessing the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mmtune.models.families import get_family
from mmtune.models.families.base import Family
from mmtune.models.loading import load_model
from mmtune.outputs.runcard import RunCard
from mmtune.preprocess.settings import PrepSettings


@dataclass
class Trained:
    """A trained output, loaded: ``card`` is None for a model assembled in memory."""

    model: Any
    processor: Any
    family: type[Family]
    settings: PrepSettings
    card: RunCard | None = None


def load_trained(output_dir: str | Path, model: Any = None, processor: Any = None) -> Trained:
    """The model and processor of an mmtune output folder (``model`` / ``processor`` given:
    reuse those in-memory objects, e.g. right after training)."""
    out = Path(output_dir)
    card = RunCard.load(out)
    family = get_family(card.family)
    if processor is None:
        processor = family.load_processor(str(out))
    if model is None:
        if card.adapter:
            from peft import PeftModel

            model = PeftModel.from_pretrained(load_model(card.base_model, family), str(out))
        else:
            model = load_model(str(out), family)
    return Trained(model, processor, family, card.preprocessing, card)
