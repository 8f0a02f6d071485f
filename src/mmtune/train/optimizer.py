"""Optimizer parameter groups: a learning rate per module group, and LoRA+.

``vision_learning_rate`` / ``projector_learning_rate`` (like ms-swift's vit_lr / aligner_lr) give
the family's vision/audio tower and projector their own rates; the language model keeps
``learning_rate``. ``loraplus_lr_ratio`` follows peft's LoRA+ rule (``create_loraplus_optimizer``):
``lora_B`` matrices and 1-D parameters train at the rate x the ratio, LoRA on embedding layers at
1e-6. Both are built here as one list of groups because peft's LoRA+ builder knows no module groups.
Weight decay skips biases and norms as the Trainer's own groups do (peft's LoRA+ builder drops
weight decay altogether; the config's ``weight_decay`` is kept here). The scheduler scales every
group's rate by the same factor, so the ratios hold through warmup and decay.

The language model's groups come first: the Trainer logs the first group's rate as
``learning_rate``; the others are logged as ``lr/<group>`` (``group_rates``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from transformers.trainer_optimizer import is_optimizer_factory

from mmtune.config import Config
from mmtune.errors import ConfigError
from mmtune.models.families.base import Family

log = logging.getLogger("mmtune")

PARTS = ("language", "projector", "vision")
# peft's default learning rate for LoRA on embedding layers under LoRA+ (Axolotl's loraplus_lr_embedding).
LORAPLUS_LR_EMBEDDING = 1e-6


@dataclass(frozen=True)
class GroupRates:
    """The learning rate of each module group, and the LoRA+ ratio (None: plain LoRA)."""

    language: float
    projector: float
    vision: float
    loraplus_ratio: float | None = None

    @classmethod
    def from_config(cls, cfg: Config) -> GroupRates | None:
        """None when the config asks for one rate everywhere (the Trainer's own optimizer then)."""
        if cfg.vision_learning_rate is None and cfg.projector_learning_rate is None and not cfg.loraplus_lr_ratio:
            return None
        lr = cfg.learning_rate
        return cls(
            language=lr,
            projector=lr if cfg.projector_learning_rate is None else cfg.projector_learning_rate,
            vision=lr if cfg.vision_learning_rate is None else cfg.vision_learning_rate,
            loraplus_ratio=cfg.loraplus_lr_ratio,
        )


def _lora_kind(model: torch.nn.Module, name: str, param: torch.Tensor) -> str:
    """peft's LoRA+ classes: 'embedding' (LoRA on an embedding layer), 'B' (lora_B, 1-D) or 'A'."""
    from peft.tuners.lora.layer import Embedding

    owner = ".".join(name.split(".")[:-2])
    if owner and isinstance(model.get_submodule(owner), Embedding):
        return "embedding"
    return "B" if "lora_B" in name or param.ndim == 1 else "A"


def param_groups(
    model: torch.nn.Module, family: type[Family], rates: GroupRates, decay: set[str], weight_decay: float
) -> list[dict]:
    """The optimizer's groups: one per (module group, LoRA+ class, decayed or not) that has
    parameters, each named by its ``part`` ('language', 'vision_lora_B', ...)."""
    grouped: dict[tuple[str, str, bool], list[torch.Tensor]] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            kind = _lora_kind(model, name, p) if rates.loraplus_ratio else "A"
            grouped.setdefault((family.group_of(name), kind, name in decay), []).append(p)
    out = []
    for part in PARTS:
        for kind in ("A", "B", "embedding"):
            for decayed in (True, False):
                params = grouped.get((part, kind, decayed))
                if not params:
                    continue
                lr = getattr(rates, part)
                if kind == "B":
                    lr *= rates.loraplus_ratio
                elif kind == "embedding":
                    lr = LORAPLUS_LR_EMBEDDING
                label = part if kind == "A" else f"{part}_lora_{kind}"
                out.append(
                    {"params": params, "lr": lr, "weight_decay": weight_decay if decayed else 0.0, "part": label}
                )
    return out


def build_optimizer(trainer: Any, model: torch.nn.Module, family: type[Family], rates: GroupRates) -> Any:
    """The Trainer's optimizer class and settings over ``param_groups``; the rates are said once."""
    args = trainer.args
    if trainer.optimizer_cls_and_kwargs is not None:
        cls, kwargs = trainer.optimizer_cls_and_kwargs
    else:
        cls, kwargs = trainer.get_optimizer_cls_and_kwargs(args, model)
    kwargs = dict(kwargs)
    if {"params", "model", "optimizer_dict"} & kwargs.keys() or is_optimizer_factory(cls):
        raise ConfigError(
            f"optimizer {args.optim} builds its own parameter groups; vision_learning_rate, projector_learning_rate "
            "and loraplus_lr_ratio need an optimizer that takes them (e.g. adamw_torch)"
        )
    groups = param_groups(model, family, rates, set(trainer.get_decay_parameter_names(model)), args.weight_decay)
    optimizer = cls(groups, **kwargs)
    seen = {g["part"]: g["lr"] for g in groups}
    log.info("learning rates: %s", ", ".join(f"{part} {lr:g}" for part, lr in seen.items()))
    for part in ("projector", "vision"):
        if getattr(rates, part) != rates.language and not any(g["part"].startswith(part) for g in groups):
            log.warning("%s_learning_rate has no effect: no %s parameter trains", part, part)
    if "bitsandbytes" in str(cls) and kwargs.get("optim_bits") == 8:  # as the Trainer does: embeddings in 32 bits
        import bitsandbytes

        manager = bitsandbytes.optim.GlobalOptimManager.get_instance()
        for module in model.modules():
            if isinstance(module, torch.nn.Embedding):
                manager.register_module_override(module, "weight", {"optim_bits": 32})
    return optimizer


def group_rates(optimizer: Any) -> dict[str, float]:
    """The current rate of each named group, for the training logs (``lr/vision`` ...)."""
    return {f"lr/{g['part']}": g["lr"] for g in optimizer.param_groups if "part" in g}
