"""The preprocess stage: rows -> conversations -> decoded media -> tokens + labels, cached on disk.

Work runs in worker processes (each loads the processor once) and the result is saved with
datasets' Arrow format under a fingerprint of the data files, the preprocessing settings, the
processor files and mmtune's own code, so a second run with the same inputs reuses it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing as mp
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
from tqdm.auto import tqdm

from mmtune.config import Config, DatasetConfig
from mmtune.data.documents import expand_documents
from mmtune.data.formats import RowContext, detect_format, format_by_type
from mmtune.data.media import MediaSettings, decode_media
from mmtune.data.sources import load_rows, media_base
from mmtune.errors import BadRowsError, ConfigError, DataError, DataReport, MmtuneError
from mmtune.models.families import get_family
from mmtune.preprocess.encode import media_token_ids
from mmtune.preprocess.render import Renderer, check_roles, choose_template
from mmtune.tensors import pack_tensors

log = logging.getLogger("mmtune")


@dataclass(frozen=True)
class PrepSettings:
    """Everything that decides how a row becomes tokens; stored in the run card."""

    base_model: str
    family: str
    chat_template: str
    train_on_inputs: bool = False
    roles_to_train: tuple[str, ...] = ("assistant",)
    sequence_len: int = 2048
    truncation: str = "drop"
    media: MediaSettings = field(default_factory=MediaSettings)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["roles_to_train"] = list(self.roles_to_train)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> PrepSettings:
        d = dict(d)
        m = dict(d.pop("media", {}))
        if m.get("image_size") is not None:
            m["image_size"] = tuple(m["image_size"])
        d["roles_to_train"] = tuple(d.get("roles_to_train", ("assistant",)))
        return cls(media=MediaSettings(**m), **d)


class RowProcessor:
    """Turns one raw row into model inputs; one instance per worker process."""

    def __init__(self, settings: PrepSettings, processor: Any = None):
        self.s = settings
        self.family = get_family(settings.family)
        self.processor = processor if processor is not None else self.family.load_processor(settings.base_model)
        self.renderer = Renderer(self.family, self.processor, settings.chat_template)
        self.media_ids = media_token_ids(self.family, self.processor)

    def conversation(self, fmt_name: str, row: dict, ctx: RowContext):
        conv = format_by_type(fmt_name).convert(row, ctx)
        check_roles(conv)
        conv = expand_documents(conv, self.s.media)  # PDF pages -> images, .txt -> text
        seen: dict[str, int] = {}
        for part in conv.media():
            if part.type not in self.family.modalities:
                raise DataError(
                    f"{part.type} input is not supported by model family {self.family.id!r} "
                    f"(it takes: {', '.join(sorted(self.family.modalities))})",
                    field=part.type,
                )
            n = seen[part.type] = seen.get(part.type, -1) + 1
            try:
                part.value = decode_media(part, self.s.media)
            except DataError as e:  # say which media item of the row it is: "image[1]"
                raise DataError(e.reason, field=e.field or f"{part.type}[{n}]") from None
        return conv

    def __call__(self, task: tuple[str, str, str, int, dict]) -> dict | DataError:
        label, base, fmt_name, index, row = task
        try:
            conv = self.conversation(fmt_name, row, RowContext(base))
            enc = self.family.encode_conversation(
                self.processor, self.renderer, conv, self.s.train_on_inputs, self.s.roles_to_train, self.media_ids
            )
            n = len(enc.input_ids)
            if n > self.s.sequence_len:
                raise DataError(
                    f"row has {n} tokens, more than sequence_len {self.s.sequence_len}"
                    + (" (dropped: multimodal rows are never cut)" if self.s.truncation == "drop" else ""),
                    field="length", fatal=self.s.truncation == "error",
                )
            sup = sum(1 for x in enc.labels if x != -100)
            if sup == 0:
                raise DataError("no supervised tokens left (empty assistant turns?)", field="messages")
        except DataError as e:
            return e.located(label, index)
        return {
            "input_ids": enc.input_ids,
            "labels": enc.labels,
            "mm": pack_tensors(enc.tensors),
            "dataset": label,
            "row": index,
            "n_media": len(conv.media()),
        }


_WORKER: RowProcessor | None = None


def _init_worker(settings: PrepSettings, threads: int) -> None:
    global _WORKER
    import torch

    torch.set_num_threads(threads)
    _WORKER = RowProcessor(settings)


def _run_task(task: tuple) -> dict | DataError:
    assert _WORKER is not None
    return _WORKER(task)


def dataset_tasks(cfg: DatasetConfig) -> tuple[list[tuple], int]:
    """One ``RowProcessor`` task per row of a dataset entry (its format detected or given)."""
    ds = load_rows(cfg)
    n = len(ds)
    rows = [_with_messages_field(ds[i], cfg.field_messages) for i in range(n)]
    fmt = format_by_type(cfg.type) if cfg.type else detect_format(rows[:5], cfg.label)
    base = media_base(cfg)
    return [(cfg.label, base, fmt.name, i, row) for i, row in enumerate(rows)], n


def _with_messages_field(row: dict, field: str | None) -> dict:
    """Axolotl's ``field_messages``: the conversation lives in another column (e.g. "conversation")."""
    if not field or field == "messages":
        return row
    if field not in row:
        return row  # the format's own check reports the missing conversation for this row
    return {**{k: v for k, v in row.items() if k != field}, "messages": row[field]}


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
    for q in sorted(root.rglob("*.py")):
        h.update(q.read_bytes())
    return h.hexdigest()[:16]


