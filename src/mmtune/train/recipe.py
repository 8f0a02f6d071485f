"""The training recipe: compose config -> preprocess -> model -> transformers Trainer -> output_dir.

Thin on purpose: every step is a component that can be used on its own.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer, TrainerCallback, TrainingArguments

from mmtune.config import Config
from mmtune.models.families import get_family
from mmtune.models.loading import (
    apply_training_mode,
    count_params,
    load_model,
    model_dtype,
    quantization_config,
)
from mmtune.preprocess.pipeline import prepare, settings_from_config
from mmtune.runcard import RunCard
from mmtune.train.collator import Collator

log = logging.getLogger("mmtune")


@dataclass
class TrainResult:
    output_dir: Path
    metrics: dict
    losses: list[float] = field(default_factory=list)
    # The trained model and processor, still in memory (tests compare them with the reloaded output).
    model: Any = None
    processor: Any = None


class _LossLog(TrainerCallback):
    def __init__(self) -> None:
        self.losses: list[float] = []
        self.eval_losses: list[float] = []

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))
        if logs and "eval_loss" in logs:
            self.eval_losses.append(float(logs["eval_loss"]))


class MultimodalTrainer(Trainer):
    """Trainer that lets the family fix inputs (e.g. cast pixels to the model dtype)."""

    def __init__(self, *args: Any, family: Any, **kwargs: Any):
        self.family = family
        super().__init__(*args, **kwargs)

    def _prepare_inputs(self, inputs):  # noqa: ANN001
        inputs = super()._prepare_inputs(inputs)
        return self.family.prepare_inputs(inputs, self.model.dtype)


def _split(ds: Any, val_set_size: float, seed: int) -> tuple[Any, Any]:
    if not val_set_size or len(ds) < 2:
        return ds, None
    size = val_set_size if val_set_size < 1 else int(val_set_size)
    parts = ds.train_test_split(test_size=size, seed=seed)
    return parts["train"], parts["test"]


def training_args(cfg: Config, has_eval: bool) -> TrainingArguments:
    return TrainingArguments(
        output_dir=cfg.output_dir,
        per_device_train_batch_size=cfg.micro_batch_size,
        per_device_eval_batch_size=cfg.micro_batch_size,
        gradient_accumulation_steps=cfg.gradient_accumulation_steps,
        num_train_epochs=cfg.num_epochs,
        max_steps=cfg.max_steps or -1,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio if cfg.warmup_ratio else cfg.warmup_steps,
        optim=cfg.optimizer,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        logging_steps=cfg.logging_steps,
        logging_first_step=True,
        save_strategy="steps" if cfg.save_steps else "no",
        save_steps=cfg.save_steps or 500,
        eval_strategy="steps" if (has_eval and cfg.eval_steps) else ("epoch" if has_eval else "no"),
        eval_steps=cfg.eval_steps,
        seed=cfg.seed,
        bf16=model_dtype(cfg.bf16) == torch.bfloat16 and torch.cuda.is_available(),
        report_to=["tensorboard"],
        remove_unused_columns=False,
        dataloader_num_workers=0,
        use_cpu=not torch.cuda.is_available(),
    )


def train(cfg: Config, processor: Any = None) -> TrainResult:
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    if cfg.sample_packing:
        log.warning("sample_packing is not supported yet for multimodal rows; training without packing")
    quant = quantization_config(cfg)  # fails early (before preprocessing) where it cannot work
    settings, processor = settings_from_config(cfg, processor)
    family = get_family(settings.family)
    prep = prepare(cfg, settings, processor=processor)
    st = prep.stats()
    log.info(
        "data: %d rows read, %d kept, %d dropped; %d tokens, %d supervised",
        st["rows_read"], st["rows_kept"], st["rows_dropped"], st["tokens"], st["supervised_tokens"],
    )
    if st["rows_kept"] == 0:
        from mmtune.errors import MmtuneError

        raise MmtuneError("no rows left to train on after preprocessing")
    train_ds, eval_ds = _split(prep.dataset, cfg.val_set_size, cfg.seed)

    model = load_model(cfg.base_model, family, model_dtype(cfg.bf16), quant)
    model = apply_training_mode(model, cfg, family)
    if cfg.gradient_checkpointing:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    tok = getattr(processor, "tokenizer", processor)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    losses = _LossLog()
    trainer = MultimodalTrainer(
        model=model,
        args=training_args(cfg, eval_ds is not None),
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=Collator(family, pad_id),
        callbacks=[losses],
        family=family,
    )
    start = time.perf_counter()
    out = trainer.train(resume_from_checkpoint=cfg.resume_from_checkpoint)
    elapsed = time.perf_counter() - start
    out_dir = Path(cfg.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir)
    processor.save_pretrained(out_dir)
    RunCard.from_config(cfg, settings).save(out_dir)
    trainable, total = count_params(model)
    metrics = {
        "train_loss": out.training_loss,
        "first_loss": losses.losses[0] if losses.losses else math.nan,
        "last_loss": losses.losses[-1] if losses.losses else math.nan,
        "steps": out.global_step,
        "train_seconds": round(elapsed, 2),
        "trainable_params": trainable,
        "total_params": total,
        **{f"data_{k}": v for k, v in st.items()},
    }
    if eval_ds is not None:
        metrics["eval_loss"] = trainer.evaluate()["eval_loss"]
    (out_dir / "train_metrics.json").write_text(json.dumps({**metrics, "losses": losses.losses}, indent=2))
    return TrainResult(out_dir, metrics, losses.losses, model, processor)
