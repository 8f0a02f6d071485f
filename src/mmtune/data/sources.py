"""Dataset entry -> rows. Every row keeps its 0-based index so errors can name it."""

from __future__ import annotations

import os
import re
from pathlib import Path

import datasets

from mmtune.config import DatasetConfig
from mmtune.errors import ConfigError

_SPLIT_RE = re.compile(r"^(?P<name>[\w.-]+)(\[(?P<slice>[^\]]*)\])?$")

_BUILDERS = {".json": "json", ".jsonl": "json", ".parquet": "parquet", ".csv": "csv"}


def _apply_split(ds: datasets.Dataset, split: str) -> datasets.Dataset:
    """Apply the ``[a:b]`` / ``[:10%]`` part of a split expression to a loaded dataset."""
    m = _SPLIT_RE.match(split.strip())
    if not m:
        raise ConfigError(f"split {split!r} is not a valid split expression (e.g. 'train', 'train[:1%]', 'train[10:20]')")
    sl = m.group("slice")
    if not sl:
        return ds
    n = len(ds)

    def bound(x: str) -> int | None:
        x = x.strip()
        if not x:
            return None
        if x.endswith("%"):
            return round(float(x[:-1]) * n / 100)
        return int(x)

    try:
        if ":" in sl:
            a, b = sl.split(":", 1)
            rng = range(n)[slice(bound(a), bound(b))]
        else:
            i = bound(sl)
            rng = range(n)[i : i + 1]
    except ValueError:
        raise ConfigError(f"split {split!r}: cannot read slice {sl!r}") from None
    return ds.select(rng)


def dataset_label(cfg: DatasetConfig, original: str | None = None) -> str:
    return original or cfg.path


def load_rows(cfg: DatasetConfig) -> datasets.Dataset:
    """Load the rows of one dataset entry (files, save_to_disk folders, or hub names)."""
    path = Path(cfg.path)
    split_name = _SPLIT_RE.match(cfg.split.strip()).group("name") if _SPLIT_RE.match(cfg.split.strip()) else "train"
    if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "state.json").exists() or (path / "dataset_dict.json").exists()):
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split_name not in loaded:
                raise ConfigError(f"{cfg.path}: split {split_name!r} not found; it has {', '.join(loaded)}")
            loaded = loaded[split_name]
        return _apply_split(loaded, cfg.split)
    if path.is_file():
        builder = _BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise ConfigError(f"{cfg.path}: unsupported file type {path.suffix!r} (use .json, .jsonl, .parquet)")
        try:
            ds = datasets.load_dataset(builder, data_files=str(path), split="train")
        except Exception as e:
            raise ConfigError(f"{cfg.path}: could not be read as {builder} ({type(e).__name__}: {e})") from None
        return _apply_split(ds, cfg.split)
    if os.sep in cfg.path and not path.exists() or cfg.path.startswith((".", "/")):
        raise ConfigError(f"dataset {cfg.path!r} not found")
    try:
        ds = datasets.load_dataset(cfg.path, cfg.name, split=split_name, data_files=cfg.data_files)
    except Exception as e:
        raise ConfigError(f"dataset {cfg.path!r} could not be loaded from the hub ({type(e).__name__}: {e})") from None
    return _apply_split(ds, cfg.split)


def media_base(cfg: DatasetConfig) -> str:
    """Where relative media names of this dataset are looked up."""
    if cfg.media_dir:
        return cfg.media_dir
    p = Path(cfg.path)
    return str(p.parent if p.is_file() else p)
