"""Task metrics of a model on held-out conversations: ``mmtune evaluate``, the in-training metrics
callback (train/eval_metrics.py) and the quickstart all score answers here.

Each held-out row's prompt goes through the run's own preprocessing (``Predictor``: the same
decode step and transform as training), the answer is generated greedily, and the metrics of
outputs/metrics.py compare it with the row's reference answer. A row that cannot be prompted (a
missing image, a role the model cannot take) is reported like a bad row in preprocessing, with its
dataset and row, and left out: one bad row never stops an evaluation.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from tqdm.auto import tqdm

from mmtune.config import Config, DatasetConfig, load_config
from mmtune.data.intake import dataset_tasks
from mmtune.errors import DataError, DataReport, MmtuneError
from mmtune.outputs.heldout import EvalRow, eval_rows, heldout_config, heldout_tasks, split
from mmtune.outputs.metrics import GENERATED, check_metric_names, corpus_scores, row_scores
from mmtune.outputs.model_card import write_model_card
from mmtune.outputs.predict import Predictor
from mmtune.outputs.report import write_report
from mmtune.outputs.runcard import RunCard
from mmtune.preprocess.cache import config_tasks, prepare

log = logging.getLogger("mmtune")

RESULTS, PREDICTIONS = "eval_results.json", "eval_predictions.jsonl"
BASE_RESULTS, BASE_PREDICTIONS = "eval_results_base.json", "eval_predictions_base.jsonl"


@dataclass
class Scored:
    """An evaluation's outcome: the metrics over all rows, one record per row (the
    eval_predictions.jsonl schema) and the rows that could not be prompted."""

    metrics: dict[str, float]
    records: list[dict[str, Any]]
    errors: list[DataError] = field(default_factory=list)


@torch.no_grad()
def generate_answer(pred: Predictor, row: EvalRow, max_new_tokens: int) -> str:
    """The model's greedy answer to the row's prompt. The prompt is copied first: decoding fills
    media values in place, and held-out rows are prompted again at every evaluation."""
    return pred.answer(copy.deepcopy(row.prompt), max_new_tokens)


def score_rows(
    pred: Predictor, rows: list[EvalRow], names: list[str], max_new_tokens: int, step: int = 0, desc: str = "evaluate"
) -> Scored:
    """Generate an answer for each row and score it with the generation metrics among ``names``.

    The model is put in eval mode for the generation and back in the mode it was in afterwards
    (inside training it is in train mode)."""
    names = [n for n in names if n in GENERATED]
    model = pred.model
    was_training = model.training
    model.eval()
    records, preds, refs, errors = [], [], [], []
    try:
        for row in tqdm(rows, desc=desc, unit="row", leave=False):
            try:
                answer = generate_answer(pred, row, max_new_tokens)
            except DataError as e:
                errors.append(e.located(row.dataset, row.index))
                continue
            preds.append(answer)
            refs.append(row.reference)
            records.append(
                {
                    "row_id": row.row_id,
                    "prompt": row.prompt_text(),
                    "media": row.media(),
                    "reference": row.reference,
                    "prediction": answer,
                    "scores": row_scores(answer, row.reference, names),
                    "step": step,
                }
            )
    finally:
        model.train(was_training)
    if errors:
        report = DataReport(len(rows), len(records), errors)
        log.warning("evaluation left out %d of %d rows:\n%s", len(errors), len(rows), report.summary())
    return Scored(corpus_scores(preds, refs, names), records, errors)


def write_predictions(path: Path, records: list[dict[str, Any]]) -> None:
    """One JSON object per row (written to a temporary file first, so a reader never sees half)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    tmp.replace(path)


def run_heldout(cfg: Config, pred: Predictor) -> tuple[list[EvalRow], list[DataError], str]:
    """The held-out rows of a run's config, exactly as training held them out: its test_datasets'
    preprocessed rows, or the val_set_size split of its datasets' preprocessed rows with its seed
    (both from the preprocessing cache when it is current)."""
    if not (cfg.test_datasets or cfg.val_set_size):
        raise MmtuneError(
            "the run held out no rows (no val_set_size or test_datasets); give the rows with --data FILE_OR_CONFIG"
        )
    source = heldout_config(cfg)
    prepared = prepare(source, pred.settings, processor=pred.processor).dataset
    held = prepared if cfg.test_datasets else split(prepared, cfg.val_set_size, cfg.seed)[1]
    if held is None:
        raise MmtuneError("the run held out no rows (fewer than 2 rows were kept)")
    rows, errors = eval_rows(heldout_tasks(source, held))
    what = "test_datasets" if cfg.test_datasets else f"the val_set_size {cfg.val_set_size:g} split, seed {cfg.seed}"
    return rows, errors, f"the run's held-out rows: {what}"


