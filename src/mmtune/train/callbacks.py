"""Trainer callbacks mmtune adds to a run."""

from __future__ import annotations

from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_callback import ProgressCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from mmtune.train.output_dir import MARKER, mark_complete


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


class CheckpointMarker(TrainerCallback):
    """Marks a checkpoint complete once the Trainer has written all of it (``on_save`` fires after
    ``trainer_state.json``, the Trainer's last file), so a folder left by a kill or a full disk is
    never resumed from (see ``train.output_dir``). Before a step that saves, the marker of an older
    checkpoint of the same step (a resumed run going over it again) is removed: a save over it is
    not complete until marked again. ``saving`` is the checkpoint being written, if any (the one a
    full disk left incomplete)."""

    def __init__(self) -> None:
        self.saving: Path | None = None

    def on_step_end(self, args, state, control, **kwargs):
        if control.should_save and args.should_save:
            self.saving = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            (self.saving / MARKER).unlink(missing_ok=True)

    on_epoch_end = on_step_end

    def on_save(self, args, state, control, **kwargs):
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        if args.should_save and folder.is_dir():
            mark_complete(folder, state.global_step)
        self.saving = None


class SaveFirstStep(TrainerCallback):
    """``save_first_step``: a checkpoint after the first optimizer step, so a config's saving is
    proven before hours of training (Axolotl's key)."""

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 1:
            control.should_save = True
