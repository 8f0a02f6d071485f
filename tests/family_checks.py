"""Reusable checks every family's tests run: training steps, reload, predict.

Used by tests/test_family_*.py and the foundation tests, so each family proves the same things.
Also the media files and conversations those tests share, so every family sees the same rows.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
import yaml
from PIL import Image

from mmtune.config import Config, parse_config
from mmtune.data.intake import RowTask
from mmtune.models.families import get_family
from mmtune.outputs.predict import Predictor
from mmtune.preprocess.codec import unpack_tensors
from mmtune.preprocess.rows import RowProcessor
from mmtune.preprocess.settings import settings_from_config
from mmtune.train.collator import Collator
from mmtune.train.recipe import TrainResult, train

EXAMPLES = Path(__file__).resolve().parents[1] / "src/mmtune/examples"
GIF_COLORS = ("red", "green", "blue", "white")


def write_two_images(
    tmp_path: Path,
    sizes: tuple[tuple[int, int], tuple[int, int]] = ((90, 70), (60, 100)),
    colors: tuple[str, str] = ("red", "blue"),
) -> tuple[str, str]:
    """Write ``imgs/a.png`` and ``imgs/b.png`` under ``tmp_path``; return their paths relative to it.

    ``sizes`` are (width, height) per image; families that tile images pass sizes that give a known
    tile count.
    """
    (tmp_path / "imgs").mkdir(exist_ok=True)
    names = ("imgs/a.png", "imgs/b.png")
    for name, size, color in zip(names, sizes, colors):
        Image.new("RGB", size, color).save(tmp_path / name)
    return names


def write_gif(tmp_path: Path, name: str = "clip.gif", frames: int = 4) -> str:
    """An animated GIF of ``frames`` 96x80 frames (red, green, blue, white) at 2 fps (500 ms per frame):
    a real video file the decoder samples. Returns ``name``, relative to ``tmp_path``."""
    images = [Image.new("RGB", (96, 80), c) for c in GIF_COLORS[:frames]]
    images[0].save(tmp_path / name, save_all=True, append_images=images[1:], duration=500, loop=0)
    return name


def two_image_conversation(a: str, b: str, last: str = "the red one", last_as_parts: bool = False) -> dict:
    """System prompt, a user turn with images ``a`` and ``b`` and a question, an answer, a text-only
    follow-up and its answer ``last``. With ``last_as_parts`` the last answer is a list of text parts
    instead of a plain string (both forms must give the same labels)."""
    last_content: str | list[dict] = [{"type": "text", "text": last}] if last_as_parts else last
    return {
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": [
                {"type": "image", "path": a}, {"type": "image", "path": b},
                {"type": "text", "text": "What colors are these?"},
            ]},
            {"role": "assistant", "content": "red and blue"},
            {"role": "user", "content": "Which one is first?"},
            {"role": "assistant", "content": last_content},
        ]
    }


def video_conversation(clip: str) -> dict:
    """A user turn with video ``clip`` and a question, an answer, a text-only follow-up and its answer."""
    return {
        "messages": [
            {"role": "user", "content": [{"type": "video", "path": clip}, {"type": "text", "text": "Describe the video."}]},
            {"role": "assistant", "content": "four colors"},
            {"role": "user", "content": "Which is last?"},
            {"role": "assistant", "content": "white"},
        ]
    }


def check_example_config(family_id: str) -> Config:
    """Parse ``src/mmtune/examples/<family_id>/lora.yaml`` and check what every family's example
    shares: the family's hub checkpoint and LoRA r=16, alpha=32 in bf16. Returns the parsed config
    for the caller's family-specific checks."""
    cfg = parse_config(yaml.safe_load(example_path(family_id).read_text()))
    assert cfg.base_model == get_family(family_id).hub_example
    assert (cfg.adapter, cfg.lora_r, cfg.lora_alpha, cfg.bf16) == ("lora", 16, 32, True)
    return cfg


def example_path(family_id: str) -> Path:
    """The family's example LoRA config in the source tree (the file the package ships)."""
    return EXAMPLES / family_id / "lora.yaml"


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


def train_and_reload(ckpt: Path, rows: list[dict], tmp_path: Path, **overrides: Any) -> tuple[TrainResult, Predictor]:
    """Train on ``rows``, check the loss went down and that the reloaded output gives the trained
    model's logits; return the training result and the reloaded predictor."""
    result = run_training(ckpt, rows, tmp_path, **overrides)
    assert_loss_goes_down(result)
    return result, assert_same_logits(result, rows)


def trainable_names(model: torch.nn.Module) -> set[str]:
    """Names of the parameters that training updates."""
    return {n for n, p in model.named_parameters() if p.requires_grad}


def assert_loss_goes_down(result: TrainResult) -> None:
    losses = result.losses
    assert losses and all(math.isfinite(x) for x in losses), losses
    head, tail = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert tail < head, f"loss did not go down: {losses}"


def encode_row(rp: RowProcessor, row: dict, media_base: str = ".", fmt: str = "chat_template") -> dict:
    """Preprocess one raw row; fails the test with the DataError message if the row is rejected."""
    out = rp(RowTask("test.jsonl", media_base, fmt, 0, row))
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
    ds = result.prepared.dataset
    tok = getattr(pred.processor, "tokenizer", pred.processor)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    batch = Collator(pred.family, pad)([ds[0]])
    batch.pop("labels")
    a = logits_on(result.model, pred.family, batch)
    b = logits_on(pred.model, pred.family, batch)
    torch.testing.assert_close(a, b)
    return pred


__all__ = [
    "EXAMPLES", "write_two_images", "write_gif", "two_image_conversation", "video_conversation",
    "check_example_config", "example_path",
    "write_jsonl", "tiny_config", "row_processor", "encode_row", "supervised_text", "run_training",
    "train_and_reload", "trainable_names", "assert_loss_goes_down", "assert_same_logits", "unpack_tensors",
]
