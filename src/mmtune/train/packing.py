"""Sample packing (``sample_packing: true``): several preprocessed rows share one sequence.

Rows are grouped into packs of at most ``sequence_len`` tokens (first-fit decreasing over the
cached lengths, with a cap on media per pack so one pack never feeds the vision tower an
unbounded number of images). A pack is one sequence whose rows must not see each other: the
collator sends no ``attention_mask`` and restarts ``position_ids`` at 0 for every row, and
transformers' mask builders (``masking_utils.find_packed_sequence_indices``) turn restarting
positions into a block-diagonal causal mask when the 2-D mask is None. Families with multi-axis
rope (Qwen-VL) get each row's positions from the model's own rope index, computed row by row and
concatenated, behind the 1-D restarting positions the mask builder reads (``[4, batch, L]``).

Which families may pack is theirs to declare (``Family.can_pack``); ``tests/test_packing.py``
checks for each that a packed batch gives every row the loss and gradients it gets alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from mmtune.models.families.base import Family
from mmtune.preprocess.codec import row_tensors
from mmtune.train.collator import _pad_cat
from mmtune.transforms.labels import IGNORE

# At most this many media items (images, clips, audio) in one pack: the vision/audio encoder runs
# on all of a batch's media at once, so a pack of many short image rows would otherwise multiply
# the encoder's peak memory compared with unpacked training. First-fit decreasing leaves the short
# rows (often one image and a short answer) for the last packs, so a tight cap leaves those packs
# part empty: on the benchmark's data (docs/benchmarks.md) packs are 86% full at 8 and 98% at 16.
MAX_MEDIA_PER_PACK = 16


def pack_rows(
    lengths: Sequence[int], media: Sequence[int], sequence_len: int, max_media: int = MAX_MEDIA_PER_PACK
) -> list[list[int]]:
    """Row indices grouped into packs (first-fit decreasing): each pack's lengths sum to at most
    ``sequence_len`` and its media to at most ``max_media``; every row lands in exactly one pack
    (a row alone over a limit gets a pack of its own). Indices within a pack are ascending, so its
    media keep the dataset's order."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    packs: list[list[int]] = []
    room: list[int] = []
    slots: list[int] = []
    for i in order:
        for p in range(len(packs)):
            if lengths[i] <= room[p] and media[i] <= slots[p]:
                packs[p].append(i)
                room[p] -= lengths[i]
                slots[p] -= media[i]
                break
        else:
            packs.append([i])
            room.append(sequence_len - lengths[i])
            slots.append(max_media - media[i])
    return [sorted(p) for p in packs]


class PackedDataset(torch.utils.data.Dataset):
    """A dataset of packs: item ``k`` is the list of rows of pack ``k``. Not a ``datasets.Dataset``,
    so the Trainer leaves its columns alone."""

    def __init__(self, rows: Any, sequence_len: int, max_media: int = MAX_MEDIA_PER_PACK):
        self.rows = rows
        # the cached ``length`` column when there is one: reading every row's ids would decode the table
        names = getattr(rows, "column_names", ())
        lengths = list(rows["length"]) if "length" in names else [len(x) for x in rows["input_ids"]]
        self.packs = pack_rows(lengths, list(rows["n_media"]), sequence_len, max_media)

    def __len__(self) -> int:
        return len(self.packs)

    def __getitem__(self, k: int) -> list[dict[str, Any]]:
        return [self.rows[i] for i in self.packs[k]]


class PackingCollator:
    """Batches of packs: each pack's rows concatenated into one sequence, positions restarting per
    row, no attention mask; packs right-padded to the longest, the padding forming a block of its
    own (its positions restart too) that carries no labels."""

    def __init__(
        self,
        family: type[Family],
        pad_token_id: int,
        positions: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = None,
        transform: Any = None,
    ):
        self.family = family
        self.pad_token_id = pad_token_id
        # makes the media tensors of rows whose cache keeps decoded media (``preprocess.codec.row_tensors``)
        self.transform = transform
        # one row's multi-axis rope positions [axes, L] (``Family.packed_positions``); None: 1-D rope
        self.positions = positions

    def _pack(self, rows: list[dict[str, Any]], media: dict[str, list[torch.Tensor]]) -> dict[str, torch.Tensor]:
        """One pack's sequence tensors; its rows' media tensors are appended to ``media`` in row order."""
        ids, labels, text_pos, rope_pos = [], [], [], []
        token: dict[str, dict[int, torch.Tensor]] = {}
        for r in rows:
            row_ids = torch.as_tensor(r["input_ids"], dtype=torch.long)
            row_labels = torch.as_tensor(r["labels"], dtype=torch.long).clone()
            row_labels[0] = IGNORE  # alone, a row's first token is never predicted; packed, the previous row would
            n = len(row_ids)
            tensors = row_tensors(r, self.transform)
            ids.append(row_ids)
            labels.append(row_labels)
            text_pos.append(torch.arange(n))
            if self.positions is not None:
                rope_pos.append(self.positions({"input_ids": row_ids[None], **tensors}))
            for key, t in tensors.items():
                if key in self.family.token_keys:
                    token.setdefault(key, {})[len(ids) - 1] = t[0].to(torch.long)
                else:
                    media.setdefault(key, []).append(t)
        out = {"input_ids": torch.cat(ids), "labels": torch.cat(labels), "text_pos": torch.cat(text_pos)}
        if rope_pos:
            out["rope_pos"] = torch.cat(rope_pos, dim=1)
        for key, ts in token.items():  # a row without a per-token key (text only) holds zeros there
            out[key] = torch.cat([ts.get(j, ids[j].new_zeros(len(ids[j]))) for j in range(len(rows))])
        return out

    def __call__(self, packs: list[list[dict[str, Any]]]) -> dict[str, Any]:
        media: dict[str, list[torch.Tensor]] = {}
        seqs = [self._pack(p, media) for p in packs]
        n = max(len(s["input_ids"]) for s in seqs)
        b = len(seqs)
        batch: dict[str, Any] = {
            "input_ids": torch.full((b, n), self.pad_token_id, dtype=torch.long),
            "labels": torch.full((b, n), IGNORE, dtype=torch.long),
        }
        pos = torch.arange(n).repeat(b, 1)
        rope = torch.arange(n).repeat(3, b, 1) if self.positions is not None else None
        for i, s in enumerate(seqs):
            k = len(s["input_ids"])
            batch["input_ids"][i, :k] = s["input_ids"]
            batch["labels"][i, :k] = s["labels"]
            pos[i, :k] = s["text_pos"]
            pos[i, k:] = torch.arange(n - k)
            if rope is not None:
                rope[:, i, :k] = s["rope_pos"]
                rope[:, i, k:] = torch.arange(n - k)
            for key in self.family.token_keys & s.keys():
                if key not in batch:
                    batch[key] = s[key].new_zeros((b, n))
                batch[key][i, :k] = s[key]
        # Multi-axis rope takes [1 + axes, batch, L]: the first row is the text positions the mask
        # builder reads to find the packed rows, the rest the rope positions.
        batch["position_ids"] = pos if rope is None else torch.cat([pos[None], rope])
        # transformers reads restarting positions as packed rows only without a cache (a model in eval
        # mode, or whose config says use_cache, would build one and silently let rows see each other)
        batch["use_cache"] = False
        for key in sorted(media):
            batch[key] = _pad_cat(media[key])
        return batch
