"""Keeps ``report.html`` current while a run trains: the files it is built from, then the page.

At the start of training it writes what the report needs and only training knows: the data
report (counts, drop reasons, length histogram from the cached ``length`` column) and what is
trainable per module group; at each evaluation and at the end it saves the Trainer's log and a
timeline for throughput, and renders the page again (``outputs/report.py``). Only the main
process writes. A failure while writing the report is logged, not raised: losing the report
must never cost the hours of training it describes.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from mmtune.outputs.report import DATA_REPORT, LOG_HISTORY, THROUGHPUT, TRAINABLE, run_info, write_report
from mmtune.outputs.runcard import RunCard
from mmtune.outputs.svg import histogram

log = logging.getLogger("mmtune")
# Dropped rows listed one by one in data_report.json (every reason is counted, whatever the number).
MAX_LISTED_DROPS = 500


def _lengths(ds: Any) -> list[int]:
    if ds is None or len(ds) == 0:
        return []
    if "length" in getattr(ds, "column_names", ()):
        return ds.select_columns(["length"]).with_format("arrow")[:]["length"].to_pylist()
    return [len(x) for x in ds["input_ids"]]


def data_report(prepared: Any, train_rows: Any, eval_rows: Any) -> dict:
    """What the report says about the data: the preprocessing counts, every drop reason, the length
    histogram, media counts and the split."""
    stats = prepared.stats()
    ds = prepared.dataset
    lengths = _lengths(ds)
    edges, counts = histogram(lengths)
    n_media = list(ds["n_media"]) if len(ds) else []
    return {
        **stats,
        "train_rows": len(train_rows) if train_rows is not None else 0,
        "eval_rows": len(eval_rows) if eval_rows is not None else 0,
        "rows_with_media": sum(1 for n in n_media if n),
        "reasons": dict(prepared.report.reasons()),
        "dropped": [e.to_dict() for e in prepared.report.errors[:MAX_LISTED_DROPS]],
        "length_histogram": {"edges": edges, "counts": counts},
        "length_stats": {"min": min(lengths), "max": max(lengths), "mean": sum(lengths) / len(lengths)}
        if lengths
        else {},
    }


def trainable_groups(model: Any, family: Any) -> dict:
    """Trainable and total parameters per module group of the family (vision, projector, language),
    and how many of the trainable ones are LoRA's own weights."""
    groups: dict[str, dict[str, int]] = {}
    adapter = 0
    for name, p in model.named_parameters():
        g = groups.setdefault(family.group_of(name), {"trainable": 0, "total": 0})
        g["total"] += p.numel()
        if p.requires_grad:
            g["trainable"] += p.numel()
            if ".lora_" in name:
                adapter += p.numel()
    return {
        "groups": groups,
        "trainable": sum(g["trainable"] for g in groups.values()),
        "total": sum(g["total"] for g in groups.values()),
        "adapter_params": adapter,
    }


class RunReport(TrainerCallback):
    """Writes the report's input files and ``report.html`` into ``output_dir`` during training."""

    def __init__(self, cfg: Any, settings: Any, family: Any, prepared: Any, train_rows: Any, eval_rows: Any):
        self.out = Path(cfg.output_dir)
        # packed runs hand over packs of rows: the rows themselves are what the report counts
        train_rows, eval_rows = getattr(train_rows, "rows", train_rows), getattr(eval_rows, "rows", eval_rows)
        self.run = run_info(RunCard.from_config(cfg, settings))
        self.family = family
        self.data = data_report(prepared, train_rows, eval_rows)
        self.train_tokens = sum(_lengths(train_rows))
        self.points: list[dict] = []
        self.start = time.perf_counter()

    def _write(self, name: str, data: Any) -> None:
        (self.out / name).write_text(json.dumps(data, indent=1, default=str))

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        if not state.is_world_process_zero:
            return
        self.start = time.perf_counter()
        self.out.mkdir(parents=True, exist_ok=True)
        self._write(DATA_REPORT, self.data)
        if model is not None:
            self._write(TRAINABLE, trainable_groups(model, self.family))

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs and "loss" in logs:
            self.points.append(
                {
                    "step": state.global_step,
                    "seconds": round(time.perf_counter() - self.start, 4),
                    "tokens_seen": state.num_input_tokens_seen,
                    "epoch": state.epoch,
                }
            )

    def refresh(self, args: Any, state: Any, model: Any = None) -> Path | None:
        """Save the Trainer's log and the throughput timeline, then render the page."""
        if not state.is_world_process_zero:
            return None
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            if model is not None:
                self._write(TRAINABLE, trainable_groups(model, self.family))
            self._write(LOG_HISTORY, state.log_history)
            batch = args.train_batch_size * args.gradient_accumulation_steps * max(1, args.world_size)
            self._write(THROUGHPUT, {"batch_size": batch, "train_tokens": self.train_tokens, "points": self.points})
            return write_report(self.out, self.run)
        except Exception as e:  # see the module docstring: the run goes on without its report
            log.warning("could not write the run report %s: %s: %s", self.out / "report.html", type(e).__name__, e)
            return None

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        self.refresh(args, state)

    def on_train_end(self, args, state, control, model=None, **kwargs):
        self.refresh(args, state, model)
