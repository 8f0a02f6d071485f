"""Preprocess every dataset of a config once, and reuse the result while nothing it depends on changed.

The result is saved with datasets' Arrow format under a fingerprint of the data files, the
preprocessing settings, the processor files and mmtune's own code. The train/validation split is
not in it: ``val_set_size`` splits the cached rows afterwards, so changing it reuses the cache.
"""

from __future__ import annotations

import errno
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
from mmtune.data.fetch import cached_body
from mmtune.data.intake import RowTask, dataset_tasks, media_sources
from mmtune.data.media import MediaSettings
from mmtune.errors import BadRowsError, DataError, DataReport, MmtuneError
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


# The cache's columns (preprocess/rows.py COLUMNS), declared: rows are streamed to the file, so no
# list of every row is held to infer them from.
FEATURES = datasets.Features(
    {
        "input_ids": datasets.Sequence(datasets.Value("int64")),
        "labels": datasets.Sequence(datasets.Value("int64")),
        "mm": datasets.Value("binary"),
        "media": datasets.Value("binary"),
        "dataset": datasets.Value("string"),
        "row": datasets.Value("int64"),
        "n_media": datasets.Value("int64"),
        "length": datasets.Value("int64"),
    }
)
assert tuple(FEATURES) == COLUMNS
ROWS_FILE = "rows.arrow"
# Rows buffered before a write: a few MB of decoded media at most, whatever the dataset's size.
WRITE_BATCH = 32


def write_rows(results: Iterator, folder: Path) -> tuple[int, list[DataError]]:
    """Stream kept rows into ``folder/rows.arrow`` as they come; return how many, and the bad rows' errors.
    Memory stays at one write batch: the rows are never all in a list (nor copied into a table)."""
    from datasets.arrow_writer import ArrowWriter

    folder.mkdir(parents=True, exist_ok=True)
    errors: list[DataError] = []
    kept = 0
    with ArrowWriter(features=FEATURES, path=str(folder / ROWS_FILE), writer_batch_size=WRITE_BATCH) as w:
        for r in results:
            if isinstance(r, DataError):
                errors.append(r)
            else:
                w.write(r)
                kept += 1
        w.finalize()
    return kept, errors


def load_rows(cache_dir: Path) -> datasets.Dataset:
    """The cached rows, memory-mapped from their Arrow file."""
    return datasets.Dataset.from_file(str(cache_dir / "data" / ROWS_FILE), in_memory=False)


# Files this small are also compared by content on every reuse (cheap); larger ones only with
# ``verify``: a file replaced in place with the same size and time (``cp -p``, rsync -t) is caught.
SMALL_FILE = 256 * 1024


