"""``Config``: the whole YAML schema, one field per key, documented in place (DESIGN.md, principle 5).

Keys follow Axolotl's config so its users can bring their files; the sections (model, data,
training) live in their own modules, and ``axolotl.py`` sorts the Axolotl keys mmtune does not
have as fields into "no effect" (a warning) and "refused" (an error saying what to do).
"""

from __future__ import annotations

from typing import Any

from pydantic import field_validator, model_validator

from mmtune.config.data_keys import DataKeys
from mmtune.config.model_keys import ModelKeys
from mmtune.config.train_keys import TrainKeys


class Config(TrainKeys, DataKeys, ModelKeys):  # pydantic orders fields from the last base
    """A training run. Field names are Axolotl's where Axolotl has the concept."""

    @field_validator("image_size", mode="before")
    @classmethod
    def _image_size(cls, v: Any) -> Any:
        if isinstance(v, list):
            if len(v) != 2 or not all(isinstance(x, int) and x > 0 for x in v):
                raise ValueError("must be an int or [width, height] of positive ints")
            return tuple(v)
        if isinstance(v, int) and v <= 0:
            raise ValueError("must be positive")
        return v

    @model_validator(mode="after")
    def _check(self) -> Config:
        if self.load_in_8bit and self.load_in_4bit:
            raise ValueError("load_in_8bit and load_in_4bit are exclusive")
        if self.adapter and any(
            v is not None for v in (self.freeze_vision_tower, self.freeze_projector, self.freeze_language_model)
        ):
            raise ValueError(
                "freeze_vision_tower / freeze_projector / freeze_language_model apply to full fine-tuning "
                "(adapter empty); with a LoRA adapter, list whole modules to train in lora_modules_to_save"
            )
        if self.adapter == "qlora" and not (self.load_in_4bit or self.load_in_8bit):
            self.load_in_4bit = True
        return self

    @property
    def image_wh(self) -> tuple[int, int] | None:
        if self.image_size is None:
            return None
        if isinstance(self.image_size, int):
            return (self.image_size, self.image_size)
        return tuple(self.image_size)
