"""Reusable checks the family tests run: training steps, reload, predict.

Used by the family table (tests/test_families.py), the per-family quirk files
(tests/test_family_<id>.py) and the foundation tests, so each family proves the same things.
Also the media files and conversations those tests share, so every family sees the same rows.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import torch
from PIL import Image

from mmtune.config import parse_config
from mmtune.data.intake import RowTask
from mmtune.outputs.predict import Predictor
from mmtune.preprocess.codec import pack_tensors, row_tensors, unpack_tensors
from mmtune.preprocess.rows import RowProcessor
from mmtune.preprocess.settings import settings_from_config
from mmtune.train.collator import Collator
from mmtune.train.recipe import TrainResult, train

EXAMPLES = Path(__file__).resolve().parents[1] / "src/mmtune/examples"
GIF_COLORS = ("red", "green", "blue", "white")
IGNORE = -100


# -- media files -----------------------------------------------------------------------------------


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


def write_tone(path: Path, seconds: float, hz: float = 440.0, rate: int = 16_000) -> str:
    """A sine wave of ``seconds`` at ``hz`` written at ``rate`` Hz; returns the file's name."""
    t = np.arange(int(rate * seconds)) / rate
    sf.write(path, (0.3 * np.sin(2 * np.pi * hz * t)).astype(np.float32), rate)
    return path.name


def write_two_clips(tmp_path: Path) -> tuple[str, str]:
    """``a.wav`` (1.5 s at 440 Hz) and ``b.wav`` (0.7 s at 220 Hz) under ``tmp_path``; their names."""
    return write_tone(tmp_path / "a.wav", 1.5, 440.0), write_tone(tmp_path / "b.wav", 0.7, 220.0)


def write_image_and_tones(tmp_path: Path) -> tuple[str, str, str]:
    """``red.png`` (90x70), ``beep.wav`` (1.5 s, a 22.05 kHz file that decoding resamples to the
    feature extractor's 16 kHz) and ``hum.wav`` (0.6 s at 220 Hz); their names."""
    Image.new("RGB", (90, 70), "red").save(tmp_path / "red.png")
    return "red.png", write_tone(tmp_path / "beep.wav", 1.5, rate=22_050), write_tone(tmp_path / "hum.wav", 0.6, 220.0)


# -- conversations ---------------------------------------------------------------------------------


def two_image_conversation(a: str, b: str, last: str = "the red one", last_as_parts: bool = False) -> dict:
    """System prompt, a user turn with images ``a`` and ``b`` and a question, an answer, a text-only
    follow-up and its answer ``last``. With ``last_as_parts`` the last answer is a list of text parts
    instead of a plain string (both forms must give the same labels)."""
    last_content: str | list[dict] = [{"type": "text", "text": last}] if last_as_parts else last
    return {
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {
                "role": "user",
                "content": [
                    {"type": "image", "path": a},
                    {"type": "image", "path": b},
                    {"type": "text", "text": "What colors are these?"},
                ],
            },
            {"role": "assistant", "content": "red and blue"},
            {"role": "user", "content": "Which one is first?"},
            {"role": "assistant", "content": last_content},
        ]
    }


def video_conversation(clip: str) -> dict:
    """A user turn with video ``clip`` and a question, an answer, a text-only follow-up and its answer."""
    return {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "video", "path": clip}, {"type": "text", "text": "Describe the video."}],
            },
            {"role": "assistant", "content": "four colors"},
            {"role": "user", "content": "Which is last?"},
            {"role": "assistant", "content": "white"},
        ]
    }


def two_video_conversation(first: str, second: str) -> dict:
    """Two videos of different lengths in different turns."""
    return {
        "messages": [
            {"role": "user", "content": [{"type": "video", "path": first}, {"type": "text", "text": "Describe it."}]},
            {"role": "assistant", "content": "four colors"},
            {"role": "user", "content": [{"type": "video", "path": second}, {"type": "text", "text": "And this?"}]},
            {"role": "assistant", "content": "two colors"},
        ]
    }


