"""Config -> transformers ``TrainingArguments``: the one place Axolotl's training keys meet the Trainer's."""

from __future__ import annotations

import logging
import math

import torch
from transformers import TrainingArguments

from mmtune.config import Config
from mmtune.errors import ConfigError
from mmtune.models.loading import model_dtype
from mmtune.train.distributed import distributed_args, world_size
from mmtune.train.loggers import apply_loggers, run_name

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


def total_steps(cfg: Config, train_rows: int, world: int = 1) -> int:
    """Optimizer steps of the run, counted as the Trainer counts them."""
    if cfg.max_steps:
        return cfg.max_steps
    per_epoch_steps = max(
        1, math.ceil(math.ceil(train_rows / (cfg.micro_batch_size * world)) / cfg.gradient_accumulation_steps)
    )
    return math.ceil(cfg.num_epochs * per_epoch_steps)


def warmup(cfg: Config, steps: int) -> int:
    """Axolotl's rule: warmup_steps if set, else warmup_ratio of the steps, else 3% of them, at most 100."""
    if cfg.warmup_steps is not None:
        return cfg.warmup_steps
    if cfg.warmup_ratio is not None:
        return int(cfg.warmup_ratio * steps)
    return min(int(0.03 * steps), 100)


def per_epoch(times: int | None, cfg: Config, what: str) -> tuple[str, float | None]:
    """``saves_per_epoch`` / ``evals_per_epoch`` as Axolotl reads them: a fraction of all steps
    when below one, once per epoch when exactly one, never when 0 or when the run is shorter."""
    if times is None:
        return "", None
    if times == 0:
        return "no", None
    every = 1.0 / (times * cfg.num_epochs)
    if every < 1.0:
        return "steps", every
    if every > 1.0:
        log.warning("%ss_per_epoch %d with num_epochs %g: no intermediate %s", what, times, cfg.num_epochs, what)
        return "no", None
    return "epoch", None


def _strategy(steps: float | None, times: int | None, cfg: Config, what: str, default: str) -> tuple[str, float | None]:
    if steps:
        return "steps", steps
    strategy, every = per_epoch(times, cfg, what)
    return (strategy or default), every


def scheduler(cfg: Config) -> tuple[str, dict]:
    """The transformers schedule and its arguments; ``one_cycle`` / ``rex`` are built by the trainer
    (train/schedulers.py) and ``cosine_min_lr_ratio`` turns cosine into cosine_with_min_lr."""
    kwargs = dict(cfg.lr_scheduler_kwargs or {})
    name = cfg.lr_scheduler
    if name == "cosine" and cfg.cosine_min_lr_ratio is not None:
        name = "cosine_with_min_lr"
        kwargs.setdefault("min_lr_rate", cfg.cosine_min_lr_ratio)
    if name in ("one_cycle", "rex"):
        name = "constant"  # replaced by MultimodalTrainer.create_scheduler
    return name, kwargs


def training_args(cfg: Config, has_eval: bool, train_rows: int = 0) -> TrainingArguments:
    """``train_rows``: rows of the training split, for the warmup rule that needs the step count."""
    cuda = torch.cuda.is_available()
    for note in precision_notes(cfg, cuda):
        log.warning(note)
    # Axolotl saves once per epoch unless told otherwise; evaluation runs each epoch when rows are held out.
    save_strategy, save_every = _strategy(cfg.save_steps, cfg.saves_per_epoch, cfg, "save", "epoch")
    eval_strategy, eval_every = _strategy(cfg.eval_steps, cfg.evals_per_epoch, cfg, "eval", "epoch")
    if cfg.load_best_model_at_end and not has_eval:
        raise ConfigError("load_best_model_at_end needs evaluation: set val_set_size (no rows are held out)")
    if cfg.early_stopping_patience and not has_eval:
        raise ConfigError("early_stopping_patience needs evaluation: set val_set_size (no rows are held out)")
    name, sched_kwargs = scheduler(cfg)
    optional = {
        k: v
        for k, v in {
            "adam_beta1": cfg.adam_beta1,
            "adam_beta2": cfg.adam_beta2,
            "adam_epsilon": cfg.adam_epsilon,
            "neftune_noise_alpha": cfg.neftune_noise_alpha,
            "ddp_find_unused_parameters": cfg.ddp_find_unused_parameters,
            # early stopping watches a metric: the evaluation loss unless one is named
            "metric_for_best_model": cfg.metric_for_best_model or ("loss" if cfg.early_stopping_patience else None),
            "greater_is_better": cfg.greater_is_better,
        }.items()
        if v is not None
    }
    if cfg.tf32 is not None and cuda:  # transformers refuses tf32 without an Ampere GPU
        optional["tf32"] = cfg.tf32
    try:
        return TrainingArguments(
            output_dir=cfg.output_dir,
            per_device_train_batch_size=cfg.micro_batch_size,
            per_device_eval_batch_size=cfg.eval_batch_size or cfg.micro_batch_size,
            gradient_accumulation_steps=cfg.gradient_accumulation_steps,
            num_train_epochs=cfg.num_epochs,
            max_steps=cfg.max_steps or -1,
            learning_rate=cfg.learning_rate,
            lr_scheduler_type=name,
            lr_scheduler_kwargs=sched_kwargs,
            warmup_steps=warmup(cfg, total_steps(cfg, train_rows, world_size()))
            if train_rows
            else (cfg.warmup_steps or 0.0),
            optim=cfg.optimizer,
            weight_decay=cfg.weight_decay,
            max_grad_norm=cfg.max_grad_norm,
            logging_steps=cfg.logging_steps,
            logging_first_step=True,
            save_strategy=save_strategy,
            save_steps=save_every or 500,
            save_only_model=cfg.save_only_model,
            save_total_limit=cfg.save_total_limit or 4,  # Axolotl's default
            eval_strategy=eval_strategy if has_eval else "no",
            eval_steps=eval_every,
            load_best_model_at_end=cfg.load_best_model_at_end,
            seed=cfg.seed,
            bf16=model_dtype(cfg.bf16) == torch.bfloat16 and cuda,
            fp16=bool(cfg.fp16) and cfg.bf16 is not True and cuda,
            report_to=apply_loggers(cfg) or "none",  # train/loggers.py
            run_name=run_name(cfg),
            remove_unused_columns=False,
            dataloader_num_workers=cfg.dataloader_num_workers,
            # rows of similar length share batches; lengths come from the cache's "length" column (preprocess/rows.py).
            # Packed sequences are already about sequence_len long: nothing to group.
            train_sampling_strategy="group_by_length" if cfg.group_by_length and not cfg.sample_packing else "random",
            length_column_name="length",
            disable_tqdm=False,  # the bar is mmtune's TrainingBar (train/callbacks.py)
            use_cpu=not cuda,
            **distributed_args(cfg, cuda),  # deepspeed / fsdp (train/distributed.py)
            **optional,
        )
    except ValueError as e:  # transformers' own consistency checks (save vs eval strategy, ...)
        raise ConfigError(f"training settings do not fit together: {e}") from None
