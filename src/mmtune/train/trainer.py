"""The Trainer subclass: a family's last-moment input fixes, and checkpoints that really resume.

transformers 5 saves a full model under the checkpoint's original key names (``model.layers.*``)
while the model in memory uses its own (``model.language_model.layers.*``); the Trainer's resume
loads the file with ``strict=False``, so nothing matched and training silently restarted from the
base weights. A full-model checkpoint is therefore loaded the way ``from_pretrained`` loads it (key
conversion included) and copied in strictly: a missing or unexpected key is an error.
"""

from __future__ import annotations

import os
from typing import Any

from transformers import Trainer

from mmtune.errors import MmtuneError


class MultimodalTrainer(Trainer):
    """Trainer that lets the family fix inputs (e.g. cast pixels to the model dtype)."""

    def __init__(self, *args: Any, family: Any, **kwargs: Any):
        self.family = family
        super().__init__(*args, **kwargs)

    def _prepare_inputs(self, inputs):
        inputs = super()._prepare_inputs(inputs)
        return self.family.prepare_inputs(inputs, self.model.dtype)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        model = model if model is not None else self.model
        full = any(
            os.path.isfile(os.path.join(resume_from_checkpoint, n))
            for n in ("model.safetensors", "model.safetensors.index.json")
        )
        if not full or hasattr(model, "peft_config") or self.is_fsdp_enabled or self.is_deepspeed_enabled:
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        saved, info = type(model).from_pretrained(resume_from_checkpoint, dtype=model.dtype, output_loading_info=True)
        problems = {k: v for k, v in info.items() if k in ("missing_keys", "unexpected_keys", "mismatched_keys") and v}
        result = model.load_state_dict(saved.state_dict(), strict=False)
        if result.missing_keys or result.unexpected_keys:
            problems.update(missing_keys=result.missing_keys, unexpected_keys=result.unexpected_keys)
        if problems:
            listed = "; ".join(f"{len(v)} {k.replace('_', ' ')} (e.g. {sorted(v)[:3]})" for k, v in problems.items())
            raise MmtuneError(f"checkpoint {resume_from_checkpoint} does not fit the model: {listed}")
        del saved
