"""Rows of a dataset entry -> one ``RowTask`` per row: what a worker needs to process that row.

Reading is cheap and happens once in the main process; the expensive work (decoding media,
tokenizing) happens per task, in workers. A task carries where its row came from, so every error
can name the dataset and the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from mmtune.config import DatasetConfig
from mmtune.data.formats import Format, RowContext, detect_format, format_by_type
from mmtune.data.media.sources import local_file
from mmtune.data.sources import EXTRA_CELLS, ROW_PROBLEM, load_rows, media_base
from mmtune.errors import ConfigError, DataError


@dataclass(frozen=True)
class RowOptions:
    """A dataset entry's own way of reading and labelling its rows (Axolotl's per-dataset keys),
    carried with each row to the process that converts it. Empty fields: the config's top-level
    choice (or the format's own names)."""

    keys: tuple[tuple[str, str], ...] = ()  # message_property_mappings
    roles: tuple[tuple[str, str], ...] | None = None  # source role name -> mmtune role
    drop_system_message: bool = False
    roles_to_train: tuple[str, ...] | None = None
    train_on_eos: str | None = None
    train_on_eot: str | None = None

    @classmethod
    def of(cls, cfg: DatasetConfig) -> RowOptions:
        table = cfg.role_table()
        return cls(
            keys=tuple((cfg.message_property_mappings or {}).items()),
            roles=None if table is None else tuple(table.items()),
            drop_system_message=cfg.drop_system_message,
            roles_to_train=cfg.trained_roles(),
            train_on_eos=cfg.train_on_eos,
            train_on_eot=cfg.train_on_eot,
        )


@dataclass(frozen=True)
class RowTask:
    """One raw row and its origin: dataset label, the folder its relative media resolve against,
    the input format's name, the 0-based row index, and its dataset's options."""

    dataset: str
    base_dir: str
    format: str
    index: int
    row: dict[str, Any]
    options: RowOptions = field(default_factory=RowOptions)

    def context(self) -> RowContext:
        """What the format's converter needs besides the row."""
        return RowContext(self.base_dir, self.options.keys, self.options.roles)


def dataset_tasks(cfg: DatasetConfig) -> tuple[list[RowTask], int]:
    """One task per row of a dataset entry (its format detected or given), and the row count."""
    ds = load_rows(cfg)
    n = len(ds)
    if n == 0:  # also with `type:` given, as when it is detected: a dataset that adds nothing is a mistake
        selects = f" (split {cfg.split!r} selects no rows)" if cfg.split != "train" else ""
        raise ConfigError(f"{cfg.label}: dataset is empty{selects}")
    rows = [_with_messages_field(ds[i], cfg.field_messages) for i in range(n)]
    readable = [r for r in rows[:50] if not r.get(ROW_PROBLEM)][:5]
    if not readable and not cfg.type:  # not "dataset is empty": it has rows, none of them readable
        raise ConfigError(f"{cfg.label}: none of the first {min(n, 50)} rows could be read ({rows[0][ROW_PROBLEM]})")
    fmt = format_by_type(cfg.type) if cfg.type else _detect(readable, cfg)
    if not fmt.message_rows and (cfg.message_property_mappings or cfg.roles):
        raise ConfigError(
            f"{cfg.label}: message_property_mappings / roles name the keys and roles of messages, and "
            f"{fmt.name!r} rows have none; remove them or set the dataset's type"
        )
    base, options = media_base(cfg), RowOptions.of(cfg)
    return [RowTask(cfg.label, base, fmt.name, i, row, options) for i, row in enumerate(rows)], n


def _detect(rows: list[dict[str, Any]], cfg: DatasetConfig) -> type[Format]:
    """The format of the rows; rows under renamed message keys (message_property_mappings) that no
    format recognises are Axolotl's chat_template rows, which is the format those keys belong to."""
    try:
        return detect_format(rows, cfg.label)
    except ConfigError:
        if not cfg.message_property_mappings:
            raise
        return format_by_type("chat_template")


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


def media_sources(tasks: list[RowTask]) -> tuple[set[str], set[str]]:
    """Every local file (found or not) and every http(s) URL the rows' media refer to, read without
    decoding or fetching anything: what a cache of preprocessed rows must watch.

    Rows a format cannot read are skipped here: preprocessing reports them.
    """
    files: set[str] = set()
    urls: set[str] = set()
    for t in tasks:
        try:
            conv = format_by_type(t.format).convert(t.row, t.context())
        except DataError:
            continue
        for part in conv.media():
            if (f := local_file(part.ref)) is not None:
                files.add(f)
            elif part.ref.url is not None and urlparse(part.ref.url).scheme.lower() in ("http", "https"):
                urls.add(part.ref.url)
    return files, urls
