"""Trainer callbacks mmtune adds to a run."""

from __future__ import annotations

from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback


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


class TrainingBar(ProgressCallback):
    """The training progress bar (step, ETA, rate) with the latest loss, learning rate and eval loss
    beside it, instead of a dict of quoted numbers per logging step. It writes to stderr."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not (state.is_world_process_zero and self.training_bar is not None and logs):
            return
        shown = {"loss": "loss", "learning_rate": "lr", "eval_loss": "eval_loss", "grad_norm": "grad"}
        post = {name: f"{float(logs[key]):.4g}" for key, name in shown.items() if key in logs}
        if post:
            self.training_bar.set_postfix(post, refresh=True)
