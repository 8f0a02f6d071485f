"""Rows of a dataset entry -> one ``RowTask`` per row: what a worker needs to process that row.

Reading is cheap and happens once in the main process; the expensive work (decoding media,
tokenizing) happens per task, in workers. A task carries where its row came from, so every error
can name the dataset and the row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mmtune.config import DatasetConfig
from mmtune.data.formats import RowContext, detect_format, format_by_type
from mmtune.data.media.sources import local_file
from mmtune.data.sources import EXTRA_CELLS, ROW_PROBLEM, load_rows, media_base
from mmtune.errors import DataError


@dataclass(frozen=True)
class RowTask:
    """One raw row and its origin: dataset label, the folder its relative media resolve against,
    the input format's name, and the 0-based row index."""

    dataset: str
    base_dir: str
    format: str
    index: int
    row: dict[str, Any]


def dataset_tasks(cfg: DatasetConfig) -> tuple[list[RowTask], int]:
    """One task per row of a dataset entry (its format detected or given), and the row count."""
    ds = load_rows(cfg)
    n = len(ds)
    rows = [_with_messages_field(ds[i], cfg.field_messages) for i in range(n)]
    readable = [r for r in rows[:50] if not r.get(ROW_PROBLEM)][:5]
    fmt = format_by_type(cfg.type) if cfg.type else detect_format(readable, cfg.label)
    base = media_base(cfg)
    return [RowTask(cfg.label, base, fmt.name, i, row) for i, row in enumerate(rows)], n


def _with_messages_field(row: dict, field: str | None) -> dict:
    """Axolotl's ``field_messages``: the conversation lives in another column (e.g. "conversation")."""
    if not field or field == "messages":
        return row
    if field not in row:
        return row  # the format's own check reports the missing conversation for this row
    return {**{k: v for k, v in row.items() if k != field}, "messages": row[field]}


def check_row(row: dict[str, Any]) -> None:
    """What the reader saw but a format cannot: a JSONL line that is no object, a CSV row with more
    cells than its header."""
    if row.get(ROW_PROBLEM):
        raise DataError(row[ROW_PROBLEM], field="line")
    extra = row.get(EXTRA_CELLS)
    if extra:
        cells = ", ".join(repr(c) for c in extra)
        raise DataError(
            f"the row has {len(extra)} more cell(s) than the header ({cells}); quote cells that contain commas",
            field="csv",
        )


def media_files(tasks: list[RowTask]) -> set[str]:
    """Every local file the rows' media refer to (found or not), read without decoding anything.

    Rows a format cannot read are skipped here: preprocessing reports them.
    """
    files: set[str] = set()
    for t in tasks:
        try:
            conv = format_by_type(t.format).convert(t.row, RowContext(t.base_dir))
        except DataError:
            continue
        files.update(f for part in conv.media() if (f := local_file(part.ref)) is not None)
    return files
