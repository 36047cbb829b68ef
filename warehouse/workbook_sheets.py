"""Officers' workbook, the sheets: xlsxwriter layout of tables built in workbook_frames.

xlsxwriter lays out every sheet and writes the small ones cell by cell, to give each figure
its number format; the data rows of the big list sheets are left to workbook_rows, which
builds their XML from whole columns and adds them when the workbook is closed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
from xlsxwriter.format import Format
from xlsxwriter.utility import xl_rowcol_to_cell
from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from schemas.review import DECISION_CHOICES, ReviewColumn
from schemas.workbook import DECISION_PROMPT, SheetColumn
from warehouse.workbook_rows import SheetRows, can_build_rows

# Text stays text: a department's value starting with "=" is not a formula, nor a URL.
WORKBOOK_OPTIONS: dict[str, object] = {
    "constant_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}
EXCEL_MAX_DATA_ROWS = 1_048_575
SHEET_NAME_MAX_CHARS = 31
FORBIDDEN_IN_SHEET_NAME = re.compile(r"[\[\]:*?/\\]")


@dataclass(frozen=True)
class Formats:
    """The few cell formats the workbook uses."""

    header: Format
    title: Format
    label: Format
    percent: Format
    decimal: Format


def add_formats(book: Workbook) -> Formats:
    return Formats(
        header=book.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1,
                                "text_wrap": True, "valign": "vcenter"}),
        title=book.add_format({"bold": True, "font_size": 13}),
        label=book.add_format({"bold": True}),
        percent=book.add_format({"num_format": "0.0%"}),
        decimal=book.add_format({"num_format": "0.0"}),
    )


def sheet_name(text: str, taken: set[str]) -> str:
    """A legal, unique sheet name: at most 31 characters, none of []:*?/\\."""
    base = FORBIDDEN_IN_SHEET_NAME.sub("_", text)[:SHEET_NAME_MAX_CHARS]
    name, number = base, 2
    while name.lower() in taken:
        suffix = f"({number})"
        name, number = base[: SHEET_NAME_MAX_CHARS - len(suffix)] + suffix, number + 1
    taken.add(name.lower())
    return name


def write_table_sheet(
    book: Workbook,
    formats: Formats,
    name: str,
    columns: Sequence[SheetColumn],
    frame: pl.DataFrame,
    taken: set[str],
    deferred: list[SheetRows],
    freeze_columns: int = 1,
) -> list[str]:
    """A list sheet: header row first (the review loop finds its columns there), frozen,
    filtered, one frame row per sheet row; continued on further sheets past Excel's limit.
    A 核查结论 column gets the drop-down of the four decisions. The data rows go to
    `deferred`, to be added when the workbook is closed (workbook_rows)."""
    headers = [c.header for c in columns]
    names = []
    chunks = [frame.slice(start, EXCEL_MAX_DATA_ROWS)
              for start in range(0, max(frame.height, 1), EXCEL_MAX_DATA_ROWS)]
    for chunk in chunks:
        sheet = book.add_worksheet(sheet_name(name, taken))
        names.append(sheet.name)
        for index, column in enumerate(columns):
            sheet.set_column(index, index, column.width)
        sheet.set_row(0, 30)
        sheet.write_row(0, 0, headers, formats.header)
        sheet.freeze_panes(1, freeze_columns)
        last_row = max(chunk.height, 1)
        sheet.autofilter(0, 0, last_row, len(columns) - 1)
        if chunk.height and ReviewColumn.DECISION.value in headers:
            add_decision_list(sheet, headers.index(ReviewColumn.DECISION.value), chunk.height)
        sheet.ignore_errors({"number_stored_as_text":
                             f"A1:{xl_rowcol_to_cell(last_row, len(columns) - 1)}"})
        cells = chunk.select(c.name for c in columns)
        if not can_build_rows(cells):
            for row_number, row in enumerate(cells.iter_rows(), start=1):
                sheet.write_row(row_number, 0, row)
        elif cells.height:
            deferred.append(SheetRows.for_sheet(sheet.index, cells))
    return names


def add_decision_list(sheet: Worksheet, column: int, rows: int) -> None:
    sheet.data_validation(1, column, rows, column, {
        "validate": "list",
        "source": list(DECISION_CHOICES),
        "input_title": ReviewColumn.DECISION.value,
        "input_message": DECISION_PROMPT,
        "error_title": ReviewColumn.DECISION.value,
        "error_message": DECISION_PROMPT,
    })


@dataclass(frozen=True)
class SmallTable:
    """A titled table on the summary sheet; formats per column (None: as is)."""

    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[object]]
    formats: Sequence[Format | None]


def write_summary_sheet(
    book: Workbook,
    formats: Formats,
    name: str,
    heading: str,
    facts: Sequence[tuple[str, str]],
    tables: Sequence[SmallTable],
    taken: set[str],
) -> str:
    """The 汇总 sheet: a heading, the run's facts, then small tables one under another."""
    sheet = book.add_worksheet(sheet_name(name, taken))
    sheet.set_column(0, 0, 24)
    sheet.set_column(1, 8, 14)
    sheet.write_string(0, 0, heading, formats.title)
    row = 1
    for label, value in facts:
        sheet.write_string(row, 0, label, formats.label)
        sheet.write_string(row, 1, value)
        row += 1
    sheet.freeze_panes(1, 0)
    for table in tables:
        row += 1
        sheet.write_string(row, 0, table.title, formats.title)
        sheet.write_row(row + 1, 0, list(table.headers), formats.header)
        row += 2
        for values in table.rows:
            for column, (cell, cell_format) in enumerate(zip(values, table.formats,
                                                             strict=True)):
                if cell is not None:
                    sheet.write(row, column, cell, cell_format)
            row += 1
    return sheet.name


def write_formatted_sheet(
    book: Workbook,
    formats: Formats,
    name: str,
    columns: Sequence[SheetColumn],
    rows: Sequence[Sequence[object]],
    cell_formats: Sequence[Format | None],
    taken: set[str],
) -> str:
    """A small list sheet whose columns carry number formats (the county's 各乡镇)."""
    sheet = book.add_worksheet(sheet_name(name, taken))
    for index, column in enumerate(columns):
        sheet.set_column(index, index, column.width)
    sheet.write_row(0, 0, [c.header for c in columns], formats.header)
    sheet.freeze_panes(1, 2)
    sheet.autofilter(0, 0, max(len(rows), 1), len(columns) - 1)
    for row_number, values in enumerate(rows, start=1):
        for index, (cell, cell_format) in enumerate(zip(values, cell_formats, strict=True)):
            if cell is not None:
                sheet.write(row_number, index, cell, cell_format)
    return sheet.name
