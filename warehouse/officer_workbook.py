"""Officers' workbooks of a published run: one for the county (全县), one per township.

Every open case appears exactly once: in its township's workbook, or in the county's when the
child has no township. So no workbook holds a million rows, and no case can be decided twice
in two files. The county's adds the township table and each department's rejected rows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
from xlsxwriter.format import Format
from xlsxwriter.workbook import Workbook

from schemas.codes import DiscrepancyKind, DiscrepancyStatus
from schemas.sources import SOURCES
from schemas.workbook import (
    CASE_COLUMNS,
    COUNTY_LABEL,
    COUNTY_NOTE,
    DEPARTMENT_TABLE_HEADERS,
    DEPARTMENT_TABLE_TITLE,
    INDICATOR_LABELS,
    INDICATOR_PARTS,
    INDICATOR_TABLE_HEADERS,
    INDICATOR_TABLE_TITLE,
    KIND_TABLE_HEADERS,
    KIND_TABLE_TITLE,
    MASK_NOTE,
    NO_DATA_LABEL,
    NO_LABEL,
    RECONCILED_LABEL,
    REJECTS_SHEET_SUFFIX,
    RUN_LABELS,
    SUMMARY_SHEET,
    TOTAL_LABEL,
    TOWNSHIP_COLUMNS,
    TOWNSHIP_NOTE,
    TOWNSHIPS_SHEET,
    UNKNOWN_SOURCE_LABEL,
    UNPLACED_TOWNSHIP_LABEL,
    WORKBOOK_TITLE,
    YES_LABEL,
)
from transforms.indicators import REGISTRATION_TARGETS, is_ratio_normal
from warehouse.state_paths import StatePaths
from warehouse.workbook_frames import (
    KIND_LABELS,
    SOURCE_LABELS,
    PublishedRunMismatchError,
    SummaryFigures,
    case_rows,
    published_attached,
    published_run,
    reject_columns,
    rejected_rows,
    summary_figures,
)
from warehouse.workbook_sheets import (
    WORKBOOK_OPTIONS,
    Formats,
    SmallTable,
    add_formats,
    write_formatted_sheet,
    write_summary_sheet,
    write_table_sheet,
)

UNSAFE_IN_FILE_NAME = re.compile(r'[\\/:*?"<>|\s]')
KIND_ORDER = [k.value for k in DiscrepancyKind]
RECONCILED = "reconciled"


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
    paths = [write_county_workbook(county, figures, cases.filter(~placed.fill_null(False)),
                                   cases, rejects, files)]
    by_township = {key[0]: frame for key, frame in
                   cases.filter(placed.fill_null(False)).partition_by(
                       "township_code", as_dict=True).items()}
    for code, name in names.items():
        paths.append(write_township_workbook(
            files[code], figures, code, name, by_township.get(code, cases.clear())))
    return paths


def published_run_id(state: duckdb.DuckDBPyConnection, warehouse: Path) -> str:
    """The run the published file holds now: the one `birthrec workbook` writes for."""
    with published_attached(state, warehouse):
        return published_run(state)[0]


def township_file_name(code: str, name: str) -> str:
    return f"{WORKBOOK_TITLE}_{UNSAFE_IN_FILE_NAME.sub('_', name)}_{code}.xlsx"


def open_workbook(path: Path, title: str, run_id: str) -> tuple[Workbook, Formats]:
    book = Workbook(str(partial_path(path)), WORKBOOK_OPTIONS)
    book.set_properties({"title": title, "subject": run_id, "comments": MASK_NOTE})
    return book, add_formats(book)


def partial_path(path: Path) -> Path:
    return path.with_name(f".{path.stem}.partial.xlsx")


def close_workbook(book: Workbook, path: Path) -> Path:
    """Close, then rename into place: an officer never opens half a workbook."""
    try:
        book.close()
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
    book, formats = open_workbook(path, f"{WORKBOOK_TITLE}（{COUNTY_LABEL}）", figures.run_id)
    taken: set[str] = set()
    write_summary_sheet(book, formats, SUMMARY_SHEET, f"{WORKBOOK_TITLE}：{COUNTY_LABEL}",
                        run_facts(figures, COUNTY_LABEL, COUNTY_NOTE),
                        summary_tables(figures, None, formats), taken)
    write_formatted_sheet(book, formats, TOWNSHIPS_SHEET, TOWNSHIP_COLUMNS,
                          township_rows(figures, all_cases, files, path),
                          township_formats(formats), taken)
    write_case_sheets(book, formats, unplaced_cases, taken)
    for source in [*SOURCE_LABELS, None]:
        rows = rejects.filter(pl.col("source").eq_missing(source))
        if source is None and rows.height == 0:
            continue
        label = SOURCE_LABELS[source] if source else UNKNOWN_SOURCE_LABEL
        write_table_sheet(book, formats, f"{label}{REJECTS_SHEET_SUFFIX}",
                          reject_columns(SOURCES.get(source or "")), rows, taken)
    return close_workbook(book, path)


def write_township_workbook(
    path: Path, figures: SummaryFigures, code: str, name: str, cases: pl.DataFrame
) -> Path:
    """汇总 of the township and its open cases, one sheet per kind."""
    book, formats = open_workbook(path, f"{WORKBOOK_TITLE}（{name}）", figures.run_id)
    taken: set[str] = set()
    write_summary_sheet(book, formats, SUMMARY_SHEET, f"{WORKBOOK_TITLE}：{name}（{code}）",
                        run_facts(figures, f"{name}（{code}）", TOWNSHIP_NOTE),
                        summary_tables(figures, code, formats), taken)
    write_case_sheets(book, formats, cases, taken)
    return close_workbook(book, path)


def write_case_sheets(book: Workbook, formats: Formats, cases: pl.DataFrame,
                      taken: set[str]) -> None:
    """One sheet per kind with open cases, conflicts first (the order of the kind codes)."""
    by_kind = {key[0]: frame for key, frame in cases.partition_by(
        "kind", as_dict=True, maintain_order=True).items()}
    for kind in sorted(by_kind, key=lambda k: (KIND_ORDER.index(k) if k in KIND_ORDER
                                               else len(KIND_ORDER), k)):
        write_table_sheet(book, formats, KIND_LABELS.get(kind, kind), CASE_COLUMNS,
                          by_kind[kind], taken)


def run_facts(figures: SummaryFigures, scope: str, note: str) -> list[tuple[str, str]]:
    as_of = figures.as_of.isoformat() if isinstance(figures.as_of, date) else ""
    return list(zip(RUN_LABELS, (scope, figures.run_id, as_of, note, MASK_NOTE), strict=True))


def first_row(frame: pl.DataFrame) -> dict[str, object]:
    return frame.row(0, named=True) if frame.height else {}


def yes_no(value: object) -> str:
    return NO_DATA_LABEL if value is None else (YES_LABEL if value else NO_LABEL)


def summary_tables(figures: SummaryFigures, township: str | None, formats: Formats
                   ) -> list[SmallTable]:
    """Births and sex ratio per department, the three indicators, cases by kind and status."""
    kpi = first_row(figures.kpi.filter(pl.col("township_code").eq_missing(township)))
    ratios = {row["source"]: row for row in figures.sex_ratio.filter(
        pl.col("township_code").eq_missing(township)).iter_rows(named=True)}
    departments = []
    for source, label in [*SOURCE_LABELS.items(), (RECONCILED, RECONCILED_LABEL)]:
        held = kpi.get("children" if source == RECONCILED else f"children_in_{source}")
        cell = ratios.get(source, {})
        ratio = cell.get("ratio")
        departments.append((label, held, cell.get("males"), cell.get("females"),
                            cell.get("unknown_sex"), ratio, cell.get("ci_low"),
                            cell.get("ci_high"),
                            yes_no(is_ratio_normal(ratio)) if cell else None))
    indicators = []
    for name, target in REGISTRATION_TARGETS.items():
        numerator, denominator = INDICATOR_PARTS[name]
        indicators.append((INDICATOR_LABELS[name], kpi.get(name), target,
                           yes_no(kpi.get(f"meets_{name}_target")), kpi.get(numerator),
                           kpi.get(denominator)))
    counts = figures.case_counts if township is None else figures.case_counts.filter(
        pl.col("township_code").eq_missing(township))
    decimal, percent = formats.decimal, formats.percent
    return [
        SmallTable(DEPARTMENT_TABLE_TITLE, DEPARTMENT_TABLE_HEADERS, departments,
                   (None, None, None, None, None, decimal, decimal, decimal, None)),
        SmallTable(INDICATOR_TABLE_TITLE, INDICATOR_TABLE_HEADERS, indicators,
                   (None, percent, percent, None, None, None)),
        SmallTable(KIND_TABLE_TITLE, KIND_TABLE_HEADERS, kind_rows(counts),
                   (None,) * len(KIND_TABLE_HEADERS)),
    ]


def kind_rows(counts: pl.DataFrame) -> list[tuple[object, ...]]:
    """Per kind: open, explained, resolved, total; every kind listed, then the total."""
    statuses = [s.value for s in DiscrepancyStatus]
    totals = {(kind, status): n for kind, status, n in counts.group_by("kind", "status").agg(
        pl.col("cases").sum()).iter_rows()}
    kinds = KIND_ORDER + sorted({kind for kind, _ in totals} - set(KIND_ORDER))
    rows: list[tuple[object, ...]] = []
    sums = [0] * (len(statuses) + 1)
    for kind in kinds:
        numbers = [int(totals.get((kind, status), 0)) for status in statuses]
        numbers.append(sum(numbers))
        sums = [total + n for total, n in zip(sums, numbers, strict=True)]
        rows.append((KIND_LABELS.get(kind, kind), kind, *numbers))
    rows.append((TOTAL_LABEL, "", *sums))
    return rows


def township_rows(figures: SummaryFigures, cases: pl.DataFrame, files: dict[str, Path],
                  county: Path) -> list[tuple[object, ...]]:
    """The county's 各乡镇: indicators, reconciled sex ratio and open cases per township."""
    kpi = {row["township_code"]: row for row in figures.kpi.iter_rows(named=True)}
    ratios = {row["township_code"]: row for row in figures.sex_ratio.filter(
        pl.col("source") == RECONCILED).iter_rows(named=True)}
    open_cases = dict(cases.group_by("township_code").len().iter_rows())
    rows: list[tuple[object, ...]] = []
    for code, name in figures.townships.iter_rows():
        row, ratio = kpi.get(code, {}), ratios.get(code, {})
        meets = [row.get(f"meets_{n}_target") for n in REGISTRATION_TARGETS]
        rows.append((code, name, row.get("children"), row.get("coverage"),
                     row.get("id_entry_rate"), row.get("accuracy"),
                     yes_no(None if None in meets else all(meets)) if row else None,
                     ratio.get("ratio"), ratio.get("ci_low"), ratio.get("ci_high"),
                     open_cases.get(code, 0), files[code].name))
    unplaced = sum(n for code, n in open_cases.items() if code not in files)
    if unplaced:
        rows.append(("", UNPLACED_TOWNSHIP_LABEL, None, None, None, None, None, None, None,
                     None, unplaced, county.name))
    return rows


def township_formats(formats: Formats) -> Sequence[Format | None]:
    percent, decimal = formats.percent, formats.decimal
    return (None, None, None, percent, percent, percent, None, decimal, decimal, decimal, None,
            None)
