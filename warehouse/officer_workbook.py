"""Officers' workbooks of a published run: one for the county (全县), one per township.

Every open case appears exactly once: in its township's workbook, or in the county's when the
child has no township. So no workbook holds a million rows, and no case can be decided twice
in two files. The county's adds the township table and each department's rejected rows.
"""

from __future__ import annotations

import io
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
from xlsxwriter.workbook import Workbook

from schemas.sources import SOURCES
from schemas.workbook import (
    CASE_COLUMNS,
    COUNTY_LABEL,
    COUNTY_NOTE,
    MASK_NOTE,
    REJECTS_SHEET_SUFFIX,
    SUMMARY_SHEET,
    TOWNSHIP_COLUMNS,
    TOWNSHIP_NOTE,
    TOWNSHIPS_SHEET,
    UNKNOWN_SOURCE_LABEL,
    WORKBOOK_TITLE,
)
from warehouse.state_paths import StatePaths
from warehouse.workbook_cases import case_rows
from warehouse.workbook_frames import (
    KIND_LABELS,
    SOURCE_LABELS,
    PublishedRunMismatchError,
    SummaryFigures,
    published_attached,
    published_run,
    reject_columns,
    rejected_rows,
    summary_figures,
)
from warehouse.workbook_rows import SheetRows, fill_sheet_rows
from warehouse.workbook_sheets import (
    WORKBOOK_OPTIONS,
    Formats,
    add_formats,
    write_formatted_sheet,
    write_summary_sheet,
    write_table_sheet,
)
from warehouse.workbook_summary import (
    KIND_ORDER,
    run_facts,
    summary_tables,
    township_formats,
    township_rows,
)

UNSAFE_IN_FILE_NAME = re.compile(r'[\\/:*?"<>|\s]')
WORKBOOK_WRITERS = min(4, os.cpu_count() or 1)


def write_officer_workbooks(
    state: duckdb.DuckDBPyConnection, warehouse: Path, run_id: str, out_dir: Path | None = None
) -> list[Path]:
    """Write the county workbook and every township's for `run_id`, the run `warehouse` holds.

    `state` is the open restricted state (read-write in the nightly flow, read-only from the
    command line); the published file is attached read-only for the reading only. Reports go
    to FILE.reports/<run_id>/ unless `out_dir` says otherwise. Returns the county's path first.
    """
    target = out_dir or StatePaths(warehouse).reports / run_id
    target.mkdir(parents=True, exist_ok=True)
    with published_attached(state, warehouse):
        published, as_of = published_run(state)
        if published != run_id:
            raise PublishedRunMismatchError(
                f"{warehouse} holds run {published}, not {run_id}: write the workbooks of the "
                "run the file holds, or wait for its publish")
        figures = summary_figures(state, run_id, as_of)
        names: dict[str, str] = dict(figures.townships.iter_rows())
        cases = case_rows(state, names)
        rejects = rejected_rows(state)
    placed = pl.col("township_code").is_in(list(names))
    files = {code: target / township_file_name(code, name) for code, name in names.items()}
    county = target / f"{WORKBOOK_TITLE}_{COUNTY_LABEL}.xlsx"
    by_township = {key[0]: frame for key, frame in
                   cases.filter(placed.fill_null(False)).partition_by(
                       "township_code", as_dict=True).items()}
    township_cases = {code: by_township.get(code, cases.clear()) for code in names}
    # polars and zlib let go of the GIL, so threads write workbooks side by side; the
    # biggest first, so no thread is left with one big township at the end
    with ThreadPoolExecutor(WORKBOOK_WRITERS) as pool:
        written = {code: pool.submit(write_township_workbook, files[code], figures, code,
                                     names[code], township_cases[code])
                   for code in sorted(names, key=lambda code: -township_cases[code].height)}
        county_written = pool.submit(write_county_workbook, county, figures,
                                     cases.filter(~placed.fill_null(False)), cases, rejects, files)
        return [county_written.result(), *(written[code].result() for code in names)]


def published_run_id(state: duckdb.DuckDBPyConnection, warehouse: Path) -> str:
    """The run the published file holds now: the one `birthrec workbook` writes for."""
    with published_attached(state, warehouse):
        return published_run(state)[0]


