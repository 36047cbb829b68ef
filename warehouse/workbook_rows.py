"""Officers' workbook, the rows of the big list sheets as sheet XML built by polars.

xlsxwriter spends ~15 µs of Python per cell; a county's 800,000 cases are 22 million cells.
So xlsxwriter writes each workbook with only the header row of its list sheets (the layout,
formats, filter, drop-down), and the data rows are built here for whole columns at once, in
exactly the XML xlsxwriter writes in constant_memory mode (inline strings, numbers `.16G`),
then spliced into the sheet's part when the workbook file is assembled.
"""

from __future__ import annotations

import io
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

import polars as pl
from xlsxwriter.utility import xl_col_to_name, xl_range

# Excel caps a cell at 32767 UTF-16 units; xlsxwriter truncates longer text (a string of at
# most half that many characters cannot exceed it, so only longer ones need the exact check).
CELL_MAX_UTF16 = 32_767
ROWS_PER_PIECE = 20_000  # rows built and compressed together: bounds the memory per sheet
PLAN_MIN_ROWS = 2_000  # below this, every text column is escaped without looking first
COPY_BUFFER_BYTES = 1 << 20
# xlsxwriter's escapes, in its order (xmlwriter._escape_control_characters, _escape_data):
# a literal "_xHHHH_" keeps its meaning by escaping its underscore; control characters
# other than tab and newline become _xHHHH_; then &, < and > as entities.
LITERAL_ESCAPE_PATTERN = r"_x[0-9a-fA-F]{4}_"
CONTROL_CHARACTERS = [chr(c) for c in (*range(0x00, 0x09), *range(0x0B, 0x20))]
NON_CHARACTERS = ["\ufffe", "\uffff"]
CONTROL_ESCAPES = [f"_x{ord(c):04X}_" for c in CONTROL_CHARACTERS + NON_CHARACTERS]
XML_TEXT_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# Any of these in a value means it may need an escape (a superset: it only decides whether
# to do the work); literals, as a regex per column costs more to compile than to run.
MAY_NEED_ESCAPE = [*XML_TEXT_ESCAPES, *CONTROL_CHARACTERS, *NON_CHARACTERS, "_x"]
EDGE_WHITE_SPACE = r"^\s|\s$"  # xlsxwriter's test for xml:space="preserve"
NUMBER_DTYPES = (pl.Float64, pl.Float32, pl.Int64, pl.Int32, pl.Int16, pl.Int8,
                 pl.UInt64, pl.UInt32, pl.UInt16, pl.UInt8)
ROW_NUMBER = "__row_number"
SHEET_PART = "__sheet_part"
SHEET_DATA_END = b"</sheetData>"
DIMENSION = re.compile(rb'<dimension ref="[A-Z0-9:]+"/>')


@dataclass(frozen=True)
class SheetRows:
    """Data rows for one sheet part, to be written after its header row (row 0)."""

    part: str  # the sheet's XML part in the package: xl/worksheets/sheet<N>.xml
    frame: pl.DataFrame  # one column per sheet column, in order

    @classmethod
    def for_sheet(cls, sheet_index: int, frame: pl.DataFrame) -> SheetRows:
        return cls(f"xl/worksheets/sheet{sheet_index + 1}.xml", frame)


def can_build_rows(frame: pl.DataFrame) -> bool:
    """Text and number columns only: the only cell kinds the list sheets hold."""
    return all(dtype == pl.String or dtype in NUMBER_DTYPES for dtype in frame.dtypes)


def escaped_text(text: pl.Expr) -> pl.Expr:
    """Cell text as xlsxwriter escapes it for an inline string.

    >>> pl.select(escaped_text(pl.lit("a<b & _x0041_\\x01"))).item()
    'a&lt;b &amp; _x005F_x0041__x0001_'
    """
    return (text.str.replace_all(LITERAL_ESCAPE_PATTERN, "_x005F${0}")
            .str.replace_many(CONTROL_CHARACTERS + NON_CHARACTERS, CONTROL_ESCAPES)
            .str.replace_many(list(XML_TEXT_ESCAPES), list(XML_TEXT_ESCAPES.values())))


def string_cell(name: str, letter: str, escape: bool = True, preserve: bool = True
                ) -> pl.Expr:
    """`<c r=".." t="inlineStr">` of a text column; null (no cell) for null or empty text.

    `escape` and `preserve` may be False only where no value of the column needs an escape
    or starts or ends with white space: the work is then skipped, the XML is the same.
    """
    text = escaped_text(pl.col(name)) if escape else pl.col(name)
    # before the entities: they never start or end with white space, so the test is the same
    space = (pl.when(text.str.contains(EDGE_WHITE_SPACE)).then(pl.lit(' xml:space="preserve"'))
             .otherwise(pl.lit("")) if preserve else pl.lit(""))
    return pl.when(pl.col(name) != "").then(pl.concat_str(
        pl.lit(f'<c r="{letter}'), pl.col(ROW_NUMBER), pl.lit('" t="inlineStr"><is><t'),
        space, pl.lit(">"), text, pl.lit("</t></is></c>")))


