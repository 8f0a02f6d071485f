"""Dataset entry -> rows. Every row keeps its 0-based index (after ``split``) so errors can name it.

Sources: .json / .jsonl / .csv / .xlsx / .parquet files, folders written by
``datasets.save_to_disk`` (a Dataset, or a DatasetDict and the split's name), other local
folders ``datasets.load_dataset`` understands, and hub names.

Media columns of HF datasets (``Image``, ``Audio``, ``Video``, ``Pdf`` features) are read
*undecoded* (``{"bytes", "path"}``): decoding happens once, in the preprocess workers, where a
bad file becomes a row-level error instead of a crash while reading the table.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import datasets

from mmtune.config import DatasetConfig
from mmtune.data.xlsx import read_sheet
from mmtune.errors import ConfigError

_SPLIT_RE = re.compile(r"^(?P<name>[\w.-]+)(\[(?P<slice>[^\]]*)\])?$")

FILE_TYPES = (".json", ".jsonl", ".csv", ".xlsx", ".parquet")
# Reserved columns the readers fill for rows they could not read fully; data.intake.check_row turns
# them into the row's DataError: a CSV row's cells beyond its header, a JSONL line that is no object.
EXTRA_CELLS = "__extra_cells__"
ROW_PROBLEM = "__row_problem__"
# Columns that hold a whole conversation: ``{"messages": [...]}`` in a .json file is one row.
_CONVERSATION_COLUMNS = ("messages", "conversations", "conversation")
# Files that mark a folder as written by ``save_to_disk`` (Dataset or DatasetDict).
_SAVED_MARKERS = ("state.json", "dataset_dict.json")


# -- split expressions -----------------------------------------------------------------------------


def parse_split(split: str) -> tuple[str, str | None]:
    """``'train[10:20]'`` -> ``('train', '10:20')``; a ConfigError names the expected shapes."""
    m = _SPLIT_RE.match(split.strip())
    if not m:
        raise ConfigError(
            f"split {split!r} is not a valid split expression (e.g. "
            "'train', 'train[:1%]', 'train[10:20]', 'train[-5:]')"
        )
    return m.group("name"), m.group("slice")


def split_indices(split: str, n: int) -> range:
    """The row indices a split expression selects out of ``n`` rows, as ``datasets`` reads it.

    ``datasets`` applies slices only while loading from its own builders; files read here and
    ``save_to_disk`` folders need the same semantics applied to an already loaded table.
    Percentages round to the closest row, like ``datasets``' default.
    """
    _, sl = parse_split(split)
    if sl is None:
        return range(n)
    if ":" not in sl:
        raise ConfigError(f"split {split!r}: the part in brackets must be a slice like [10:20], [:5%] or [-5:]")

    def bound(x: str) -> int | None:
        x = x.strip()
        if not x:
            return None
        if x.endswith("%"):
            return round(float(x[:-1]) * n / 100)
        return int(x)

    a, b = sl.split(":", 1)
    try:
        return range(n)[slice(bound(a), bound(b))]
    except ValueError:
        raise ConfigError(f"split {split!r}: cannot read slice [{sl}] (use integers or percentages)") from None


def _apply_split(ds: datasets.Dataset, split: str) -> datasets.Dataset:
    rng = split_indices(split, len(ds))
    return ds if rng == range(len(ds)) else ds.select(rng)


# -- readers -------------------------------------------------------------------------------------


class RowTable:
    """Rows read with Python's own parsers (json, csv, openpyxl), kept as Python objects.

    Not an Arrow table on purpose: Arrow needs one type per column, and ``datasets``'
    ``on_mixed_types="use_json"`` escape hatch turns a string such as ``"3"`` into the int 3
    on the way back (observed with datasets 5.2), which would silently change answers.
    """

    def __init__(self, columns: dict[str, list[Any]]):
        self.column_names = list(columns)
        self._columns = columns
        self._n = len(next(iter(columns.values()))) if columns else 0
        self._index: range | list[int] = range(self._n)

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, i: int) -> dict[str, Any]:
        j = self._index[i]
        return {k: v[j] for k, v in self._columns.items()}

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def select(self, indices: range | list[int]) -> RowTable:
        out = RowTable.__new__(RowTable)
        out.column_names, out._columns, out._n = self.column_names, self._columns, self._n
        out._index = [self._index[i] for i in indices]
        return out


def _table(columns: dict[str, list[Any]]) -> RowTable:
    return RowTable(columns)


def _from_rows(rows: list[Any], where: str) -> datasets.Dataset:
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise ConfigError(f"{where}: row {i} is a {type(r).__name__}, expected an object with named columns")
    keys: dict[str, None] = {}
    for r in rows:  # union of the keys of all rows, first-seen order (from_list only looks at row 0)
        keys.update(dict.fromkeys(r))
    return _table({k: [r.get(k) for r in rows] for k in keys})


def _list_of_objects(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(t, dict) for t in value)


def _read_json(path: Path, where: str) -> datasets.Dataset:
    """A list of rows, ``{"<key>": [rows...]}``, a dict of equally long column lists, or one
    conversation row (``{"messages": [...], ...}``).

    Read with the json module: ``datasets``' json builder reads ``{"data": [...]}`` and
    column dicts as one single row.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{where}: not valid JSON ({e})") from None
    if isinstance(data, list):
        return _from_rows(data, where)
    if isinstance(data, dict):
        if any(_list_of_objects(data.get(c)) for c in _CONVERSATION_COLUMNS):  # one conversation, one row
            return _from_rows([data], where)
        if len(data) == 1:
            ((key, value),) = data.items()
            if _list_of_objects(value):
                return _from_rows(value, f"{where} [{key!r}]")
        if data and all(isinstance(v, list) for v in data.values()):
            lengths = {k: len(v) for k, v in data.items()}
            if len(set(lengths.values())) > 1:
                raise ConfigError(f"{where}: columns have different lengths: {lengths}")
            return _table(data)
    raise ConfigError(
        f'{where}: expected a list of rows, an object like {{"data": [rows]}}, or an object of column lists'
    )


