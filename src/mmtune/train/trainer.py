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
from transformers.trainer_pt_utils import LengthGroupedSampler

from mmtune.errors import MmtuneError
from mmtune.train.optimizer import GroupRates, build_optimizer, group_rates
from mmtune.train.schedulers import build_scheduler


class MultimodalTrainer(Trainer):
    """Trainer that lets the family fix inputs (e.g. cast pixels to the model dtype)."""

    def __init__(
        self,
        *args: Any,
        family: Any,
        rates: GroupRates | None = None,
        schedule: tuple[str, float | None] | None = None,
        **kwargs: Any,
    ):
        self.family = family
        self.rates = rates  # per-group learning rates / LoRA+ (train/optimizer.py); None: the Trainer's own
        # Axolotl's one_cycle / rex (train/schedulers.py) with cosine_min_lr_ratio; None: transformers' schedule
        self.schedule = schedule
        super().__init__(*args, **kwargs)

    def create_optimizer(self, model: Any = None) -> Any:
        if self.optimizer is None and self.rates is not None:
            self.optimizer = build_optimizer(self, self.model if model is None else model, self.family, self.rates)
        return super().create_optimizer(model)

    def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
        if self.lr_scheduler is None and self.schedule is not None:
            name, min_ratio = self.schedule
            self.lr_scheduler = build_scheduler(
                name,
                self.optimizer if optimizer is None else optimizer,
                num_training_steps,
                self.args.get_warmup_steps(num_training_steps),
                min_ratio,
                dict(self.args.lr_scheduler_kwargs or {}),
            )
            self._created_lr_scheduler = True
        return super().create_scheduler(num_training_steps, optimizer)

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if self.rates is not None and self.optimizer is not None and "learning_rate" in logs:
            logs.update(group_rates(self.optimizer))  # the Trainer logs the first group's rate only
        super().log(logs, *args, **kwargs)

    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        """``group_by_length``: transformers' length-grouped sampler fed the cached ``length`` column as one
        list (it would otherwise index the Arrow column row by row: minutes for a large dataset)."""
        ds = self.train_dataset if train_dataset is None else train_dataset
        if self.args.train_sampling_strategy != "group_by_length" or "length" not in getattr(ds, "column_names", ()):
            return super()._get_train_sampler(train_dataset)
        lengths = ds.select_columns(["length"]).with_format("arrow")[:]["length"].to_pylist()
        return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps, lengths=lengths)

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