def data_rows(data: str, pred: Predictor) -> tuple[list[EvalRow], list[DataError], str]:
    """Rows of ``--data``: a config YAML (its held-out rows, or all rows of its datasets when it
    holds none out) or a data file / folder / hub name in any format mmtune reads."""
    if Path(data).suffix.lower() in (".yaml", ".yml"):
        cfg = load_config(data)
        if cfg.test_datasets or cfg.val_set_size:
            return run_heldout(cfg, pred)
        tasks, _ = config_tasks(cfg)
        return (*eval_rows(tasks), f"every row of the datasets of {data}")
    path = Path(data)
    tasks, _ = dataset_tasks(DatasetConfig(path=str(path.resolve()) if path.exists() else data))
    return (*eval_rows(tasks), str(data))


def evaluate_output(
    output_dir: str | Path,
    data: str | None = None,
    base: bool = False,
    metrics: list[str] | None = None,
    max_samples: int | None = None,
    max_new_tokens: int | None = None,
) -> dict[str, Any]:
    """``mmtune evaluate``: score the trained output (or its base model, ``base``) on held-out rows
    and write eval_results.json and eval_predictions.jsonl (``_base`` before ``.`` with ``base``)
    into ``output_dir``. Returns the results written."""
    out = Path(output_dir)
    card = RunCard.load(out)  # the clear error for a folder that is not an mmtune output
    try:
        cfg = Config.model_validate(card.config)
    except ValidationError as e:  # a run card written by another mmtune version
        raise MmtuneError(f"{out}: the config in its run card cannot be read by this mmtune version ({e})") from None
    names = check_metric_names(metrics) if metrics else [m for m in (cfg.eval_metrics or GENERATED) if m in GENERATED]
    if not names:
        raise MmtuneError("no generation metric to compute (loss is the Trainer's); pick some with --metrics")
    pred = Predictor.of_base(out) if base else Predictor(out)
    rows, errors, described = data_rows(data, pred) if data else run_heldout(cfg, pred)
    if errors:
        report = DataReport(len(rows) + len(errors), len(rows), errors)
        log.warning("%d rows cannot be evaluated:\n%s", len(errors), report.summary())
    limit = max_samples or cfg.eval_max_samples
    rows = rows[:limit] if limit else rows
    if not rows:
        raise MmtuneError(f"no rows to evaluate in {described}")
    tokens = max_new_tokens or cfg.eval_max_new_tokens
    scored = score_rows(pred, rows, names, tokens)
    if not scored.records:
        raise MmtuneError(f"none of the {len(rows)} rows could be evaluated (see the rows listed above)")
    model = card.base_model if base else str(out.resolve())
    results = write_results(out, scored, base, model, described, tokens, left_out=len(errors))
    # the folder's model card and run report show the new results (and, with --base, the base answers)
    write_model_card(out, card)
    write_report(out)
    return results


def write_results(
    out: Path, scored: Scored, base: bool, model: str, data: str, max_new_tokens: int, left_out: int = 0
) -> dict[str, Any]:
    """eval_results.json and eval_predictions.jsonl in ``out`` (eval_results_base.json and
    eval_predictions_base.jsonl for the base model); returns the results written."""
    results = {
        "metrics": scored.metrics,
        "rows": len(scored.records),
        "rows_left_out": left_out + len(scored.errors),
        "model": model,
        "base": base,
        "data": data,
        "max_new_tokens": max_new_tokens,
    }
    res_name, pred_name = (BASE_RESULTS, BASE_PREDICTIONS) if base else (RESULTS, PREDICTIONS)
    (out / res_name).write_text(json.dumps(results, indent=2) + "\n")
    write_predictions(out / pred_name, scored.records)
    return results


def metrics_table(results: dict[str, Any]) -> str:
    """The metrics as aligned text lines (what ``mmtune evaluate`` prints on stdout)."""
    width = max(len(k) for k in results["metrics"])
    lines = [f"{k:<{width}}  {v:.4f}" for k, v in results["metrics"].items()]
    return "\n".join([*lines, f"{'rows':<{width}}  {results['rows']}"])