def audio_conversation(a: object, b: object) -> dict:
    """Two clips in the first user turn, a question, an answer, a text-only follow-up and its answer.
    No system turn (Voxtral's v7 format forbids it with audio). A clip is a path or a 16 kHz array."""

    def part(x: object) -> dict:
        return (
            {"type": "audio", "path": x}
            if isinstance(x, str)
            else {"type": "audio", "audio": x, "sampling_rate": 16_000}
        )

    return {
        "messages": [
            {"role": "user", "content": [part(a), part(b), {"type": "text", "text": "Which tone is higher?"}]},
            {"role": "assistant", "content": "the first"},
            {"role": "user", "content": "How many clips?"},
            {"role": "assistant", "content": "two"},
        ]
    }


def image_audio_conversation(img: str, beep: str, hum: str) -> dict:
    """System prompt, a user turn with an image, a clip and a question, an answer, a user turn with
    another clip, its answer."""
    return {
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {
                "role": "user",
                "content": [
                    {"type": "image", "path": img},
                    {"type": "audio", "path": beep},
                    {"type": "text", "text": "What do you see and hear?"},
                ],
            },
            {"role": "assistant", "content": "red and a beep"},
            {"role": "user", "content": [{"type": "audio", "path": hum}, {"type": "text", "text": "And now?"}]},
            {"role": "assistant", "content": "a hum"},
        ]
    }


def one_media_conversation(kind: str, path: str, question: str, answer: str) -> dict:
    """One user turn with one media item of ``kind`` and a question, and its answer."""
    return {
        "messages": [
            {"role": "user", "content": [{"type": kind, "path": path}, {"type": "text", "text": question}]},
            {"role": "assistant", "content": answer},
        ]
    }


def example_path(family_id: str) -> Path:
    """The family's example LoRA config in the source tree (the file the package ships)."""
    return EXAMPLES / family_id / "lora.yaml"


# -- preprocessing one row -------------------------------------------------------------------------


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


def row_task(row: dict, base_dir: str = ".", dataset: str = "test.jsonl", index: int = 0) -> RowTask:
    return RowTask(dataset=dataset, base_dir=base_dir, format="chat_template", index=index, row=row)


def encode_row(rp: RowProcessor, row: dict, media_base: str = ".") -> dict:
    """Preprocess one raw row; fails the test with the DataError message if the row is rejected."""
    out = rp(row_task(row, media_base))
    assert isinstance(out, dict), str(out)
    # ``mm`` with every model tensor, also those the processor makes at batch time from the stored
    # media (the row keeps its ``media`` too, so a collator makes them again, the training path)
    out["mm"] = pack_tensors(row_tensors(out, rp.transform))
    return out


def tokenizer(rp: RowProcessor | Predictor) -> Any:
    return getattr(rp.processor, "tokenizer", rp.processor)


def supervised_text(rp: RowProcessor, encoded: dict) -> str:
    return tokenizer(rp).decode([t for t in encoded["labels"] if t != IGNORE], skip_special_tokens=False)


def supervised_ids(encoded: dict) -> set[int]:
    return {t for t in encoded["labels"] if t != IGNORE}


def label_spans(labels: list[int]) -> list[list[int]]:
    """Contiguous runs of supervised token ids."""
    runs, cur = [], []
    for t in labels:
        if t == IGNORE:
            if cur:
                runs.append(cur)
            cur = []
        else:
            cur.append(t)
    return runs + ([cur] if cur else [])


def media_ids(rp: RowProcessor, tokens: tuple[str, ...] | None = None) -> set[int]:
    """Ids of ``tokens`` (default: the family's media tokens) in the row processor's vocabulary."""
    tok = tokenizer(rp)
    return {tok.convert_tokens_to_ids(t) for t in (tokens if tokens is not None else rp.family.media_tokens)}


def layout(tok: Any, ids: list[int]) -> str:
    """The decoded row with each run of a repeated media token written once as ``tok*n``."""
    text = tok.decode(ids, skip_special_tokens=False)
    return re.sub(
        r"(<\|image_pad\|>|<\|video_pad\|>|<IMG_CONTEXT>)(\1)*", lambda m: f"{m[1]}*{len(m[0]) // len(m[1])}", text
    )