def fingerprint(cfg: Config, settings: PrepSettings) -> str:
    h = hashlib.sha256()
    h.update(json.dumps(settings.to_dict(), sort_keys=True, default=str).encode())
    h.update(code_version().encode())
    h.update(str(cfg.val_set_size).encode())
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


def default_workers(cfg: Config, n_rows: int) -> int:
    """Worker processes for ``n_rows`` rows: the config's choice, else 1 for small jobs
    (starting a process that imports torch and loads the processor costs 5-10 s), else up to 4."""
    return cfg.dataset_processes or (1 if n_rows < 2000 else min(4, os.cpu_count() or 1))


def process_rows(
    tasks: list[tuple], settings: PrepSettings, workers: int = 1, processor: Any = None, desc: str = "preprocess"
) -> Iterator[dict | DataError]:
    """``RowProcessor`` over every task, in order, with a progress bar; in ``workers`` spawned
    processes when more than one (each loads the processor once). Shared by preprocessing and
    ``mmtune validate``."""
    if workers > 1:
        # An executor, not mp.Pool: a worker that dies (or fails to start) raises here instead
        # of being respawned forever.
        ctx = mp.get_context("spawn")
        try:
            with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(settings, 1)) as ex:
                results: Iterator = ex.map(_run_task, tasks, chunksize=8)
                yield from tqdm(results, total=len(tasks), desc=desc, unit="row", leave=False)
        except BrokenProcessPool:
            raise MmtuneError(
                "a preprocessing worker process died. If you call mmtune from a script, guard the entry point "
                "with `if __name__ == '__main__':` (worker processes re-import it); or set `dataset_processes: 1`"
            ) from None
    else:
        proc = RowProcessor(settings, processor)
        yield from tqdm(map(proc, tasks), total=len(tasks), desc=desc, unit="row", leave=False)


def _collect(results: Iterator) -> tuple[list[dict], list[DataError]]:
    kept, errors = [], []
    for r in results:
        (errors if isinstance(r, DataError) else kept).append(r)
    return kept, errors


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
            "rows_read": self.report.read, "rows_kept": self.report.kept, "rows_dropped": self.report.dropped,
            "tokens": tokens, "supervised_tokens": sup, "media": int(sum(ds["n_media"])) if len(ds) else 0,
        }


