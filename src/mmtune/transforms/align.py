"""When per-message tokenization differs from the whole row's, train on the per-message tokens.

Real BPE tokenizers merge across a message border: Qwen's and Llama 3's tokenizers turn the
header's ``"\\n"`` and an answer's leading ``"\\n"`` into one ``"\\n\\n"`` token when the row is
tokenized whole. At inference the model sees the prompt (ending with the assistant header)
tokenized alone and then generates the answer, so the chunk-wise tokens are the faithful
training input. The processor's per-token tensors (token type ids, cross-attention masks) were
computed for the whole row; they are carried over to the chunk-wise sequence by aligning the two
token lists. Media tokens must be identical in both, or the row is refused.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import torch

from mmtune.errors import DataError


def source_positions(whole: list[int], pieces: list[int], media_ids: frozenset[int] | set[int]) -> list[int]:
    """For each token of ``pieces``, the position in ``whole`` whose per-token values it takes."""
    sm = difflib.SequenceMatcher(a=whole, b=pieces, autojunk=False)
    src: list[int] = []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            src.extend(range(i1, i2))
            continue
        if (set(whole[i1:i2]) | set(pieces[j1:j2])) & media_ids:
            raise DataError(
                "media placeholder tokens differ between the per-message and the whole-row tokenization "
                "(the text next to a media item merges into it); the row cannot be labelled"
            )
        # a text token next to the change: its per-token values are those of text, never of media
        if i1 < i2:
            at = i1
        elif i1 > 0 and whole[i1 - 1] not in media_ids:
            at = i1 - 1
        else:
            at = min(i1, len(whole) - 1)
        src.extend([at] * (j2 - j1))
    return src


def realign(
    tensors: dict[str, torch.Tensor],
    whole: list[int],
    pieces: list[int],
    token_keys: Iterable[str],
    media_ids: frozenset[int] | set[int],
) -> dict[str, torch.Tensor]:
    """``tensors`` with every per-token tensor (``token_keys``, sequence on dim 1) re-indexed from
    the whole row's positions to the chunk-wise sequence ``pieces``."""
    index = torch.tensor(source_positions(whole, pieces, media_ids), dtype=torch.long)
    out = dict(tensors)
    for key in token_keys:
        t = tensors.get(key)
        if t is not None and t.dim() >= 2 and t.shape[1] == len(whole):
            out[key] = t.index_select(1, index)
    return out
