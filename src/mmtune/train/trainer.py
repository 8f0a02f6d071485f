"""The Trainer subclass: one hook so a family can fix inputs right before the forward pass."""

from __future__ import annotations

from typing import Any

from transformers import Trainer


class MultimodalTrainer(Trainer):
    """Trainer that lets the family fix inputs (e.g. cast pixels to the model dtype)."""

    def __init__(self, *args: Any, family: Any, **kwargs: Any):
        self.family = family
        super().__init__(*args, **kwargs)

    def _prepare_inputs(self, inputs):
        inputs = super()._prepare_inputs(inputs)
        return self.family.prepare_inputs(inputs, self.model.dtype)
