"""An Excel sheet -> its header and rows of text cells, each cell as Excel shows it.

Kept out of ``data/sources`` (which turns the cells into a table like every other file type) so
that openpyxl's handling stays in one place: read-only streaming, cached formula results, and
each cell's number format, which ``data/excel_display`` applies (12.50 stays 12.50, not 12.5).
"""

from __future__ import annotations

from pathlib import Path

from mmtune.data.excel_display import cell_text
from mmtune.errors import ConfigError


def read_sheet(path: Path, where: str, sheet: str | None) -> tuple[list[str | None], list[list[str | None]]]:
    """The header (None for an empty header cell) and the non-empty rows, as displayed text."""
    # Neither datasets nor pyarrow reads Excel; openpyxl does, without pulling in pandas' Excel path.
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # zipfile / openpyxl raise several types for a broken workbook
        raise ConfigError(f"{where}: could not be read as an Excel workbook ({type(e).__name__}: {e})") from None
    try:
        if sheet is not None and sheet not in wb.sheetnames:
            raise ConfigError(f"{where}: no sheet named {sheet!r}; it has {', '.join(map(repr, wb.sheetnames))}")
        ws = wb[sheet] if sheet is not None else wb.worksheets[0]
        # Cells, not values_only: the number format is what shows 12.5 as 12.50. Read-only cells
        # carry it (an EmptyCell's is None, read as General).
        values = ([cell_text(c.value, c.number_format) for c in r] for r in ws.iter_rows())
        header = next(values, None)
        if not header or all(h is None for h in header):
            raise ConfigError(f"{where}: sheet {ws.title!r} has no header row")
        rows = []
        for r in values:
            cells = [r[i] if i < len(r) else None for i in range(len(header))]
            if any(c is not None for i, c in enumerate(cells) if header[i] is not None):
                rows.append(cells)  # Excel sheets often end in empty formatted rows: those are skipped
    finally:
        wb.close()
    return header, rows
