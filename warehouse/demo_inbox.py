"""Write a demo inbox in the contract's formats, and the ground truth beside it.

`write_demo(out_dir, births, seed)` writes `out_dir/inbox/` (the four departments' folders,
`reference/divisions.csv` and an empty `review/`) and `out_dir/truth/`, replacing both folders
if they exist. The same arguments give the same bytes, workbooks included (fixed creation
dates). The content comes from transforms.synthesise_births, where every rate is a constant.

The truth folder, all UTF-8 CSV without BOM, header on the first line, empty cell = null:

- `children.csv`, one row per true child: `child_key` (C0000001...), `sex` (1 male, 2 female),
  `birth_date`, `township_code` (9 digits), `birth_order` (1, 2, 3 = third or later),
  `birth_parity` (exact: 1-5), `mother_key` (null for foundlings), `twin_group` (null unless
  a twin), `is_home_birth`, `event` (infant_death / adoption / foundling, or null),
  `event_date`, the true names and ID numbers (`child_name` is the hukou name, or the name
  the family gave), `child_id_number` (as issued by 公安; null when never registered),
  `birth_cert_number`, `ethnicity`, `hukou_declared_date`, and `in_jisheng`, `in_weisheng`,
  `in_gongan`, `in_minzheng` (the child has a delivered record there).
- `records.csv`, one row per source record (its latest delivered version) and per unusable row:
  `source`, `record_id`, `child_key` (the true child; the same for a duplicate registration;
  null for a row with nothing identifying), `file` (inbox-relative path of the latest
  version), `row_number` (header = 1), `version` (0 first delivery, 1 corrected/updated),
  `versions`, `is_duplicate_registration`, `is_unusable` (expected in quarantine),
  `unusable_reason` (no_record_id / no_identifying_fields).
- `problems.csv`: `source`, `record_id`, `child_key`, `problem`, `detail`, `file`,
  `row_number` (of the record's latest version). Problems: sex_conflict,
  birth_date_conflict, name_conflict (child's or mother's name, or a renamed duplicate),
  mother_conflict (another woman's or the father's ID; or an adoptive mother on the hukou,
  explained by the adoption), duplicate_registration (on the second record), shared_id (on
  both records), invalid_id (detail: bad_check_digit / scientific_notation),
  id_stored_as_number (a workbook number cell: also an invalid ID), late_registration
  (declared more than one calendar month after the true birth date), sex_unknown,
  infant_death / adoption / foundling (the 民政 record), corrected_record (an earlier version
  was wrong; the latest is right), updated_record (计生 re-sent with the child's ID),
  missing_in_gongan / missing_in_weisheng / missing_in_jisheng (child level: record_id
  null; detail says why: home_birth, never_registered, not_yet_registered,
  died_before_hukou, foundling...), unusable_row and footer_row (file and row given).
- `files.csv`: every inbox file with `source`, `extract_date`, `file_seq`, `extension`,
  `encoding` (CSV only), `rows` (data rows, footers included), `columns` and `headers`
  (as written, `|`-separated), and `fate`: ingest, duplicate_bytes (same bytes as
  `copy_of`) or reject_missing_columns (its records are re-sent in the next _<n> file).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path

import polars as pl
import xlsxwriter

from schemas.canonical import CELL_DATE, CELL_NUMBER, CELL_TYPE_SUFFIX
from schemas.divisions import DIVISIONS, DIVISIONS_PATH
from transforms.synthesise_births import SOURCE_ORDER, SyntheticInbox, synthesise_births

INBOX_FOLDERS = (*SOURCE_ORDER, "reference", "review")
XLS_MAX_ROWS = 65_536
WORKBOOK_CREATED_TIME = time(8, 30)  # files "exported" at 08:30 on their extract date
TRUTH_FILES = ("children.csv", "records.csv", "problems.csv", "files.csv")


@dataclass(frozen=True)
class DemoSummary:
    """What write_demo wrote: where, how much, and the period the extracts cover."""

    out_dir: Path
    inbox_dir: Path
    truth_dir: Path
    births: int
    seed: int
    dirt_scale: float
    start: date
    first_extract: date
    last_extract: date
    files_written: int  # inbox files, divisions.csv included
    inbox_bytes: int
    rows_by_source: dict[str, int]  # data rows written (footers and unusable rows included)
    records: int  # rows of truth/records.csv
    problems: int  # rows of truth/problems.csv


@dataclass(frozen=True)
class FileToWrite:
    """One planned inbox file and its rows (already selected and ordered)."""

    path: Path
    extension: str
    encoding: str | None
    line_terminator: str
    columns: list[str]
    headers: list[str]
    date_cell_format: str
    created: datetime
    rows: pl.DataFrame


def write_demo(out_dir: Path, births: int, seed: int, dirt_scale: float = 1.0,
               start: date = date(2013, 1, 1)) -> DemoSummary:
    """Generate a demo inbox and its truth under out_dir (inbox/ and truth/ are replaced)."""
    synthetic = synthesise_births(births, seed, dirt_scale, start)
    inbox_dir, truth_dir = out_dir / "inbox", out_dir / "truth"
    for folder in (inbox_dir, truth_dir):
        if folder.exists():
            shutil.rmtree(folder)
    for name in INBOX_FOLDERS:
        (inbox_dir / name).mkdir(parents=True)
    truth_dir.mkdir(parents=True)
    write_divisions(synthetic.divisions, inbox_dir / DIVISIONS_PATH)
    write_inbox_files(synthetic, inbox_dir)
    write_truth(synthetic, truth_dir)
    written = sorted(p for p in inbox_dir.rglob("*") if p.is_file())
    return DemoSummary(
        out_dir=out_dir, inbox_dir=inbox_dir, truth_dir=truth_dir, births=births, seed=seed,
        dirt_scale=dirt_scale, start=start, first_extract=synthetic.first_extract,
        last_extract=synthetic.last_extract, files_written=len(written),
        inbox_bytes=sum(p.stat().st_size for p in written),
        rows_by_source=dict(sorted(
            synthetic.file_rows.group_by("source").len().iter_rows())),
        records=synthetic.records.height, problems=synthetic.problems.height,
    )


def write_divisions(divisions: pl.DataFrame, path: Path) -> None:
    """reference/divisions.csv with the headers schemas/divisions.py declares."""
    headers = {c.name: c.header for c in DIVISIONS.columns}
    path.write_bytes(divisions.rename(headers).write_csv().encode("utf-8"))


def files_to_write(synthetic: SyntheticInbox, inbox_dir: Path) -> list[FileToWrite]:
    """Every planned file with its rows, in name order (copies of other files left out)."""
    file_rows = synthetic.file_rows
    # Each file's rows are contiguous and in row order: slices, not copies.
    spans = {
        file: (start, length)
        for file, start, length in file_rows.select("file").with_row_index("at")
        .group_by("file").agg(pl.col("at").min(), pl.len()).iter_rows()
    }
    planned = []
    for plan in synthetic.files.filter(pl.col("copy_of").is_null()).iter_rows(named=True):
        start, length = spans.get(plan["file"], (0, 0))
        rows = file_rows.slice(start, length)
        cell_kinds = [c + CELL_TYPE_SUFFIX for c in plan["columns"]
                      if c + CELL_TYPE_SUFFIX in rows.columns]
        planned.append(FileToWrite(
            path=inbox_dir / plan["file"], extension=plan["extension"],
            encoding=plan["encoding"], line_terminator=plan["line_terminator"],
            columns=plan["columns"], headers=plan["headers"],
            date_cell_format=plan["date_cell_format"],
            created=datetime.combine(plan["extract_date"], WORKBOOK_CREATED_TIME),
            rows=rows.select(*plan["columns"], *cell_kinds),
        ))
    return planned


def write_inbox_files(synthetic: SyntheticInbox, inbox_dir: Path) -> None:
    """Every planned file, then the copies (same bytes under another name)."""
    for file in files_to_write(synthetic, inbox_dir):
        write_file(file)
    for plan in synthetic.files.filter(pl.col("copy_of").is_not_null()).iter_rows(named=True):
        shutil.copyfile(inbox_dir / plan["copy_of"], inbox_dir / plan["file"])


def write_file(file: FileToWrite) -> None:
    if file.extension == "csv":
        write_csv_file(file)
    elif file.extension == "xlsx":
        write_xlsx_file(file)
    elif file.extension == "xls":
        write_xls_file(file)
    else:
        raise ValueError(f"{file.path.name}: no writer for .{file.extension}")


def write_csv_file(file: FileToWrite) -> None:
    """Text cells as they are; GB18030 for 卫生, UTF-8 (with BOM when planned) for the rest."""
    frame = file.rows.select(file.columns)
    frame.columns = file.headers
    text = frame.write_csv(line_terminator=file.line_terminator)
    encoding = file.encoding or "utf-8"
    # Python's utf-8-sig codec writes the BOM; GB18030 encodes every character (never gbk).
    file.path.write_bytes(text.encode(encoding))


def cell_rows(file: FileToWrite) -> Iterable[list[tuple[int, str, str | None]]]:
    """Each row's non-blank cells as (column, text, cell kind); kinds where the frame has them."""
    width = len(file.columns)
    kind_at = [width + file.rows.columns[width:].index(c + CELL_TYPE_SUFFIX)
               if c + CELL_TYPE_SUFFIX in file.rows.columns[width:] else -1
               for c in file.columns]
    for values in file.rows.iter_rows():
        yield [(column, values[column], values[kind_at[column]] if kind_at[column] >= 0 else None)
               for column in range(width) if values[column]]


