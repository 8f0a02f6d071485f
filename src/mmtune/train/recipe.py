"""The training recipe: config -> preprocessed data -> model -> Trainer -> output folder.

A ``Recipe`` runs in steps with a method each (``setup_data``, ``setup_model``,
``setup_trainer``, ``run``, ``save``), so a later capability plugs in at its seam instead of
growing one long function: distributed launch around ``run``, packing in ``setup_data`` and the
collator, in-training evaluation and a report as Trainer callbacks in ``setup_trainer``.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers.trainer_callback import EarlyStoppingCallback, PrinterCallback, ProgressCallback

from mmtune.config import Config
from mmtune.errors import MmtuneError
from mmtune.models.families import get_family
from mmtune.models.loading import (
    apply_training_mode,
    check_model_options,
    check_packing,
    count_params,
    load_model,
    model_dtype,
    quantization_config,
)
from mmtune.outputs.heldout import heldout_config, split  # split: also `mmtune evaluate`'s
from mmtune.outputs.merge import merge_output
from mmtune.outputs.model_card import write_model_card
from mmtune.outputs.runcard import RUN_CARD, RunCard
from mmtune.preflight import check_split, preflight
from mmtune.preprocess.cache import Prepared, prepare
from mmtune.preprocess.settings import settings_from_config
from mmtune.train.args import training_args
from mmtune.train.callbacks import CheckpointMarker, LossLog, SaveFirstStep, TrainingBar
from mmtune.train.collator import Collator
from mmtune.train.distributed import check_distributed, is_main_process, main_process_first
from mmtune.train.eval_metrics import attach as attach_eval_metrics
from mmtune.train.loggers import check_loggers, finish_loggers
from mmtune.train.optimizer import GroupRates
from mmtune.train.output_dir import checkpoints, out_of_space, prepare_output_dir
from mmtune.train.packing import PackedDataset, PackingCollator
from mmtune.train.report_callback import RunReport
from mmtune.train.trainer import MultimodalTrainer

log = logging.getLogger("mmtune")


@dataclass
class TrainResult:
    output_dir: Path
    metrics: dict
    losses: list[float] = field(default_factory=list)
    # The trained model and processor, still in memory (tests compare them with the reloaded output).
    model: Any = None
    processor: Any = None
    # The preprocessed rows the run trained on (and held out), as the cache holds them.
    prepared: Prepared | None = None


class Recipe:
    """One training run of ``cfg``; ``processor`` may be passed in to skip loading it again."""

    def __init__(self, cfg: Config, processor: Any = None, rebuild: bool = False, verify: bool = False):
        self.cfg = cfg
        self.processor = processor
        self.rebuild = rebuild
        self.verify = verify
        self.losses = LossLog()
        self.marker = CheckpointMarker()
        self.resume: str | None = None

    def check_output_dir(self) -> None:
        """Before any work: what train would refuse (paths, optimizer), the checkpoint to resume
        from, and no silent overwrite of an earlier run."""
        preflight(self.cfg)
        check_model_options(self.cfg)
        check_distributed(self.cfg)
        check_loggers(self.cfg)
        with main_process_first():  # only the main process clears an overwritten run's checkpoints
            self.resume = prepare_output_dir(self.cfg)

    def setup_data(self) -> None:
        """Family, processor and preprocessed rows (from the cache when it is current)."""
        cfg = self.cfg
        self.quant = quantization_config(cfg)  # fails early (before preprocessing) where it cannot work
        self.settings, self.processor = settings_from_config(cfg, self.processor)
        self.family = get_family(self.settings.family)
        # Several processes: the main one preprocesses into the cache, the others then read it
        # (``rebuild`` only for the main one, or each rank would preprocess again).
        with main_process_first():
            self.prepared: Prepared = prepare(
                cfg,
                self.settings,
                processor=self.processor,
                rebuild=self.rebuild and is_main_process(),
                verify=self.verify,
            )
        st = self.stats = self.prepared.stats()
        log.info(
            "data: %d rows read, %d kept, %d dropped; %d tokens, %d supervised",
            st["rows_read"],
            st["rows_kept"],
            st["rows_dropped"],
            st["tokens"],
            st["supervised_tokens"],
        )
        if st["rows_kept"] == 0:
            raise MmtuneError("no rows left to train on after preprocessing")
        check_split(cfg, st["rows_kept"])
        # the same seed on every rank: every process holds out the same rows
        self.train_ds, self.eval_ds = split(self.prepared.dataset, cfg.val_set_size, cfg.seed)
        if cfg.test_datasets:  # held out in files of their own, preprocessed (and cached) like the training rows
            with main_process_first():
                self.eval_ds = prepare(
                    heldout_config(cfg),
                    self.settings,
                    processor=self.processor,
                    rebuild=self.rebuild and is_main_process(),
                ).dataset
        self.heldout = self.eval_ds  # the rows, before packing: what eval_metrics prompts (train/eval_metrics.py)
        if cfg.sample_packing:  # several rows share one sequence (train/packing.py)
            check_packing(cfg, self.family)
            self.train_ds = PackedDataset(self.train_ds, cfg.sequence_len)
            if self.eval_ds is not None:
                self.eval_ds = PackedDataset(self.eval_ds, cfg.sequence_len)

    def setup_model(self) -> None:
        """The base model in the run's dtype, with LoRA or per-group freezing applied."""
        cfg = self.cfg
        model = load_model(cfg.base_model, self.family, model_dtype(cfg.bf16), self.quant, cfg.attn_implementation)
        model = apply_training_mode(model, cfg, self.family)
        if cfg.gradient_checkpointing:
            # non-reentrant unless the config says otherwise: it works with frozen inputs and LoRA
            ckpt_kwargs = {"use_reentrant": False, **(cfg.gradient_checkpointing_kwargs or {})}
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=ckpt_kwargs)
            if hasattr(model, "enable_input_require_grads"):
                model.enable_input_require_grads()
        self.model = model

    def setup_trainer(self) -> None:
        cfg = self.cfg
        tok = getattr(self.processor, "tokenizer", self.processor)
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
        # the processor call that makes media tensors from media the cache keeps decoded (cache_media)
        media = self.family.transform(self.processor, self.settings)
        self.trainer = MultimodalTrainer(
            model=self.model,
            args=training_args(self.cfg, self.eval_ds is not None, len(self.train_ds)),
            train_dataset=self.train_ds,
            eval_dataset=self.eval_ds,
            data_collator=PackingCollator(self.family, pad_id, self.family.packed_positions(self.model), media)
            if cfg.sample_packing
            else Collator(self.family, pad_id, media),
            callbacks=[self.losses, self.marker],
            family=self.family,
            rates=GroupRates.from_config(self.cfg),
            schedule=(cfg.lr_scheduler, cfg.cosine_min_lr_ratio) if cfg.lr_scheduler in ("one_cycle", "rex") else None,
        )
        if cfg.save_first_step:
            self.trainer.add_callback(SaveFirstStep)
        if cfg.early_stopping_patience:
            self.trainer.add_callback(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
        # one bar with the latest loss and learning rate, whatever transformers' log verbosity is
        self.trainer.remove_callback(PrinterCallback)
        self.trainer.remove_callback(ProgressCallback)
        self.trainer.add_callback(TrainingBar)
        attach_eval_metrics(self.trainer, cfg, self.heldout, self.processor, self.settings)
        # report.html, refreshed at each evaluation: added last, after the callbacks that write evaluation files
        self.trainer.args.include_num_input_tokens_seen = "all"  # tokens/s and the padding share it shows
        self.report = RunReport(cfg, self.settings, self.family, self.prepared, self.train_ds, self.eval_ds)
        self.trainer.add_callback(self.report)

    def run(self) -> Any:
        """Train; a full disk while a checkpoint is written removes that incomplete checkpoint (it
        could never be resumed from) and stops with one line saying where."""
        start = time.perf_counter()
        try:
            out = self.trainer.train(resume_from_checkpoint=self.resume)
        except Exception as e:
            folder = self.marker.saving
            why = out_of_space(e, folder)
            if why is None:
                raise
            if folder is None:
                raise MmtuneError(f"{why} while training into {self.cfg.output_dir}") from None
            shutil.rmtree(folder, ignore_errors=True)
            raise MmtuneError(
                f"{why} while saving checkpoint {folder}; the incomplete checkpoint was removed. Free space, "
                "then `mmtune train CONFIG --resume` continues from the last complete checkpoint"
            ) from None
        self.train_seconds = time.perf_counter() - start
        return out

    def save(self, out: Any) -> TrainResult:
        """Weights through the Trainer (which gathers sharded states), then the processor, run card
        and metrics, on the main process only."""
        out_dir = Path(self.cfg.output_dir)
        trainable, total = count_params(self.model)
        metrics = {
            "train_loss": out.training_loss,
            "first_loss": self.losses.losses[0] if self.losses.losses else math.nan,
            "last_loss": self.losses.losses[-1] if self.losses.losses else math.nan,
            "steps": out.global_step,
            "train_seconds": round(self.train_seconds, 2),
            "trainable_params": trainable,
            "total_params": total,
            **{f"data_{k}": v for k, v in self.stats.items()},
        }
        if self.eval_ds is not None:
            metrics["eval_loss"] = self.trainer.evaluate()["eval_loss"]
        # The run card is what makes the folder a trained output (``load_trained``): an earlier run's
        # card goes first and the new one is written after the weights, so weights cut off by a full
        # disk are never taken for a finished run.
        card = out_dir / RUN_CARD
        try:
            if self.trainer.is_world_process_zero():
                card.unlink(missing_ok=True)
            self.trainer.save_model(str(out_dir))
            if self.trainer.is_world_process_zero():
                self.processor.save_pretrained(out_dir)
                RunCard.from_config(self.cfg, self.settings).save(out_dir)
                metrics_file = out_dir / "train_metrics.json"
                metrics_file.write_text(json.dumps({**metrics, "losses": self.losses.losses}, indent=2))
        except Exception as e:
            why = out_of_space(e, out_dir)
            if why is None:
                raise
            card.unlink(missing_ok=True)
            again = (
                "`mmtune train CONFIG --resume` saves it from the last checkpoint"
                if checkpoints(out_dir)
                else "train again"
            )
            raise MmtuneError(f"{why} while saving the trained model to {out_dir}. Free space, then {again}") from None
        if self.trainer.is_world_process_zero():
            write_model_card(out_dir)  # after save_model: replaces peft's empty README template
            self.report.refresh(self.trainer.args, self.trainer.state, self.model)  # the final report.html
            if self.cfg.merge_lora:  # Axolotl's key: the merged weights beside the adapter (outputs/merge.py)
                merge_output(out_dir, overwrite=True)
        return TrainResult(out_dir, metrics, self.losses.losses, self.model, self.processor, self.prepared)


def train(cfg: Config, processor: Any = None, rebuild: bool = False, verify: bool = False) -> TrainResult:
    """Fine-tune as ``cfg`` says and save to ``cfg.output_dir`` (``rebuild``: preprocess again even
    when the cache is current)."""
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    torch.manual_seed(cfg.seed)
    recipe = Recipe(cfg, processor, rebuild, verify)
    recipe.check_output_dir()
    recipe.setup_data()
    recipe.setup_model()
    recipe.setup_trainer()
    result = recipe.save(recipe.run())
    finish_loggers()  # after save's final evaluation, which logs too
    return result