def _read_jsonl(path: Path, where: str) -> datasets.Dataset:
    """One row per non-empty line. A line that is not a JSON object is kept as a row that says so
    (reported as that row's problem), so one broken line never loses the rest of the file."""
    rows: list[dict] = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if lineno == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ConfigError(
                    f"{where}: line {lineno} is not UTF-8 text ({e.reason} at byte {e.start}); save the file as UTF-8"
                ) from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                rows.append({ROW_PROBLEM: f"line {lineno} is not valid JSON ({e.msg})"})
                continue
            if not isinstance(row, dict):
                what = "JSON null" if row is None else f"a JSON {type(row).__name__}"
                rows.append({ROW_PROBLEM: f"line {lineno} is {what}, expected an object"})
                continue
            rows.append(row)
    return _from_rows(rows, where)


def _read_csv(path: Path, where: str) -> datasets.Dataset:
    # The csv module keeps every cell as written; pandas (behind datasets' csv builder) would turn
    # empty cells into NaN and '007' into 7.
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(
            f"{where}: line {line} is not UTF-8 text ({e.reason} at byte {e.start}); save the file as UTF-8"
        ) from None
    with io.StringIO(text, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            empty = "the file is empty" if not text.strip() else "the first line is empty"
            raise ConfigError(f"{where}: {empty} (expected a header row)")
        _check_header(reader.fieldnames, where)
        rows, before_last = [], 0
        while True:
            before = reader.line_num  # lines read before this row
            try:
                rows.append(next(reader))
            except StopIteration:
                break
            before_last = before
    columns = {k: [(r.get(k) if r.get(k) != "" else None) for r in rows] for k in reader.fieldnames}
    # csv puts the cells past the header under the key None; keep them so that the row is refused
    # (an unquoted comma in a prompt would otherwise cut it short without a word)
    extra = [r.get(None) or None for r in rows]
    if any(extra):
        columns[EXTRA_CELLS] = extra
    opened = _unclosed_quote(text, before_last) if rows else None
    if opened:  # the row would be refused for its empty cells, with the cause and the lost rows unsaid
        columns[ROW_PROBLEM] = [None] * (len(rows) - 1) + [
            f"line {opened} opens a quoted cell that is never closed, so it takes in every line after it; "
            'close the quote (a " inside a quoted cell is written "")'
        ]
    return _table(columns)


def _unclosed_quote(text: str, skip: int) -> int | None:
    """The line where the last row of ``text`` (after ``skip`` lines) opens a quote that runs to
    the end of the file, or None. Read leniently, as ``csv`` does by default, such a cell silently
    swallows the rows after it; only the strict reader says so."""
    lines = list(itertools.islice(io.StringIO(text, newline=""), skip, None))
    first = next((i for i, line in enumerate(lines) if line.strip("\r\n")), 0)
    try:
        for _ in csv.reader(lines[first:], strict=True):
            pass
    except csv.Error as e:
        return skip + first + 1 if "unexpected end of data" in str(e) else None
    return None


def _read_xlsx(path: Path, where: str, sheet: str | None) -> datasets.Dataset:
    header, rows = read_sheet(path, where, sheet)  # cells as Excel shows them: 12.50, 25%, 5-Mar-24
    _check_header(header, where)
    cols = [i for i, h in enumerate(header) if h is not None]
    return _table({header[i]: [r[i] for r in rows] for i in cols})


def _check_header(names: Sequence[str | None], where: str) -> None:
    """Two columns of one name would silently become one (the last wins): refuse the file instead."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names, 1):
        if name is None or not name.strip():
            continue  # unnamed columns (a trailing comma, an empty header cell) are not read
        if name in seen:
            raise ConfigError(f"{where}: the header names column {name!r} twice (columns {seen[name]} and {i})")
        seen[name] = i


def _read_parquet(path: Path, where: str, arrow: bool = False) -> datasets.Dataset:
    """A parquet file, or (``arrow``) a file in the Arrow stream format ``datasets`` writes (its cache files)."""
    try:
        return datasets.Dataset.from_file(str(path)) if arrow else datasets.Dataset.from_parquet(str(path))
    except Exception as e:  # pyarrow raises several types for a broken file
        kind = "an Arrow file" if arrow else "parquet"
        raise ConfigError(f"{where}: could not be read as {kind} ({type(e).__name__}: {e})") from None


def _read_file(path: Path, cfg: DatasetConfig) -> datasets.Dataset:
    where = cfg.label
    suffix = f".{cfg.ds_type}" if cfg.ds_type else path.suffix.lower()  # Axolotl's ds_type wins over the name
    if suffix not in (*FILE_TYPES, ".arrow"):  # .arrow: the stream format datasets writes
        raise ConfigError(f"{where}: unsupported file type {suffix!r} (use {', '.join(FILE_TYPES)}); or set ds_type")
    if cfg.sheet is not None and suffix != ".xlsx":
        raise ConfigError(f"{where}: `sheet` only applies to .xlsx files")
    name, _ = parse_split(cfg.split)
    if name != "train":
        raise ConfigError(f"{where}: a single file has only the 'train' split (got split {cfg.split!r})")
    if suffix == ".json":
        try:
            return _read_json(path, where)
        except ConfigError:
            if cfg.ds_type != "json":  # ds_type json is datasets' json builder, which reads JSON lines too
                raise
            return _read_jsonl(path, where)
    if suffix == ".jsonl":
        return _read_jsonl(path, where)
    if suffix == ".csv":
        return _read_csv(path, where)
    if suffix == ".xlsx":
        return _read_xlsx(path, where, cfg.sheet)
    return _read_parquet(path, where, arrow=suffix == ".arrow")


def _read_saved(path: Path, cfg: DatasetConfig) -> datasets.Dataset:
    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        name, _ = parse_split(cfg.split)
        if name not in loaded:
            raise ConfigError(f"{cfg.label}: split {name!r} not found; it has {', '.join(map(repr, loaded))}")
        loaded = loaded[name]
    return loaded


def _read_hub(cfg: DatasetConfig, local_dir: bool) -> datasets.Dataset:
    name, _ = parse_split(cfg.split)
    what = f"folder {cfg.label!r}" if local_dir else f"dataset {cfg.label!r}"
    try:
        rev = None if local_dir else cfg.revision  # a hub dataset's commit, tag or branch
        return datasets.load_dataset(cfg.path, cfg.name, split=name, data_files=cfg.data_files, revision=rev)
    except ConnectionError as e:  # datasets raises ConnectionError when the hub cannot be reached
        raise ConfigError(
            f"{what} could not be reached on the Hugging Face Hub ({e}); check the name and your network, "
            "or point `path:` at a local file"
        ) from None
    except Exception as e:  # datasets raises many types (DatasetNotFoundError, FileNotFoundError...)
        raise ConfigError(f"{what} could not be loaded ({type(e).__name__}: {e})") from None


def _looks_local(p: str) -> bool:
    """A path the user meant as a local file (so a miss is 'not found', not a hub lookup)."""
    return p.startswith((".", "/", "~")) or Path(p).suffix.lower() in FILE_TYPES or p.count("/") > 1


# -- media features ------------------------------------------------------------------------------


# Not every feature with a ``decode`` flag: ``Json(decode=False)`` would hand rows raw JSON text.
_MEDIA_FEATURES = (datasets.Image, datasets.Audio, datasets.Video, datasets.Pdf)


def _undecoded(feature: Any) -> Any:
    """The same feature type with media sub-features (Image, Audio, Video, Pdf) left undecoded."""
    if isinstance(feature, dict):
        return {k: _undecoded(v) for k, v in feature.items()}
    if isinstance(feature, list | tuple):
        return [_undecoded(v) for v in feature]
    if isinstance(feature, _MEDIA_FEATURES):
        return dataclasses.replace(feature, decode=False) if feature.decode else feature
    if dataclasses.is_dataclass(feature) and "feature" in {f.name for f in dataclasses.fields(feature)}:
        return dataclasses.replace(feature, feature=_undecoded(feature.feature))  # List, LargeList
    return feature


def _keep_media_undecoded(ds: datasets.Dataset | RowTable) -> datasets.Dataset | RowTable:
    if isinstance(ds, RowTable):
        return ds
    features = ds.features
    new = datasets.Features({k: _undecoded(v) for k, v in features.items()})
    return ds if new == features else ds.cast(new)


# -- public --------------------------------------------------------------------------------------


def load_rows(cfg: DatasetConfig) -> datasets.Dataset:
    """The rows of one dataset entry, after ``split`` (row ``i`` here is row ``i`` in errors)."""
    path = Path(os.path.expanduser(cfg.path))
    if path.is_dir():
        if any((path / m).exists() for m in _SAVED_MARKERS):
            ds = _read_saved(path, cfg)
        else:
            ds = _read_hub(cfg, local_dir=True)
    elif path.is_file():
        ds = _read_file(path, cfg)
    elif _looks_local(cfg.path):
        raise ConfigError(f"dataset {cfg.label!r} not found (looked for {path.absolute()})")
    else:
        ds = _read_hub(cfg, local_dir=False)
    return _apply_split(_keep_media_undecoded(ds), cfg.split)


def media_base(cfg: DatasetConfig) -> str:
    """Where relative media names of this dataset are looked up: ``media_dir`` (a folder or a
    .zip), else the dataset file's folder, else (hub datasets) the current directory."""
    if cfg.media_dir:
        return cfg.media_dir
    p = Path(os.path.expanduser(cfg.path))
    if p.is_file():
        return str(p.parent)
    if p.is_dir():
        return str(p)
    return os.getcwd()
