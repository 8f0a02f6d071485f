"""``mmtune inspect``: which tokens of the first rows are trained on, before spending compute.

Returns plain data (rows of decoded pieces with a supervised flag); the CLI colours it or prints
it as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmtune.config import Config
from mmtune.preprocess.cache import prepare
from mmtune.preprocess.settings import settings_from_config
from mmtune.transforms.labels import IGNORE


@dataclass
class RowView:
    dataset: str
    row: int
    input_ids: list[int]
    labels: list[int]
    pieces: list[str]  # the text each token adds, decoded in context

    @property
    def supervised(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "row": self.row, "input_ids": self.input_ids, "labels": self.labels}


def _piece(tok: Any, ids: list[int], i: int) -> str:
    """The text token ``i`` adds, decoded in context: SentencePiece tokenizers drop a word's
    leading space when a token is decoded alone."""
    ctx = ids[max(0, i - 8) : i]
    return tok.decode(ctx + [ids[i]])[len(tok.decode(ctx)) :]


def preview_rows(cfg: Config, rows: int = 3, pieces: bool = True) -> list[RowView]:
    """The first ``rows`` preprocessed rows of ``cfg`` (preprocessing them, or from the cache)."""
    settings, processor = settings_from_config(cfg)
    prep = prepare(cfg, settings, processor=processor)
    ds = prep.dataset.select(range(min(rows, len(prep.dataset))))
    tok = getattr(processor, "tokenizer", processor)
    out = []
    for r in ds:
        ids = r["input_ids"]
        text = [_piece(tok, ids, i) for i in range(len(ids))] if pieces else []
        out.append(RowView(r["dataset"], r["row"], ids, r["labels"], text))
    return out
