"""``mmtune validate``: check every row of every dataset before spending time on training.

Each row goes through exactly what preprocessing does (``RowProcessor``: parse the format, check
roles, resolve and decode every media item, check the model takes its modalities, render and
tokenize, check the length), in worker processes, without loading model weights. Nothing is
cached or dropped: the result is a list of problems a user can act on, as a table and, when
asked, as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mmtune.config import Config, load_config
from mmtune.errors import ConfigError, DataError


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
    """Check every row of ``cfg``'s datasets; the processor (not the model) is loaded once."""
    from mmtune.preprocess.pipeline import dataset_tasks, default_workers, process_rows, settings_from_config

    settings, processor = settings_from_config(cfg, processor)
    report = ValidationReport()
    all_tasks: list[tuple] = []
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
            res.format = tasks[0][2]
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


def print_report(report: ValidationReport, console: Console, limit: int = 50) -> None:
    table = Table(title="Datasets", title_justify="left")
    for col, just in (("dataset", "left"), ("format", "left"), ("rows", "right"), ("ok", "right"), ("problems", "right")):
        table.add_column(col, justify=just)  # type: ignore[arg-type]
    for d in report.datasets:
        bad = Text(str(d.problems), style="red" if d.problems else "")
        table.add_row(Text(d.label), d.format, str(d.rows), str(d.ok), bad)
    console.print(table)
    if report.problems:
        probs = Table(title="Problems", title_justify="left")
        for col in ("dataset", "row", "field", "error"):
            probs.add_column(col, overflow="fold")
        for p in report.problems[:limit]:
            # Text, not markup: messages are full of brackets (messages[0].content[1]).
            row = "-" if p["row"] is None else str(p["row"])
            probs.add_row(Text(p["dataset"]), row, Text(p["field"]), Text(p["error"]))
        console.print(probs)
        if len(report.problems) > limit:
            console.print(f"... and {len(report.problems) - limit} more problems (write them all with --report FILE)")
        console.print(f"[red]{len(report.problems)} problem(s)[/red]; {report.rows_ok} of {report.rows_total} rows are OK")
    else:
        console.print(f"[green]all {report.rows_total} rows are OK[/green]")


def run_validate(config_path: str, report_path: str | None = None, workers: int | None = None) -> int:
    """The ``mmtune validate`` command: 0 when every row is fine, 1 when there are problems."""
    cfg = load_config(config_path)
    report = validate(cfg, workers=workers)
    print_report(report, Console())
    if report_path:
        out = Path(report_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    return 1 if report.problems else 0
