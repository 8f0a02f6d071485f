"""How the CLI shows results: rich tables and coloured tokens, on stdout (they are the command's
result); logs go to stderr through the logging handler."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mmtune.preprocess.preview import RowView
from mmtune.preprocess.validate import ValidationReport


def result_console() -> Console:
    return Console(file=sys.stdout)


def print_rows(rows: list[RowView], console: Console) -> None:
    console.print("[bold green]green[/]: supervised (in the loss)   [dim]dim[/]: masked (-100)")
    for r in rows:
        console.rule(f"{r.dataset} row {r.row}  ({len(r.input_ids)} tokens, {r.supervised} supervised)")
        text = Text()
        for piece, lab in zip(r.pieces, r.labels):
            text.append(piece, style="bold green" if lab != -100 else "dim")
        console.print(text)


def print_report(report: ValidationReport, console: Console, limit: int = 50) -> None:
    table = Table(title="Datasets", title_justify="left")
    for col, just in (
        ("dataset", "left"),
        ("format", "left"),
        ("rows", "right"),
        ("ok", "right"),
        ("problems", "right"),
    ):
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
        console.print(
            f"[red]{len(report.problems)} problem(s)[/red]; {report.rows_ok} of {report.rows_total} rows are OK"
        )
    else:
        console.print(f"[green]all {report.rows_total} rows are OK[/green]")
