"""XLSX cells read as the text Excel shows: ``12.50`` stays ``12.50``, ``25%`` stays ``25%``, a date
reads as it is formatted. One table for the format -> text rules (``data.excel_display``), then real
workbooks written by openpyxl and read through the dataset path ``mmtune validate`` uses."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pytest

from mmtune.config import DatasetConfig
from mmtune.data.excel_display import cell_text
from mmtune.data.formats import RowContext, format_by_type
from mmtune.data.intake import dataset_tasks

D = dt.datetime
ACCOUNTING = '_("$"* #,##0.00_);_("$"* \\(#,##0.00\\);_("$"* "-"??_);_(@_)'

# (value as openpyxl reads it, number format, the text Excel shows)
CASES = [
    # General: the shortest text, no trailing .0; booleans as Excel writes them
    (42, "General", "42"),
    (12.0, "General", "12"),
    (0.1, "General", "0.1"),
    (-0.5, "General", "-0.5"),
    (1 / 3, "General", "0.3333333333333333"),
    (True, "General", "TRUE"),
    (False, "0.00", "FALSE"),
    ("007", "General", "007"),
    ("text", "0.00", "text"),
    (12.5, None, "12.5"),
    # fixed decimals, thousands, rounding half away from zero as Excel does
    (12.5, "0.00", "12.50"),
    (12, "0.00", "12.00"),
    (2.675, "0.00", "2.68"),
    (-5, "0.00", "-5.00"),
    (-0.001, "0.00", "0.00"),
    (7, "00", "07"),
    (1234567.891, "#,##0.00", "1,234,567.89"),
    (1234567, "#,##0", "1,234,567"),
    (1234567, "#,##0,", "1,235"),
    (0.5, "#.##", ".5"),
    (12.5, '"$".00', "$12.50"),
    (12, "0.##", "12."),
    (123456789, "000-00-0000", "123-45-6789"),
    (5551234567, "(###) ###-####", "(555) 123-4567"),
    # percent
    (0.25, "0%", "25%"),
    (0.12345, "0.00%", "12.35%"),
    (0.5, "0.0%", "50.0%"),
    # scientific
    (12345, "0.00E+00", "1.23E+04"),
    (0.00012, "0.0E+00", "1.2E-04"),
    (9.999, "0.00E+00", "1.00E+01"),
    # literals, currency, colours, sections
    (12.5, '"$"#,##0.00', "$12.50"),
    (-12.5, '"$"#,##0.00', "-$12.50"),
    (5, '0" kg"', "5 kg"),
    (12.5, "[$€-407] #,##0.00", "€ 12.50"),
    (12.5, "[$-409]0.0", "12.5"),
    (12.5, "[Red]0.0", "12.5"),
    (-5, "#,##0.00;(#,##0.00)", "(5.00)"),
    (-5, "#,##0.00;[Red]-#,##0.00", "-5.00"),
    (0, '0.00;-0.00;"zero"', "zero"),
    (1234.5, ACCOUNTING, "$1,234.50"),
    (-1234.5, ACCOUNTING, "$(1,234.50)"),
    (0, ACCOUNTING, "$-"),
    # dates and times (openpyxl hands datetimes, times and timedeltas for date formats)
    (D(2024, 3, 5), "yyyy-mm-dd", "2024-03-05"),
    (D(2024, 3, 5), "mm-dd-yy", "03-05-24"),
    (D(2024, 3, 5), "d-mmm-yy", "5-Mar-24"),
    (D(2024, 3, 5), "d-mmm", "5-Mar"),
    (D(2024, 3, 5), "mmm-yy", "Mar-24"),
    (dt.date(2024, 1, 2), "m/d/yyyy", "1/2/2024"),
    (D(2024, 3, 5), "dddd, mmmm d, yyyy", "Tuesday, March 5, 2024"),
    (D(2024, 3, 5, 14, 7), "h:mm", "14:07"),
    (D(2024, 3, 5, 14, 7, 9), "yyyy-mm-dd hh:mm:ss", "2024-03-05 14:07:09"),
    (D(2024, 3, 5, 14, 7), "m/d/yy h:mm", "3/5/24 14:07"),
    (dt.time(13, 45), "h:mm AM/PM", "1:45 PM"),
    (D(2024, 3, 5), "h:mm AM/PM", "12:00 AM"),
    (dt.time(9, 5, 30), "h:mm:ss A/P", "9:05:30 A"),
    (D(2024, 3, 5, 10, 0, 12, 960000), "mm:ss.0", "00:13.0"),
    (dt.timedelta(hours=30, minutes=5), "[h]:mm:ss", "30:05:00"),
    (dt.timedelta(minutes=-90), "[h]:mm", "-1:30"),
    (45356.0, "yyyy-mm-dd", "2024-03-05"),  # a serial number under a date format
    # not understood or hiding the value: the general text, never nothing
    (12.5, "# ?/?", "12.5"),
    (150, "[>100]0;0", "150"),
    (5, ";;;", "5"),
    (0, "#", "0"),
    (D(2024, 3, 5), "General", "2024-03-05"),
    (D(2024, 3, 5, 14, 7), "0.00", "2024-03-05 14:07:00"),
    (42, "@", "42"),
]


@pytest.mark.parametrize(("value", "fmt", "shown"), CASES, ids=[f"{f}:{v!r}" for v, f, _ in CASES])
def test_cell_text_is_what_excel_shows(value, fmt, shown):
    assert cell_text(value, fmt) == shown


def test_empty_cells_are_empty():
    assert cell_text(None, "0.00") is None
    assert cell_text("  ", "General") is None


def _sheet(path, rows, formats):
    """A workbook whose columns after the header carry ``formats`` (column letter -> format)."""
    wb = openpyxl.Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    for col, fmt in formats.items():
        for cell in ws[col][1:]:
            cell.number_format = fmt
    wb.save(path)
    return path


def test_a_prompt_completion_sheet_reads_as_displayed(tmp_path):
    """The whole dataset path of ``mmtune validate``: the rows and the conversation's text."""
    path = _sheet(
        tmp_path / "prices.xlsx",
        [
            ["prompt", "completion", "system"],
            ["Total of the receipt?", 12.5, "Answer with the amount."],
            ["Share of returns?", 0.25, None],
            ["When was it paid?", D(2024, 3, 5), None],
            ["Is it paid?", True, None],
            ["How many items?", 3.0, None],
        ],
        {"B": "0.00"},
    )
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    ws["B3"].number_format = "0%"
    ws["B4"].number_format = "d-mmm-yy"
    ws["B6"].number_format = "General"
    wb.save(path)

    tasks, n = dataset_tasks(DatasetConfig(path=str(path)))
    assert n == 5 and {t.format for t in tasks} == {"prompt_completion"}
    assert [t.row["completion"] for t in tasks] == ["12.50", "25%", "5-Mar-24", "TRUE", "3"]
    conv = format_by_type(tasks[0].format).convert(tasks[0].row, RowContext(tasks[0].base_dir))
    assert [(m.role, m.text) for m in conv.messages] == [
        ("system", "Answer with the amount."),
        ("user", "Total of the receipt?"),
        ("assistant", "12.50"),
    ]


def test_formats_in_prompts_and_headers(tmp_path):
    """Numbers in the prompt column and the header read as displayed too."""
    path = _sheet(
        tmp_path / "q.xlsx",
        [
            ["prompt", "completion", 2024],
            [1234.5, "one thousand two hundred thirty-four and a half", 1],
            [D(2024, 12, 31, 23, 59), "the last minute of the year", 2],
        ],
        {},
    )
    wb = openpyxl.load_workbook(path)
    ws = wb.active
    ws["A2"].number_format = "#,##0.00"
    ws["A3"].number_format = "yyyy-mm-dd hh:mm"
    ws["C1"].number_format = "0"
    wb.save(path)
    tasks, _ = dataset_tasks(DatasetConfig(path=str(path), type="prompt_completion"))
    assert [(t.row["prompt"], t.row["2024"]) for t in tasks] == [("1,234.50", "1"), ("2024-12-31 23:59", "2")]
