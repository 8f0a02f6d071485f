"""Config -> transformers ``TrainingArguments``: the one place Axolotl's training keys meet the Trainer's."""

from __future__ import annotations

import logging

import torch
from transformers import TrainingArguments

from mmtune.config import Config
from mmtune.models.loading import model_dtype

log = logging.getLogger("mmtune")


def precision_notes(cfg: Config, cuda: bool) -> list[str]:
    """What the precision keys do on this machine, said once at the start of a run."""
    notes = []
    if cfg.fp16 and cfg.bf16 is True:
        notes.append("fp16 and bf16 are both set: bf16 wins (float16 mixed precision is off)")
    elif cfg.fp16 and not cuda:
        notes.append("fp16 needs a CUDA GPU; training in float32 on this CPU")
    if cfg.bf16 is True and not cuda:
        notes.append("bf16 on CPU: the model's weights are bfloat16 and train in bfloat16 (no mixed precision)")
    return notes


def training_args(cfg: Config, has_eval: bool) -> TrainingArguments:
    for note in precision_notes(cfg, torch.cuda.is_available()):
        log.warning(note)
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
        fp16=bool(cfg.fp16) and cfg.bf16 is not True and torch.cuda.is_available(),
        report_to=["tensorboard"],
        remove_unused_columns=False,
        dataloader_num_workers=0,
        disable_tqdm=False,  # the bar is mmtune's TrainingBar (train/callbacks.py)
        use_cpu=not torch.cuda.is_available(),
    )
