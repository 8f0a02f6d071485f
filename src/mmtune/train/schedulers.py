"""Axolotl's two schedules that transformers lacks: ``one_cycle`` and ``rex``.

``one_cycle`` is torch's ``OneCycleLR`` with the warmup as its rising phase and a cosine fall
(Axolotl's choice); ``rex`` is the REX schedule (Chen et al., 2022, "REX: Revisiting Budgeted
Training with an Improved Schedule"): after a linear warmup the rate falls as
``min + (max - min) * (1 - p) / (1/2 + (1 - p) / 2)`` for progress ``p`` from 0 to 1, which keeps it
high longer than a linear decay and still reaches ``min`` at the end.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR


def rex_factor(step: int, total: int, warmup: int, min_ratio: float = 0.0) -> float:
    """The learning rate at ``step`` as a fraction of the peak."""
    if warmup and step < warmup:
        return step / warmup
    span = max(total - warmup, 1)
    left = 1.0 - min(max(step - warmup, 0) / span, 1.0)
    return min_ratio + (1.0 - min_ratio) * left / (0.5 + 0.5 * left)


def build_scheduler(
    name: str,
    optimizer: torch.optim.Optimizer,
    total: int,
    warmup: int,
    min_ratio: float | None,
    kwargs: dict[str, Any],
) -> LRScheduler:
    """``one_cycle`` or ``rex`` for ``total`` optimizer steps, ``warmup`` of them rising."""
    if name == "one_cycle":
        options = {"pct_start": warmup / max(total, 1) or 0.3, "anneal_strategy": "cos", **kwargs}
        peaks = [g.get("initial_lr", g["lr"]) for g in optimizer.param_groups]
        return OneCycleLR(optimizer, max_lr=peaks, total_steps=max(total, 1), **options)
    if name == "rex":
        return LambdaLR(optimizer, lambda s: rex_factor(s, total, warmup, min_ratio or 0.0))
    raise ValueError(f"no such schedule {name!r}")
