"""Chunks -> model inputs and labels.

All model inputs come from one processor call on the whole rendered text (so family extras such
as grids, token type ids or cross-attention masks are exactly what the processor makes). Each
chunk is also tokenized on its own to learn how many tokens it spans; the concatenation must
equal the whole, which holds because chunk borders sit at special tokens or whitespace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from mmtune.errors import DataError
from mmtune.models.families.base import Family
from mmtune.preprocess.render import Chunk

IGNORE = -100


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    tensors: dict[str, torch.Tensor]


def media_by_modality(parts: list) -> dict[str, list]:
    out: dict[str, list] = {}
    for p in parts:
        out.setdefault(p.type, []).append(p.value)
    return out


def media_token_ids(family: type[Family], processor: Any) -> set[int]:
    tok = getattr(processor, "tokenizer", processor)
    ids = set()
    for t in family.media_tokens:
        i = tok.convert_tokens_to_ids(t)
        if i is not None and i != getattr(tok, "unk_token_id", None):
            ids.add(i)
    return ids


def encode_chunks(family: type[Family], processor: Any, chunks: list[Chunk], media_ids: set[int]) -> Encoded:
    text = "".join(c.text for c in chunks)
    all_media = [p for c in chunks for p in c.media]
    try:
        tensors = family.encode_full(processor, text, media_by_modality(all_media))
    except DataError:
        raise
    except Exception as e:  # processors raise ValueError/RuntimeError on bad media; name it
        raise DataError(f"the processor rejected this row ({type(e).__name__}: {e})") from None
    input_ids = tensors.pop("input_ids")[0].tolist()
    tensors.pop("attention_mask", None)
    pieces: list[int] = []
    supervised: list[bool] = []
    for c in chunks:
        ids = family.chunk_ids(processor, c.text, media_by_modality(c.media))
        pieces.extend(ids)
        supervised.extend([c.supervised] * len(ids))
    if pieces != input_ids:
        raise RuntimeError(
            f"family {family.id}: per-message tokenization ({len(pieces)} tokens) differs from the whole "
            f"({len(input_ids)} tokens); the family's chunking needs fixing"
        )
    labels = [tid if (sup and tid not in media_ids) else IGNORE for sup, tid in zip(supervised, input_ids)]
    return Encoded(input_ids, labels, tensors)