def assert_one_img_token_per_cell(rp: RowProcessor, enc: dict, cell: int) -> None:
    """Mistral-style image rows: one ``[IMG]`` per ``cell`` x ``cell`` pixels of each resized image."""
    sizes = unpack_tensors(enc["mm"])["image_sizes"].tolist()
    img = tokenizer(rp).convert_tokens_to_ids("[IMG]")
    assert enc["input_ids"].count(img) == sum((h // cell) * (w // cell) for h, w in sizes)


# -- training, reload, predict ---------------------------------------------------------------------


def run_training(ckpt: Path, rows: list[dict], tmp_path: Path, **overrides: Any) -> TrainResult:
    data = write_jsonl(tmp_path / "train.jsonl", rows)
    cfg = tiny_config(ckpt, data, tmp_path, **overrides)
    return train(cfg)


def train_and_reload(ckpt: Path, rows: list[dict], tmp_path: Path, **overrides: Any) -> tuple[TrainResult, Predictor]:
    """Train on ``rows``, check the loss went down and that the reloaded output gives the trained
    model's logits; return the training result and the reloaded predictor."""
    result = run_training(ckpt, rows, tmp_path, **overrides)
    assert_loss_goes_down(result)
    return result, assert_same_logits(result)


def trainable_names(model: torch.nn.Module) -> set[str]:
    """Names of the parameters that training updates."""
    return {n for n, p in model.named_parameters() if p.requires_grad}


def assert_loss_goes_down(result: TrainResult) -> None:
    losses = result.losses
    assert losses and all(math.isfinite(x) for x in losses), losses
    head, tail = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert tail < head, f"loss did not go down: {losses}"


def logits_on(model: Any, family: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        inputs = family.prepare_inputs(dict(batch), model.dtype)
        return model(**inputs).logits


def assert_same_logits(result: TrainResult) -> Predictor:
    """Reloaded weights equal the trained ones: same logits on a real preprocessed batch."""
    pred = Predictor(result.output_dir)
    ds = result.prepared.dataset
    tok = tokenizer(pred)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    batch = Collator(pred.family, pad, pred.transform)([ds[0]])
    batch.pop("labels")
    a = logits_on(result.model, pred.family, batch)
    b = logits_on(pred.model, pred.family, batch)
    torch.testing.assert_close(a, b)
    return pred


def assert_generates(pred: Predictor, prompt: str, k: int = 3, **media: list) -> str:
    """The prompt the predictor builds (media included) drives ``generate`` for exactly ``k`` new
    tokens, and ``pred.generate`` answers with the decode of those tokens. Returns the answer."""
    inputs = pred.inputs(pred.conversation(prompt, **media))
    n = inputs["input_ids"].shape[1]
    tok = tokenizer(pred)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    out = pred.model.generate(**inputs, min_new_tokens=k, max_new_tokens=k, do_sample=False, pad_token_id=pad)
    assert out.shape == (1, n + k)
    expected = tok.decode(out[0, n:], skip_special_tokens=True).strip()
    # the same k tokens through the predictor: its greedy generate may not stop before k tokens either
    config = pred.model.generation_config
    config.min_new_tokens = k
    try:
        answer = pred.generate(prompt, max_new_tokens=k, **media)
    finally:
        config.min_new_tokens = None
    assert answer == expected
    return answer


__all__ = [
    "EXAMPLES",
    "IGNORE",
    "write_two_images",
    "write_gif",
    "write_tone",
    "write_two_clips",
    "write_image_and_tones",
    "two_image_conversation",
    "video_conversation",
    "two_video_conversation",
    "audio_conversation",
    "image_audio_conversation",
    "one_media_conversation",
    "example_path",
    "write_jsonl",
    "tiny_config",
    "row_processor",
    "row_task",
    "encode_row",
    "tokenizer",
    "supervised_text",
    "supervised_ids",
    "label_spans",
    "media_ids",
    "layout",
    "assert_one_img_token_per_cell",
    "run_training",
    "train_and_reload",
    "trainable_names",
    "assert_loss_goes_down",
    "assert_same_logits",
    "assert_generates",
    "unpack_tensors",
]