def write_xlsx_file(file: FileToWrite) -> None:
    """First sheet, header row, then text / number / date cells as planned (constant memory)."""
    workbook = xlsxwriter.Workbook(str(file.path), {
        "constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
        "strings_to_urls": False,
    })
    workbook.set_properties({"created": file.created, "author": "", "title": ""})
    sheet = workbook.add_worksheet("Sheet1")
    date_format = workbook.add_format({"num_format": file.date_cell_format})
    for column, header in enumerate(file.headers):
        sheet.write_string(0, column, header)
    write_string, write_number, write_datetime = (
        sheet.write_string, sheet.write_number, sheet.write_datetime)
    for row, cells in enumerate(cell_rows(file), start=1):
        for column, value, kind in cells:
            if kind == CELL_NUMBER:
                write_number(row, column, float(value))
            elif kind == CELL_DATE:
                write_datetime(row, column, datetime.fromisoformat(value), date_format)
            else:
                write_string(row, column, value)
    workbook.close()


def write_xls_file(file: FileToWrite) -> None:
    """A legacy .xls (BIFF8) through xlwt, the same cells as an xlsx."""
    import xlwt  # only the legacy demo file needs it

    if file.rows.height + 1 > XLS_MAX_ROWS:
        raise ValueError(f"{file.path.name}: {file.rows.height} rows do not fit a .xls sheet")
    workbook = xlwt.Workbook(encoding="utf-8")
    sheet = workbook.add_sheet("Sheet1")
    date_style = xlwt.easyxf(num_format_str=file.date_cell_format)
    for column, header in enumerate(file.headers):
        sheet.write(0, column, header)
    for row, cells in enumerate(cell_rows(file), start=1):
        for column, value, kind in cells:
            if kind == CELL_NUMBER:
                sheet.write(row, column, float(value))
            elif kind == CELL_DATE:
                sheet.write(row, column, datetime.fromisoformat(value), date_style)
            else:
                sheet.write(row, column, value)
    workbook.save(str(file.path))


def write_truth(synthetic: SyntheticInbox, truth_dir: Path) -> None:
    """The four truth tables as UTF-8 CSV (see the module docstring)."""
    files = synthetic.files.select(
        "file", "source", "extract_date", "file_seq", "extension", "encoding", "rows",
        pl.col("columns").list.join("|"), pl.col("headers").list.join("|"), "fate", "copy_of",
        "detail")
    tables = {"children.csv": synthetic.children, "records.csv": synthetic.records,
              "problems.csv": synthetic.problems, "files.csv": files}
    for name in TRUTH_FILES:
        tables[name].write_csv(truth_dir / name)