def prepare(cfg: Config, settings: PrepSettings, workers: int | None = None, processor: Any = None) -> Prepared:
    """Preprocess every dataset of ``cfg`` (or reuse the cache) and apply ``on_bad_rows``."""
    root = Path(cfg.dataset_prepared_path) if cfg.dataset_prepared_path else default_cache_root()
    fp = fingerprint(cfg, settings)
    cache_dir = root / fp
    report_file = cache_dir / "report.json"
    if report_file.exists():
        rep = json.loads(report_file.read_text())
        report = DataReport(rep["read"], rep["kept"], [DataError(**e) for e in rep["errors"]])
        log.info("reusing preprocessed data from %s (fingerprint %s)", cache_dir, fp)
        _check_report(cfg, report)
        return Prepared(datasets.load_from_disk(str(cache_dir / "data")), report, settings, cache_dir, True)

    all_tasks: list[tuple] = []
    report = DataReport()
    for d in cfg.datasets:
        tasks, n = dataset_tasks(d)
        all_tasks.extend(tasks)
        report.read += n
    workers = workers or default_workers(cfg, len(all_tasks))
    kept, errors = _collect(process_rows(all_tasks, settings, workers, processor))
    report.kept = len(kept)
    report.errors = errors
    _check_report(cfg, report)
    ds = datasets.Dataset.from_list(kept) if kept else datasets.Dataset.from_dict(
        {"input_ids": [], "labels": [], "mm": [], "dataset": [], "row": [], "n_media": []}
    )
    tmp = cache_dir.with_name(cache_dir.name + ".tmp")
    ds.save_to_disk(str(tmp / "data"))
    (tmp / "report.json").write_text(
        json.dumps({"read": report.read, "kept": report.kept, "errors": [asdict(e) for e in report.errors]})
    )
    if cache_dir.exists():
        import shutil

        shutil.rmtree(cache_dir)
    tmp.rename(cache_dir)
    return Prepared(datasets.load_from_disk(str(cache_dir / "data")), report, settings, cache_dir, False)


def _check_report(cfg: Config, report: DataReport) -> None:
    assert report.kept + report.dropped == report.read, "every row must be kept or dropped"
    if cfg.on_bad_rows == "error" and any(e.fatal for e in report.errors):
        raise BadRowsError(report)
    if report.errors:
        log.warning("dropped %d of %d rows:\n%s", report.dropped, report.read, report.summary())


def _load_processor(cfg: Config, family: Any) -> Any:
    """The family's processor, or the class ``processor_type`` names (Axolotl's key)."""
    if cfg.processor_type in (None, "AutoProcessor"):
        return family.load_processor(cfg.base_model)
    import transformers

    cls = getattr(transformers, cfg.processor_type, None)
    if cls is None or not hasattr(cls, "from_pretrained"):
        raise ConfigError(f"processor_type {cfg.processor_type!r} is not a transformers processor class")
    return cls.from_pretrained(cfg.base_model)


def settings_from_config(cfg: Config, processor: Any = None) -> tuple[PrepSettings, Any]:
    """Resolve the family and template for ``cfg`` and load its processor once."""
    from mmtune.models.families import family_for_checkpoint

    family = family_for_checkpoint(cfg.base_model)
    if processor is None:
        processor = _load_processor(cfg, family)
    template = choose_template(family, processor, cfg.chat_template, cfg.chat_template_jinja)
    settings = PrepSettings(
        base_model=cfg.base_model,
        family=family.id,
        chat_template=template,
        train_on_inputs=cfg.train_on_inputs,
        roles_to_train=tuple(cfg.roles_to_train),
        sequence_len=cfg.sequence_len,
        truncation=cfg.truncation,
        media=MediaSettings(
            image_size=cfg.image_wh,
            resample=cfg.image_resize_algorithm,
            # audio is resampled to what the processor's feature extractor expects
            sampling_rate=getattr(getattr(processor, "feature_extractor", None), "sampling_rate", None) or 16_000,
            video_fps=cfg.video_fps,
            video_max_frames=cfg.video_max_frames,
            pdf_max_pages=cfg.pdf_max_pages,
            pdf_dpi=cfg.pdf_dpi,
        ),
    )
    return settings, processor
