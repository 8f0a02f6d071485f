"""``mmtune validate``: check every row of every dataset before spending time on training.

Each row goes through exactly what preprocessing does (``RowProcessor``: parse the format, check
roles, resolve and decode every media item, check the model takes its modalities, render and
tokenize, check the length), in worker processes, without loading model weights. Nothing is
cached or dropped: the result is a list of problems a user can act on, as a table and, when
asked, as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mmtune.config import Config
from mmtune.data.intake import RowTask, dataset_tasks
from mmtune.errors import ConfigError, DataError
from mmtune.models.loading import check_model_options
from mmtune.preflight import preflight
from mmtune.preprocess.pool import default_workers, process_rows
from mmtune.preprocess.settings import settings_from_config


@dataclass
class DatasetResult:
    label: str
    format: str = "-"
    rows: int = 0
    ok: int = 0
    problems: int = 0


@dataclass
class ValidationReport:
    datasets: list[DatasetResult] = field(default_factory=list)
    # Row problems carry their row; a dataset that cannot be read at all has ``row`` None.
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows_total(self) -> int:
        return sum(d.rows for d in self.datasets)

    @property
    def rows_ok(self) -> int:
        return sum(d.ok for d in self.datasets)

    def to_dict(self) -> dict[str, Any]:
        return {"rows_total": self.rows_total, "rows_ok": self.rows_ok, "problems": self.problems}


def validate(cfg: Config, workers: int | None = None, processor: Any = None) -> ValidationReport:
    """Check every row of ``cfg``'s datasets; the processor (not the model) is loaded once. What
    ``train`` would refuse in the config itself (paths, optimizer) is raised first."""
    preflight(cfg, training=False)
    check_model_options(cfg)
    settings, processor = settings_from_config(cfg, processor)
    report = ValidationReport()
    all_tasks: list[RowTask] = []
    owners: list[DatasetResult] = []  # the dataset of each task (labels may repeat)
    for d in cfg.datasets:
        res = DatasetResult(d.label, d.type or "-")
        report.datasets.append(res)
        try:
            tasks, n = dataset_tasks(d)
        except ConfigError as e:  # the whole dataset is unreadable: one problem, keep checking the rest
            report.problems.append({"dataset": d.label, "row": None, "field": "", "error": str(e)})
            res.problems += 1
            continue
        res.rows = n
        if tasks:
            res.format = tasks[0].format
        all_tasks.extend(tasks)
        owners.extend([res] * len(tasks))
    workers = workers or default_workers(cfg, len(all_tasks))
    for res, r in zip(owners, process_rows(all_tasks, settings, workers, processor, desc="validate")):
        if isinstance(r, DataError):
            report.problems.append(r.to_dict())
            res.problems += 1
        else:
            res.ok += 1
    return report