def township_file_name(code: str, name: str) -> str:
    return f"{WORKBOOK_TITLE}_{UNSAFE_IN_FILE_NAME.sub('_', name)}_{code}.xlsx"


@dataclass
class OpenWorkbook:
    """A workbook being written: xlsxwriter's layout in memory, and the list sheets' rows
    still to be added (workbook_rows)."""

    path: Path
    book: Workbook
    formats: Formats
    skeleton: io.BytesIO
    deferred: list[SheetRows] = field(default_factory=list)


def open_workbook(path: Path, title: str, run_id: str) -> OpenWorkbook:
    skeleton = io.BytesIO()
    book = Workbook(skeleton, WORKBOOK_OPTIONS)
    book.set_properties({"title": title, "subject": run_id, "comments": MASK_NOTE})
    return OpenWorkbook(path, book, add_formats(book), skeleton)


def partial_path(path: Path) -> Path:
    return path.with_name(f".{path.stem}.partial.xlsx")


def close_workbook(workbook: OpenWorkbook) -> Path:
    """Close, add the list sheets' rows, then rename into place: an officer never opens
    half a workbook."""
    path = workbook.path
    try:
        workbook.book.close()
        fill_sheet_rows(workbook.skeleton, partial_path(path), workbook.deferred)
        os.replace(partial_path(path), path)
    finally:
        partial_path(path).unlink(missing_ok=True)
    return path


def write_county_workbook(
    path: Path,
    figures: SummaryFigures,
    unplaced_cases: pl.DataFrame,
    all_cases: pl.DataFrame,
    rejects: pl.DataFrame,
    files: dict[str, Path],
) -> Path:
    """汇总, 各乡镇, the cases without a township, and each department's rejected rows."""
    workbook = open_workbook(path, f"{WORKBOOK_TITLE}（{COUNTY_LABEL}）", figures.run_id)
    book, formats = workbook.book, workbook.formats
    taken: set[str] = set()
    write_summary_sheet(book, formats, SUMMARY_SHEET, f"{WORKBOOK_TITLE}：{COUNTY_LABEL}",
                        run_facts(figures, COUNTY_LABEL, COUNTY_NOTE),
                        summary_tables(figures, None, formats), taken)
    write_formatted_sheet(book, formats, TOWNSHIPS_SHEET, TOWNSHIP_COLUMNS,
                          township_rows(figures, all_cases, files, path),
                          township_formats(formats), taken)
    write_case_sheets(workbook, unplaced_cases, taken)
    for source in [*SOURCE_LABELS, None]:
        rows = rejects.filter(pl.col("source").eq_missing(source))
        if source is None and rows.height == 0:
            continue
        label = SOURCE_LABELS[source] if source else UNKNOWN_SOURCE_LABEL
        write_table_sheet(book, formats, f"{label}{REJECTS_SHEET_SUFFIX}",
                          reject_columns(SOURCES.get(source or "")), rows, taken,
                          workbook.deferred)
    return close_workbook(workbook)


def write_township_workbook(
    path: Path, figures: SummaryFigures, code: str, name: str, cases: pl.DataFrame
) -> Path:
    """汇总 of the township and its open cases, one sheet per kind."""
    workbook = open_workbook(path, f"{WORKBOOK_TITLE}（{name}）", figures.run_id)
    taken: set[str] = set()
    write_summary_sheet(workbook.book, workbook.formats, SUMMARY_SHEET,
                        f"{WORKBOOK_TITLE}：{name}（{code}）",
                        run_facts(figures, f"{name}（{code}）", TOWNSHIP_NOTE),
                        summary_tables(figures, code, workbook.formats), taken)
    write_case_sheets(workbook, cases, taken)
    return close_workbook(workbook)


def write_case_sheets(workbook: OpenWorkbook, cases: pl.DataFrame, taken: set[str]) -> None:
    """One sheet per kind with open cases, conflicts first (the order of the kind codes)."""
    by_kind = {key[0]: frame for key, frame in cases.partition_by(
        "kind", as_dict=True, maintain_order=True).items()}
    for kind in sorted(by_kind, key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER
                                               else len(KIND_ORDER), k)):
        write_table_sheet(workbook.book, workbook.formats, KIND_LABELS.get(kind, kind),
                          CASE_COLUMNS, by_kind[kind], taken, workbook.deferred)
