"""``mmtune quickstart``: generate data and a tiny model, train, and report held-out accuracy."""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import yaml

from mmtune.config import DatasetConfig, parse_config
from mmtune.data.intake import dataset_tasks
from mmtune.errors import MmtuneError
from mmtune.models.families import get_family
from mmtune.models.loading import load_model
from mmtune.outputs.evaluate import score_rows, write_results
from mmtune.outputs.heldout import EvalRow, eval_rows
from mmtune.outputs.predict import Predictor
from mmtune.preprocess.settings import settings_from_config
from mmtune.quickstart.shapes import make_dataset
from mmtune.tiny import TinySizes, make_tiny
from mmtune.train.recipe import train

log = logging.getLogger("mmtune")

# The tiny checkpoint's sizes for the quickstart: large enough to learn the task in minutes.
TINY_SIZES = TinySizes(hidden=128, layers=2, vision_dim=64, vision_layers=2)


def heldout_rows(heldout: Path) -> list[EvalRow]:
    """The held-out file's questions and reference answers (read as ``mmtune evaluate --data`` does)."""
    rows, errors = eval_rows(dataset_tasks(DatasetConfig(path=str(heldout), type="chat_template"))[0])
    if errors:
        raise MmtuneError(f"the quickstart's held-out file has bad rows: {errors[0]}")
    return rows


def accuracy(
    pred: Predictor, rows: list[EvalRow], out: Path, model: str, base: bool, heldout: Path
) -> tuple[float, dict[str, float]]:
    """Exact-match accuracy of generated answers, overall and per question kind, through the
    evaluation path (outputs/evaluate.py); the results and predictions are written to ``out`` as
    `mmtune evaluate` writes them (``_base`` files for the model before training)."""
    scored = score_rows(pred, rows, ["exact_match"], max_new_tokens=4)
    results = write_results(out, scored, base, model, str(heldout), 4)
    lines = [line for line in heldout.read_text().splitlines() if line.strip()]
    per: dict[str, list[float]] = {}
    for rec in scored.records:
        kind = json.loads(lines[int(rec["row_id"].rsplit(":", 1)[1])])["question"]
        per.setdefault(kind, []).append(rec["scores"]["exact_match"])
    return results["metrics"].get("exact_match", 0.0), {k: sum(v) / len(v) for k, v in per.items()}


def load_quickstart_config(config: str | None, out: Path) -> Any:
    text = (
        Path(config).read_text()
        if config
        else resources.files("mmtune.examples").joinpath("quickstart.yaml").read_text()
    )
    raw = yaml.safe_load(text)
    raw["base_model"] = str(out / "base_model")
    raw["datasets"][0]["path"] = str(out / "data" / "train.jsonl")
    raw["output_dir"] = str(out / "model")
    raw.setdefault("dataset_prepared_path", str(out / "prepared"))
    return parse_config(raw)


def run_quickstart(config: str | None = None, output_dir: str | None = None) -> int:
    out = Path(output_dir or "runs/quickstart").resolve()
    if not (out / "data" / "heldout.jsonl").exists():
        log.info("generating the shapes dataset in %s", out / "data")
        make_dataset(out / "data")
    if not (out / "base_model" / "config.json").exists():
        log.info("making a tiny qwen2_vl checkpoint in %s", out / "base_model")
        make_tiny("qwen2_vl", out / "base_model", seed=0, sizes=TINY_SIZES)
    cfg = load_quickstart_config(config, out)
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    heldout = out / "data" / "heldout.jsonl"

    rows = heldout_rows(heldout)
    settings, processor = settings_from_config(cfg)
    base = load_model(cfg.base_model, get_family(settings.family))
    before_pred = Predictor.from_parts(base, processor, settings)
    model_dir = Path(cfg.output_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    before, _ = accuracy(before_pred, rows, model_dir, cfg.base_model, True, heldout)
    del base, before_pred

    result = train(cfg, processor=processor)
    trained = Predictor(result.output_dir, model=result.model, processor=processor)
    after, per = accuracy(trained, rows, Path(result.output_dir), str(result.output_dir), False, heldout)
    log.info("held-out accuracy per question: %s", ", ".join(f"{k} {v:.0%}" for k, v in per.items()))
    log.info(
        "train loss %.3f -> %.3f in %.0f s",
        result.metrics["first_loss"],
        result.metrics["last_loss"],
        result.metrics["train_seconds"],
    )
    print(f"quickstart accuracy: before {before:.0%} -> after {after:.0%}")
    return 0
