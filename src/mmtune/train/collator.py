"""Batches of preprocessed rows: pad and stack, nothing else (DESIGN.md, principle 2).

Sequence keys are right-padded (labels with -100); keys the family marks as batched are padded
in every dimension to the batch maximum with zeros and stacked (e.g. Mllama's per-image tiles);
all other tensors are concatenated along dim 0 (e.g. Qwen's flattened patches and grids).
"""

from __future__ import annotations

from typing import Any

import torch

from mmtune.models.families.base import Family
from mmtune.preprocess.codec import row_tensors
from mmtune.transforms.labels import IGNORE


def _pad_stack(tensors: list[torch.Tensor], value: float | int = 0) -> torch.Tensor:
    """Stack [1, *dims] tensors, zero-padding each dim (after the first) to the batch maximum."""
    shape = [max(t.shape[d] for t in tensors) for d in range(1, tensors[0].dim())]
    out = tensors[0].new_full((len(tensors), *shape), value)
    for i, t in enumerate(tensors):
        out[(i, *[slice(0, s) for s in t.shape[1:]])] = t[0]
    return out


def _pad_cat(tensors: list[torch.Tensor]) -> torch.Tensor:
    """Concatenate along dim 0; where later dims differ between rows, zero-pad them to the maximum.

    Pixtral-style image processors give each row ``[n_images, 3, H, W]`` padded to that row's
    largest image; the true sizes travel in ``image_sizes``, so padding across rows is safe.
    """
    if all(t.shape[1:] == tensors[0].shape[1:] for t in tensors):
        return torch.cat(tensors, dim=0)
    shape = [max(t.shape[d] for t in tensors) for d in range(1, tensors[0].dim())]
    out = tensors[0].new_zeros((sum(t.shape[0] for t in tensors), *shape))
    row = 0
    for t in tensors:
        out[(slice(row, row + t.shape[0]), *[slice(0, s) for s in t.shape[1:]])] = t
        row += t.shape[0]
    return out


class Collator:
    def __init__(self, family: type[Family], pad_token_id: int, transform: Any = None):
        self.family = family
        self.pad_token_id = pad_token_id
        # makes the media tensors of rows whose cache keeps decoded media (``preprocess.codec.row_tensors``)
        self.transform = transform

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        n = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), n), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(rows), n), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(rows), n), dtype=torch.long)
        for i, r in enumerate(rows):
            k = len(r["input_ids"])
            ids[i, :k] = torch.as_tensor(r["input_ids"])
            labels[i, :k] = torch.as_tensor(r["labels"])
            mask[i, :k] = 1
        batch: dict[str, torch.Tensor] = {"input_ids": ids, "labels": labels, "attention_mask": mask}
        extras = [row_tensors(r, self.transform) for r in rows]
        keys = {k for e in extras for k in e}
        for key in sorted(keys):
            present = [e[key] for e in extras if key in e]
            if key in self.family.batched_keys:
                if len(present) != len(rows):  # a row without this input: pad with zeros of the right rank
                    ref = present[0]
                    present = [e.get(key, ref.new_zeros((1, *[0] * (ref.dim() - 1)))) for e in extras]
                batch[key] = _pad_stack(present)
            else:
                batch[key] = _pad_cat(present)
        return batch
