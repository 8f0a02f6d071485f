"""The Arrow codec for family tensors: per-row tensors <-> bytes, so every family's extra inputs
(pixels, grids, token type ids, ...) fit one binary column of the preprocessing cache."""

from __future__ import annotations

import torch
from safetensors.torch import load, save


def pack_tensors(tensors: dict[str, torch.Tensor]) -> bytes:
    if not tensors:
        return b""
    return save({k: v.contiguous() for k, v in tensors.items()})


def unpack_tensors(blob: bytes) -> dict[str, torch.Tensor]:
    return load(blob) if blob else {}