def _digest(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_state(paths: set[str] | list[str]) -> dict[str, list | None]:
    """Size, modification time and content hash of each file (None: missing), to tell later
    whether it changed."""
    state: dict[str, list | None] = {}
    for p in sorted(paths):
        try:
            st = os.stat(p)
            state[p] = [st.st_size, st.st_mtime_ns, _digest(p)]
        except OSError:
            state[p] = None
    return state


def _changed(path: str, was: list | None, verify: bool) -> bool:
    """Whether ``path`` differs from its recorded state: by size or time, else by content when
    the file is small or ``verify`` asks (manifests of older versions carry no hash)."""
    try:
        st = os.stat(path)
    except OSError:
        return was is not None
    if was is None or [st.st_size, st.st_mtime_ns] != list(was[:2]):
        return True
    if len(was) > 2 and (verify or st.st_size <= SMALL_FILE):
        try:
            return _digest(path) != was[2]
        except OSError:
            return True
    return False


def url_state(urls: set[str], media: MediaSettings) -> dict[str, dict[str, Any]]:
    """Per URL, its cached body file and that file's state (None: not cached, its fetch failed).

    Taken after preprocessing, unlike ``file_state`` of local files: the bodies are fetched while
    rows are processed. The URL cache never rewrites a body, so a different size or time means
    it vanished and was fetched again, possibly with other content.
    """
    bodies = {url: str(cached_body(url, media)) for url in urls}
    state = file_state(list(bodies.values()))
    return {url: {"body": body, "state": state[body]} for url, body in sorted(bodies.items())}


def _stale_media(cache_dir: Path, verify: bool = False) -> list[str]:
    """Media files and URL bodies that changed, appeared or vanished since the cache was written."""
    manifest = cache_dir / "media.json"
    if not manifest.exists():
        return ["(no media manifest)"]
    saved = json.loads(manifest.read_text())
    # local files map to their state; URLs to {"body": cached file, "state": its state}
    files = {name: (was["body"], was["state"]) if isinstance(was, dict) else (name, was) for name, was in saved.items()}
    return [name for name, (path, was) in files.items() if _changed(path, was, verify)]


def prepare(
    cfg: Config,
    settings: PrepSettings,
    workers: int | None = None,
    processor: Any = None,
    rebuild: bool = False,
    verify: bool = False,
) -> Prepared:
    """Preprocess every dataset of ``cfg`` (or reuse the cache) and apply ``on_bad_rows``.

    The cache is reused only while every local media file its rows referred to, and the cached
    body of every media URL, has the same size and modification time (a replaced image, a missing
    one that appeared, a URL body cleared from its cache, preprocesses again), and files up to
    ``SMALL_FILE`` bytes (every file with ``verify``) have the same content; ``rebuild`` always
    preprocesses again.
    """
    cache_dir = cache_dir_for(cfg, settings)
    report_file = cache_dir / "report.json"
    if report_file.exists() and not rebuild:
        stale = _stale_media(cache_dir, verify)
        if not stale:
            rep = json.loads(report_file.read_text())
            report = DataReport(rep["read"], rep["kept"], [DataError(**e) for e in rep["errors"]])
            log.info("reusing preprocessed data from %s (fingerprint %s)", cache_dir, cache_dir.name)
            apply_bad_row_policy(cfg, report)
            return Prepared(load_rows(cache_dir), report, settings, cache_dir, True)
        more = f" and {len(stale) - 3} more" if len(stale) > 3 else ""
        log.info("media changed since the last preprocessing (%s%s): preprocessing again", ", ".join(stale[:3]), more)

    tasks, read = config_tasks(cfg)
    files, urls = media_sources(tasks)
    media: dict[str, Any] = file_state(files)
    workers = workers or default_workers(cfg, len(tasks))
    # A folder of this run's own, renamed into place when complete: a run killed midway leaves no
    # cache a later run trusts, and two runs of one config never write into the same folder.
    tmp = cache_dir.with_name(f"{cache_dir.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        kept, errors = write_rows(process_rows(tasks, settings, workers, processor), tmp / "data")
        media.update(url_state(urls, settings.media))  # the bodies this run fetched, or None where it failed
        report = DataReport(read, kept, errors)
        apply_bad_row_policy(cfg, report)
        (tmp / "media.json").write_text(json.dumps(media))
        (tmp / "report.json").write_text(
            json.dumps({"read": report.read, "kept": report.kept, "errors": [asdict(e) for e in report.errors]})
        )
    except OSError as e:  # a full disk above all: one line naming the folder, and no half-written folder left
        shutil.rmtree(tmp, ignore_errors=True)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            why = "no space left on device" + (" (disk quota exceeded)" if e.errno == errno.EDQUOT else "")
            fix = "free space or set dataset_prepared_path to a folder on another disk"
        else:
            why, fix = f"{type(e).__name__}: {e}", "check the folder"
        raise MmtuneError(
            f"{why} while saving the preprocessed rows to {cache_dir.parent} (the partial cache was removed); {fix}"
        ) from None
    except BaseException:  # bad rows that stop the run (on_bad_rows: error), Ctrl-C: no folder left behind
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if cache_dir.exists():
        shutil.rmtree(cache_dir, ignore_errors=True)
    try:
        tmp.rename(cache_dir)
    except OSError:  # another run of the same config finished first: its rows are the same, keep them
        shutil.rmtree(tmp, ignore_errors=True)
        log.info("another run wrote %s first; using it", cache_dir)
    return Prepared(load_rows(cache_dir), report, settings, cache_dir, False)


def apply_bad_row_policy(cfg: Config, report: DataReport) -> None:
    """``on_bad_rows: error`` stops the run on any fatal bad row; otherwise they are reported and dropped."""
    assert report.kept + report.dropped == report.read, "every row must be kept or dropped"
    if cfg.on_bad_rows == "error" and any(e.fatal for e in report.errors):
        raise BadRowsError(report)
    if report.errors:
        log.warning("dropped %d of %d rows:\n%s", report.dropped, report.read, report.summary())