def number_cell(name: str, letter: str) -> pl.Expr:
    """`<c r=".."><v>` of a number column already formatted as text; null for null."""
    return pl.concat_str(pl.lit(f'<c r="{letter}'), pl.col(ROW_NUMBER), pl.lit('"><v>'),
                         pl.col(name), pl.lit("</v></c>"))


def number_text(value: float | int | None) -> str | None:
    """A number as xlsxwriter writes it (`.16G`); it refuses NaN and infinities, so do we."""
    if value is None:
        return None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{value} cannot be written to a workbook cell")
    return f"{value:.16G}"


def utf16_truncated(text: str | None) -> str | None:
    """Text cut to Excel's cell limit in UTF-16 units, never inside a character (as
    xlsxwriter cuts it: a character above U+FFFF counts 2)."""
    if text is None or len(text) <= CELL_MAX_UTF16 // 2:
        return text
    length = 0
    for index, character in enumerate(text):
        length += 2 if ord(character) > 0xFFFF else 1
        if length > CELL_MAX_UTF16:
            return text[:index]
    return text


@dataclass(frozen=True)
class SheetPlan:
    """What the values of a sheet's text columns need, found in one pass over the frame."""

    escape: frozenset[str]  # columns with a value to escape
    space: frozenset[str]  # columns with a value that may start or end with white space
    too_long: frozenset[str]  # columns with a value past Excel's cell limit
    last_row: int  # the last sheet row (0-based) with a cell; 0 (the header) if none


def plan_sheet(frame: pl.DataFrame) -> SheetPlan:
    """Which text columns need which work; a small sheet is simply given all of it, as
    looking costs more than the work there (~60 µs per column and question)."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    found = frame.select(
        pl.max_horizontal(pl.col(name).str.len_chars().max() for name in text).alias("longest")
        if text else pl.lit(0).alias("longest"),
        pl.any_horizontal(has_cell(name, dtype) for name, dtype in frame.schema.items())
        .arg_true().last().alias("last"),
    ).row(0, named=True)
    # frame row i is sheet row i + 1, under the header
    last_row = 0 if found["last"] is None else int(found["last"]) + 1
    too_long: frozenset[str] = frozenset()
    if (found["longest"] or 0) > CELL_MAX_UTF16 // 2:
        long = frame.select(pl.col(name).str.len_chars().gt(CELL_MAX_UTF16 // 2).any()
                            for name in text).row(0, named=True)
        too_long = frozenset(name for name in text if long[name])
    if frame.height < PLAN_MIN_ROWS:
        return SheetPlan(frozenset(text), frozenset(text), too_long, last_row)
    needs = frame.select(
        *(pl.col(name).str.contains_any(MAY_NEED_ESCAPE).any().alias(f"escape {name}")
          for name in text),
        # strip_chars() trims Unicode white space, what the regex's \s matches
        *((pl.col(name).str.strip_chars() != pl.col(name)).any().alias(f"space {name}")
          for name in text),
    ).row(0, named=True) if text else {}
    return SheetPlan(
        escape=frozenset(name for name in text if needs[f"escape {name}"]),
        space=frozenset(name for name in text if needs[f"space {name}"]),
        too_long=too_long, last_row=last_row)


def as_cell_values(frame: pl.DataFrame, plan: SheetPlan) -> pl.DataFrame:
    """Numbers formatted by Python's `.16G` (exactly xlsxwriter's text), long text cut."""
    changed = []
    for name, dtype in frame.schema.items():
        values = frame.get_column(name).to_list()
        if dtype in NUMBER_DTYPES:
            changed.append(pl.Series(name, [number_text(v) for v in values], pl.String))
        elif name in plan.too_long:
            changed.append(pl.Series(name, [utf16_truncated(v) for v in values], pl.String))
    return frame.with_columns(changed)


def row_expression(frame: pl.DataFrame, plan: SheetPlan) -> pl.Expr:
    """A `<row>` element of cell values (as_cell_values), null where the row has no cell,
    which is where xlsxwriter writes no row either."""
    cells = []
    for index, (name, dtype) in enumerate(frame.schema.items()):
        letter = xl_col_to_name(index)
        cells.append(number_cell(name, letter) if dtype in NUMBER_DTYPES else string_cell(
            name, letter, escape=name in plan.escape, preserve=name in plan.space))
    # number columns are text by now: every value is tested the same way
    return pl.when(pl.any_horizontal(has_cell(name, pl.String()) for name in frame.columns)
                   ).then(pl.concat_str(pl.lit('<row r="'), pl.col(ROW_NUMBER), pl.lit('">'),
                                        pl.concat_str(cells, ignore_nulls=True),
                                        pl.lit("</row>")))


def rows_xml(frame: pl.DataFrame, first_row: int, plan: SheetPlan | None = None) -> pl.Series:
    """The `<row>` elements of the frame's rows (sheet row `first_row` onward, 0-based)."""
    plan = plan or plan_sheet(frame)
    return as_cell_values(frame, plan).with_columns(
        pl.int_range(first_row + 1, first_row + 1 + frame.height, dtype=pl.Int64)
        .cast(pl.String).alias(ROW_NUMBER)
    ).select(row_expression(frame, plan).alias("row")).get_column("row").drop_nulls()


