"""The Arrow codec of the preprocessing cache: per-row tensors <-> bytes, and decoded media <-> bytes.

A row's family tensors (grids, token type ids, ...) fit one binary column (``mm``). Its media are
stored as decoding left them (``media``: RGB pixels as uint8, video frames as uint8, resampled audio)
with the text of the processor call, and the processor turns them into model tensors when a batch is
built (``row_tensors``). The processor's float32 ``pixel_values`` are 4-8x the uint8 pixels (Qwen's
image patches even repeat each frame twice), so a cache of them grows to terabytes at a million rows;
the processor call at batch time is deterministic, so the batch is bit-identical
(``tests/test_cache_media.py``).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load, save

from mmtune.data.media.video import VideoClip


def pack_tensors(tensors: dict[str, torch.Tensor]) -> bytes:
    if not tensors:
        return b""
    return save({k: v.contiguous() for k, v in tensors.items()})


def unpack_tensors(blob: bytes) -> dict[str, torch.Tensor]:
    return load(blob) if blob else {}


def _image_tensor(img: Image.Image) -> tuple[torch.Tensor, str]:
    return torch.from_numpy(np.array(img)), img.mode


def _image(t: torch.Tensor, mode: str) -> Image.Image:
    return Image.fromarray(t.numpy(), mode=mode)


def pack_media(text: str | None, media: list[tuple[str, Any]]) -> bytes:
    """The decoded media of one row (``(kind, value)`` in row order: PIL images, ``VideoClip`` s,
    audio arrays) and the text of its processor call, as bytes."""
    if not media:
        return b""
    tensors: dict[str, torch.Tensor] = {}
    items: list[dict[str, Any]] = []
    for i, (kind, value) in enumerate(media):
        if isinstance(value, Image.Image):
            tensors[f"{i}"], mode = _image_tensor(value)
            items.append({"kind": kind, "as": "image", "mode": mode})
        elif isinstance(value, VideoClip):
            modes = []
            for j, frame in enumerate(value.frames):  # frames kept one by one: sizes may differ
                tensors[f"{i}.{j}"], mode = _image_tensor(frame)
                modes.append(mode)
            items.append(
                {
                    "kind": kind,
                    "as": "video",
                    "modes": modes,
                    "fps": value.fps,
                    "indices": list(value.indices),
                    "total": value.total_frames,
                }
            )
        elif isinstance(value, np.ndarray):
            tensors[f"{i}"] = torch.from_numpy(np.ascontiguousarray(value))
            items.append({"kind": kind, "as": "array"})
        else:
            raise TypeError(f"cannot store decoded {kind} of type {type(value).__name__}")
    meta = {"text": json.dumps(text), "items": json.dumps(items)}
    return save({k: v.contiguous() for k, v in tensors.items()}, metadata=meta)


def _metadata(blob: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors blob: its header is 8 bytes of length, then JSON."""
    n = int.from_bytes(blob[:8], "little")
    return json.loads(blob[8 : 8 + n]).get("__metadata__", {})


def unpack_media(blob: bytes) -> tuple[str | None, list[tuple[str, Any]]]:
    """``pack_media``'s text and media, as decoding made them (pixel for pixel, sample for sample)."""
    if not blob:
        return None, []
    meta, tensors = _metadata(blob), load(blob)
    media: list[tuple[str, Any]] = []
    for i, item in enumerate(json.loads(meta["items"])):
        if item["as"] == "image":
            value: Any = _image(tensors[f"{i}"], item["mode"])
        elif item["as"] == "video":
            frames = [_image(tensors[f"{i}.{j}"], mode) for j, mode in enumerate(item["modes"])]
            value = VideoClip(frames, item["fps"], item["indices"], item["total"])
        else:
            value = tensors[f"{i}"].numpy()
        media.append((item["kind"], value))
    return json.loads(meta["text"]), media


def row_tensors(row: dict[str, Any], transform: Any) -> dict[str, torch.Tensor]:
    """All model tensors of a cached row: the stored ones, plus those the transform's processor makes
    from the row's stored media (``transform.batch_tensors``)."""
    tensors = unpack_tensors(row["mm"])
    blob = row.get("media")
    if blob:
        text, media = unpack_media(blob)
        tensors.update(transform.batch_tensors(text, media))
    return tensors
