"""``mmtune quickstart``: generate data and a tiny model, train, and report held-out accuracy."""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

import torch
import yaml
from tqdm.auto import tqdm

from mmtune.config import parse_config
from mmtune.data.formats.base import RowContext
from mmtune.data.formats.messages import MessagesFormat
from mmtune.models.families import get_family
from mmtune.models.loading import load_model
from mmtune.outputs.predict import Predictor
from mmtune.preprocess.settings import settings_from_config
from mmtune.quickstart.shapes import make_dataset
from mmtune.tiny import TinySizes, make_tiny
from mmtune.train.recipe import train

log = logging.getLogger("mmtune")

# The tiny checkpoint's sizes for the quickstart: large enough to learn the task in minutes.
TINY_SIZES = TinySizes(hidden=128, layers=2, vision_dim=64, vision_layers=2)


def accuracy(pred: Predictor, heldout: Path) -> tuple[float, dict[str, float]]:
    """Exact-match accuracy of generated answers, overall and per question kind."""
    rows = [json.loads(line) for line in heldout.read_text().splitlines() if line.strip()]
    per: dict[str, list[bool]] = {}
    for row in tqdm(rows, desc="evaluate", unit="q", leave=False):
        conv = MessagesFormat.convert(row, RowContext(str(heldout.parent)))
        gold = conv.messages[-1].text
        conv.messages = conv.messages[:-1]
        per.setdefault(row["question"], []).append(pred.answer(conv, max_new_tokens=4) == gold)
    total = sum(sum(v) for v in per.values()) / max(1, len(rows))
    return total, {k: sum(v) / len(v) for k, v in per.items()}


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

    settings, processor = settings_from_config(cfg)
    base = load_model(cfg.base_model, get_family(settings.family))
    before, _ = accuracy(Predictor.from_parts(base, processor, settings), heldout)
    del base

    result = train(cfg, processor=processor)
    after, per = accuracy(Predictor(result.output_dir, model=result.model, processor=processor), heldout)
    log.info("held-out accuracy per question: %s", ", ".join(f"{k} {v:.0%}" for k, v in per.items()))
    log.info(
        "train loss %.3f -> %.3f in %.0f s",
        result.metrics["first_loss"],
        result.metrics["last_loss"],
        result.metrics["train_seconds"],
    )
    print(f"quickstart accuracy: before {before:.0%} -> after {after:.0%}")
    return 0