def small_sheets_xml(sheets: Sequence[SheetRows]) -> dict[str, tuple[bytes, int]]:
    """(rows XML, last row with a cell) of every small sheet, built a batch of sheets with the
    same columns at a time: a polars call costs ~10 ms on any frame, and a township's
    workbook has a dozen small sheets."""
    built: dict[str, tuple[bytes, int]] = {}
    batches: dict[tuple[tuple[str, pl.DataType], ...], list[SheetRows]] = {}
    for sheet in sheets:
        if sheet.frame.height < PLAN_MIN_ROWS:
            batches.setdefault(tuple(sheet.frame.schema.items()), []).append(sheet)
    for batch in batches.values():
        frame = pl.concat([sheet.frame for sheet in batch])
        plan = plan_sheet(frame)  # every column escaped, unless together they are big
        part = pl.Series(SHEET_PART, [sheet.part for sheet in batch for _ in
                                      range(sheet.frame.height)], pl.String)
        rows = as_cell_values(frame, plan).with_columns(part).with_columns(
            # each sheet's rows from sheet row 1 (0-based) onward, under its header
            (pl.int_range(pl.len(), dtype=pl.Int64).over(SHEET_PART) + 2).cast(pl.String)
            .alias(ROW_NUMBER),
        ).select(SHEET_PART, pl.col(ROW_NUMBER).cast(pl.Int64).sub(1).alias("sheet_row"),
                 row_expression(frame, plan).alias("row")).drop_nulls("row")
        found = rows.group_by(SHEET_PART).agg(pl.col("row").sort_by("sheet_row").str.join(""),
                                               pl.col("sheet_row").max())
        for part, xml, last_row in found.iter_rows():
            built[part] = (xml.encode(), last_row)
        for sheet in batch:  # a sheet whose rows have no cell at all: no row, dimension A1
            built.setdefault(sheet.part, (b"", 0))
    return built


def has_cell(name: str, dtype: pl.DataType) -> pl.Expr:
    """Whether xlsxwriter writes a cell for this value: not null, and text not empty."""
    present = pl.col(name).is_not_null()
    return present & (pl.col(name) != "") if dtype == pl.String else present


def write_sheet_part(skeleton: bytes, frame: pl.DataFrame, out: IO[bytes],
                     built: tuple[bytes, int] | None = None) -> None:
    """The sheet part xlsxwriter wrote (header row only) with the data rows spliced in and
    its dimension widened to the last row that has a cell, as xlsxwriter would widen it.
    `built`: the rows' XML and last row already built (small_sheets_xml)."""
    end = skeleton.index(SHEET_DATA_END)
    dimension = DIMENSION.search(skeleton)
    if dimension is None:
        raise ValueError("sheet part without a <dimension>: not one xlsxwriter wrote")
    plan = None if built else plan_sheet(frame)
    last_row = built[1] if built else plan.last_row if plan else 0
    # the header row spans every column, so the dimension's columns are the frame's
    ref = xl_range(0, 0, last_row, frame.width - 1).encode()
    out.write(skeleton[: dimension.start()] + b'<dimension ref="' + ref + b'"/>'
              + skeleton[dimension.end(): end])
    if built:
        out.write(built[0])
    else:
        for start in range(0, frame.height, ROWS_PER_PIECE):
            rows = rows_xml(frame.slice(start, ROWS_PER_PIECE), 1 + start, plan)
            out.write(rows.str.join("").cast(pl.Binary).item())
    out.write(skeleton[end:])


def fill_sheet_rows(skeleton: io.BytesIO, target: Path, rows: Sequence[SheetRows]) -> None:
    """Copy the workbook xlsxwriter wrote into memory to `target`, each sheet in `rows` with
    its data rows; every other part as it was (same names, order, dates, compression)."""
    by_part = {sheet.part: sheet.frame for sheet in rows}
    small = small_sheets_xml(rows)
    with ZipFile(skeleton) as source, ZipFile(target, "w", ZIP_DEFLATED) as package:
        missing = set(by_part) - set(source.namelist())
        if missing:  # rows must never go missing quietly
            raise ValueError(f"no sheet part {', '.join(sorted(missing))} in the workbook")
        for info in source.infolist():
            data = source.read(info)
            frame = by_part.get(info.filename)
            if frame is None:
                package.writestr(info, data)
                continue
            with tempfile.TemporaryFile(dir=target.parent) as part:
                write_sheet_part(data, frame, part, small.get(info.filename))
                filled = ZipInfo(info.filename, info.date_time)
                filled.compress_type = info.compress_type
                filled.external_attr = info.external_attr
                filled.file_size = part.tell()  # lets zipfile choose Zip64 only when needed
                part.seek(0)
                with package.open(filled, "w") as entry:
                    shutil.copyfileobj(part, entry, COPY_BUFFER_BYTES)
