"""Preprocess every dataset of a config once, and reuse the result while nothing it depends on changed.

The result is saved with datasets' Arrow format under a fingerprint of the data files, the
preprocessing settings, the processor files and mmtune's own code. The train/validation split is
not in it: ``val_set_size`` splits the cached rows afterwards, so changing it reuses the cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import datasets

from mmtune.config import Config
from mmtune.data.intake import RowTask, dataset_tasks, media_files
from mmtune.errors import BadRowsError, DataError, DataReport
from mmtune.preprocess.pool import default_workers, process_rows
from mmtune.preprocess.rows import COLUMNS
from mmtune.preprocess.settings import PrepSettings

log = logging.getLogger("mmtune")


def _hash_path(h: Any, p: Path) -> None:
    if p.is_file():
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    elif p.is_dir():
        for q in sorted(p.rglob("*")):
            if q.is_file() and not q.name.endswith((".safetensors", ".bin")):
                h.update(str(q.relative_to(p)).encode())
                _hash_path(h, q)
    else:
        h.update(str(p).encode())


def code_version() -> str:
    """A hash of mmtune's own sources, so a code change invalidates cached preprocessing."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]
    for q in sorted([*root.rglob("*.py"), *root.rglob("*.jinja")]):
        h.update(q.read_bytes())
    return h.hexdigest()[:16]


def fingerprint(cfg: Config, settings: PrepSettings) -> str:
    """What the cached rows depend on: settings, code, the processor's files and the data."""
    h = hashlib.sha256()
    h.update(json.dumps(settings.to_dict(), sort_keys=True, default=str).encode())
    h.update(code_version().encode())
    _hash_path(h, Path(settings.base_model))
    for d in cfg.datasets:
        h.update(d.model_dump_json().encode())
        _hash_path(h, Path(d.path))
        if d.media_dir:
            p = Path(d.media_dir)
            h.update(f"{p}:{p.stat().st_mtime_ns if p.exists() else 0}".encode())
    return h.hexdigest()[:20]


def default_cache_root() -> Path:
    return Path(os.path.expanduser("~/.cache/mmtune/prepared"))


def cache_dir_for(cfg: Config, settings: PrepSettings) -> Path:
    """Where ``prepare`` keeps (or finds) this config's preprocessed rows."""
    root = Path(cfg.dataset_prepared_path) if cfg.dataset_prepared_path else default_cache_root()
    return root / fingerprint(cfg, settings)


@dataclass
class Prepared:
    dataset: datasets.Dataset
    report: DataReport
    settings: PrepSettings
    cache_dir: Path
    reused: bool

    def stats(self) -> dict:
        ds = self.dataset
        tokens = sum(len(x) for x in ds["input_ids"]) if len(ds) else 0
        sup = sum(sum(1 for t in x if t != -100) for x in ds["labels"]) if len(ds) else 0
        return {
            "rows_read": self.report.read,
            "rows_kept": self.report.kept,
            "rows_dropped": self.report.dropped,
            "tokens": tokens,
            "supervised_tokens": sup,
            "media": int(sum(ds["n_media"])) if len(ds) else 0,
        }


def config_tasks(cfg: Config) -> tuple[list[RowTask], int]:
    """Tasks of every dataset of ``cfg``, in order, and the number of rows read."""
    tasks: list[RowTask] = []
    read = 0
    for d in cfg.datasets:
        t, n = dataset_tasks(d)
        tasks.extend(t)
        read += n
    return tasks, read


def _collect(results: Iterator) -> tuple[list[dict], list[DataError]]:
    kept, errors = [], []
    for r in results:
        (errors if isinstance(r, DataError) else kept).append(r)
    return kept, errors


def file_state(paths: set[str] | list[str]) -> dict[str, list[int] | None]:
    """Size and modification time of each file (None: missing), to tell later whether it changed."""
    state: dict[str, list[int] | None] = {}
    for p in sorted(paths):
        try:
            st = os.stat(p)
            state[p] = [st.st_size, st.st_mtime_ns]
        except OSError:
            state[p] = None
    return state


def _stale_media(cache_dir: Path) -> list[str]:
    """Media files that changed, appeared or vanished since the cache was written."""
    manifest = cache_dir / "media.json"
    if not manifest.exists():
        return ["(no media manifest)"]
    saved = json.loads(manifest.read_text())
    now = file_state(list(saved))
    return [p for p in saved if saved[p] != now[p]]


def prepare(
    cfg: Config, settings: PrepSettings, workers: int | None = None, processor: Any = None, rebuild: bool = False
) -> Prepared:
    """Preprocess every dataset of ``cfg`` (or reuse the cache) and apply ``on_bad_rows``.

    The cache is reused only while every local media file its rows referred to has the same size
    and modification time (a replaced image, or a missing one that appeared, preprocesses again);
    ``rebuild`` always preprocesses again.
    """
    cache_dir = cache_dir_for(cfg, settings)
    report_file = cache_dir / "report.json"
    if report_file.exists() and not rebuild:
        stale = _stale_media(cache_dir)
        if not stale:
            rep = json.loads(report_file.read_text())
            report = DataReport(rep["read"], rep["kept"], [DataError(**e) for e in rep["errors"]])
            log.info("reusing preprocessed data from %s (fingerprint %s)", cache_dir, cache_dir.name)
            apply_bad_row_policy(cfg, report)
            return Prepared(datasets.load_from_disk(str(cache_dir / "data")), report, settings, cache_dir, True)
        more = f" and {len(stale) - 3} more" if len(stale) > 3 else ""
        log.info("media changed since the last preprocessing (%s%s): preprocessing again", ", ".join(stale[:3]), more)

    tasks, read = config_tasks(cfg)
    media = file_state(media_files(tasks))
    workers = workers or default_workers(cfg, len(tasks))
    kept, errors = _collect(process_rows(tasks, settings, workers, processor))
    report = DataReport(read, len(kept), errors)
    apply_bad_row_policy(cfg, report)
    ds = datasets.Dataset.from_list(kept) if kept else datasets.Dataset.from_dict({c: [] for c in COLUMNS})
    # A folder of this run's own, renamed into place when complete: a run killed midway leaves no
    # cache a later run trusts, and two runs of one config never write into the same folder.
    tmp = cache_dir.with_name(f"{cache_dir.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    ds.save_to_disk(str(tmp / "data"))
    (tmp / "media.json").write_text(json.dumps(media))
    (tmp / "report.json").write_text(
        json.dumps({"read": report.read, "kept": report.kept, "errors": [asdict(e) for e in report.errors]})
    )
    if cache_dir.exists():
        shutil.rmtree(cache_dir, ignore_errors=True)
    try:
        tmp.rename(cache_dir)
    except OSError:  # another run of the same config finished first: its rows are the same, keep them
        shutil.rmtree(tmp, ignore_errors=True)
        log.info("another run wrote %s first; using it", cache_dir)
    return Prepared(datasets.load_from_disk(str(cache_dir / "data")), report, settings, cache_dir, False)


def apply_bad_row_policy(cfg: Config, report: DataReport) -> None:
    """``on_bad_rows: error`` stops the run on any fatal bad row; otherwise they are reported and dropped."""
    assert report.kept + report.dropped == report.read, "every row must be kept or dropped"
    if cfg.on_bad_rows == "error" and any(e.fatal for e in report.errors):
        raise BadRowsError(report)
    if report.errors:
        log.warning("dropped %d of %d rows:\n%s", report.dropped, report.read, report.summary())
