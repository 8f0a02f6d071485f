"""Task metrics during training: at every evaluation the model answers held-out rows and the
``eval_metrics`` are logged beside the eval loss.

The callback hooks the Trainer's own evaluation (``eval_steps`` / ``evals_per_epoch``, train/args.py)
instead of a schedule of its own, so the metrics land at the same steps as ``eval_loss``, go through
``Trainer.log`` to every logger (TensorBoard shows them as eval/<metric>), and are in the metrics
dict that ``metric_for_best_model`` and early stopping read. It also evaluates once before the
first step (the Trainer's ``eval_on_start``), so the base model's answers can be compared with
the trained model's.

Files in output_dir (the run report reads them):
  eval_history.json            [{"step", "epoch", "metrics": {"eval_loss", "eval_<metric>", ...}}, ...]
  eval_predictions_before.jsonl  the answers at step 0 (before training)
  eval_predictions.jsonl         the answers of the latest evaluation
Generation runs on the main process only.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from mmtune.config import Config
from mmtune.outputs.evaluate import PREDICTIONS, score_rows, write_predictions
from mmtune.outputs.heldout import EvalRow, eval_rows, heldout_config, heldout_tasks
from mmtune.outputs.metrics import GENERATED
from mmtune.outputs.predict import Predictor
from mmtune.preprocess.settings import PrepSettings

log = logging.getLogger("mmtune")

HISTORY = "eval_history.json"
BEFORE = "eval_predictions_before.jsonl"


class EvalMetrics(TrainerCallback):
    """Generates answers for ``rows`` at each evaluation and adds ``eval_<metric>`` to its metrics."""

    def __init__(
        self,
        rows: list[EvalRow],
        names: list[str],
        max_new_tokens: int,
        processor: Any,
        settings: PrepSettings,
        output_dir: str | Path,
    ):
        self.rows, self.names, self.max_new_tokens = rows, names, max_new_tokens
        self.processor, self.settings = processor, settings
        self.out = Path(output_dir)
        self.trainer: Any = None  # set by ``attach``: the metrics are logged through it
        self.predictor: Predictor | None = None
        self.history: list[dict] | None = None
        self.last: tuple[int, dict[str, float]] | None = None  # the latest evaluation's step and metrics

    def _predictor(self, model: Any) -> Predictor:
        """Built once (the family's transform); ``from_parts`` switches the model to eval mode,
        which ``score_rows`` restores around each generation."""
        if self.predictor is None or self.predictor.model is not model:
            was_training = model.training
            self.predictor = Predictor.from_parts(model, self.processor, self.settings)
            model.train(was_training)
        return self.predictor

    def _load_history(self, step: int) -> list[dict]:
        """This run's history: empty for a run from step 0; a resumed run keeps the entries
        written before the step it resumed from."""
        if self.history is None:
            self.history = []
            path = self.out / HISTORY
            if step > 0 and path.is_file():
                self.history = [e for e in json.loads(path.read_text()) if e["step"] < step]
        return self.history

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if metrics is None:
            return
        step = state.global_step
        fresh = self.last is None or self.last[0] != step
        if fresh:
            model = self.trainer.model if self.trainer is not None else kwargs["model"]
            new = self._generate(model, step) if state.is_world_process_zero else None
            self.last = (step, _from_main_process(new))
        # a step evaluated already (the final evaluation after training): its answers are reused
        new = self.last[1]
        metrics.update(new)
        if not state.is_world_process_zero:
            return
        if fresh and self.trainer is not None and new:
            self.trainer.log(dict(new))  # a copy: log adds the epoch and step to the dict it gets
        history = self._load_history(step)
        kept = {k: metrics[k] for k in ("eval_loss", *new) if k in metrics}
        if history and history[-1]["step"] == step:
            history[-1]["metrics"] = kept
        else:
            history.append({"step": step, "epoch": state.epoch, "metrics": kept})
        (self.out / HISTORY).write_text(json.dumps(history, indent=2) + "\n")

    def _generate(self, model: Any, step: int) -> dict[str, float]:
        """Answer the rows, write the predictions, return the metrics as ``eval_<name>``."""
        pred = self._predictor(model)
        scored = score_rows(pred, self.rows, self.names, self.max_new_tokens, step, f"eval metrics, step {step}")
        self.out.mkdir(parents=True, exist_ok=True)
        write_predictions(self.out / PREDICTIONS, scored.records)
        if step == 0:
            write_predictions(self.out / BEFORE, scored.records)
        return {f"eval_{k}": v for k, v in scored.metrics.items()}


def _from_main_process(new: dict[str, float] | None) -> dict[str, float]:
    """The main process's metrics on every process: the Trainer's best-model and early-stopping
    decisions read them on each rank and must agree."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        box = [new]
        dist.broadcast_object_list(box, src=0)
        new = box[0]
    return new or {}


def attach(trainer: Any, cfg: Config, heldout: Any, processor: Any, settings: PrepSettings) -> EvalMetrics | None:
    """Add the metrics callback to ``trainer`` when ``eval_metrics`` names a generation metric and
    rows are held out (``heldout``: the preprocessed held-out rows, before any packing), and turn
    on the evaluation before the first step."""
    names = [m for m in cfg.eval_metrics or () if m in GENERATED]
    if not names or heldout is None:
        return None
    source = heldout_config(cfg)
    rows, errors = eval_rows(heldout_tasks(source, heldout))
    if errors:
        log.warning("%d held-out rows cannot be prompted and are left out of eval_metrics:", len(errors))
        for e in errors[:20]:
            log.warning("  - %s", e)
    if cfg.eval_max_samples:
        rows = rows[: cfg.eval_max_samples]
    cb = EvalMetrics(rows, names, cfg.eval_max_new_tokens, processor, settings, cfg.output_dir)
    cb.trainer = trainer
    # first, so the callbacks after it that read the metrics (early stopping) see eval_<metric>
    trainer.callback_handler.callbacks.insert(0, cb)
    trainer.args.eval_on_start = True
    return cb
