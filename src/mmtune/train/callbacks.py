"""Trainer callbacks mmtune adds to a run."""

from __future__ import annotations

from transformers import TrainerCallback


class LossLog(TrainerCallback):
    """Keeps every logged training and evaluation loss, for the metrics file and the tests."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.eval_losses: list[float] = []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.losses.append(float(logs["loss"]))
        if logs and "eval_loss" in logs:
            self.eval_losses.append(float(logs["eval_loss"]))
