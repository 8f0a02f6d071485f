"""Reusable checks every family's tests run: training steps, reload, predict.

Used by tests/test_family_*.py and the foundation tests, so each family proves the same things.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from mmtune.config import parse_config
from mmtune.infer.predict import Predictor
from mmtune.preprocess.pipeline import RowProcessor, settings_from_config
from mmtune.tensors import unpack_tensors
from mmtune.train.collator import Collator
from mmtune.train.recipe import TrainResult, train


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def tiny_config(ckpt: Path, data: Path, tmp_path: Path, **overrides: Any):
    raw = {
        "base_model": str(ckpt),
        "datasets": [{"path": str(data)}],
        "dataset_prepared_path": str(tmp_path / "prepared"),
        "output_dir": str(tmp_path / "out"),
        "adapter": "lora",
        "lora_r": 8,
        "lora_alpha": 16,
        "learning_rate": 5e-3,
        "max_steps": 12,
        "logging_steps": 1,
        "micro_batch_size": 2,
        "lr_scheduler": "constant",
        "torch_threads": 1,
        "sequence_len": 4096,
    }
    raw.update(overrides)
    return parse_config(raw)


def row_processor(ckpt: Path, tmp_path: Path, **overrides: Any) -> RowProcessor:
    """A RowProcessor for ``ckpt`` (to check labels of single rows without a dataset file)."""
    dummy = write_jsonl(tmp_path / "dummy.jsonl", [{"messages": []}])
    cfg = tiny_config(ckpt, dummy, tmp_path, **overrides)
    settings, processor = settings_from_config(cfg)
    return RowProcessor(settings, processor)


def supervised_text(rp: RowProcessor, encoded: dict) -> str:
    tok = getattr(rp.processor, "tokenizer", rp.processor)
    return tok.decode([t for t in encoded["labels"] if t != -100], skip_special_tokens=False)


def run_training(ckpt: Path, rows: list[dict], tmp_path: Path, **overrides: Any) -> TrainResult:
    data = write_jsonl(tmp_path / "train.jsonl", rows)
    cfg = tiny_config(ckpt, data, tmp_path, **overrides)
    return train(cfg)


def assert_loss_goes_down(result: TrainResult) -> None:
    losses = result.losses
    assert losses and all(math.isfinite(x) for x in losses), losses
    head, tail = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert tail < head, f"loss did not go down: {losses}"


def encode_row(rp: RowProcessor, row: dict, media_base: str = ".", fmt: str = "chat_template") -> dict:
    """Preprocess one raw row; fails the test with the DataError message if the row is rejected."""
    out = rp(("test.jsonl", media_base, fmt, 0, row))
    assert isinstance(out, dict), str(out)
    return out


def logits_on(model: Any, family: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        inputs = family.prepare_inputs(dict(batch), model.dtype)
        return model(**inputs).logits


def assert_same_logits(result: TrainResult, rows: list[dict]) -> Predictor:
    """Reloaded weights equal the trained ones: same logits on a real preprocessed batch."""
    pred = Predictor(result.output_dir)
    import datasets

    cache = next(Path(result.output_dir).parent.glob("prepared/*/data"))
    ds = datasets.load_from_disk(str(cache))
    tok = getattr(pred.processor, "tokenizer", pred.processor)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    batch = Collator(pred.family, pad)([ds[0]])
    batch.pop("labels")
    a = logits_on(result.model, pred.family, batch)
    b = logits_on(pred.model, pred.family, batch)
    torch.testing.assert_close(a, b)
    return pred


__all__ = [
    "write_jsonl", "tiny_config", "row_processor", "encode_row", "supervised_text", "run_training",
    "assert_loss_goes_down", "assert_same_logits", "unpack_tensors",
]
