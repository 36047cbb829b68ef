"""Officers' workbook, the summary figures: per department births and sex ratio with its
interval, the three indicators against their targets, cases by kind and status, and the
county's table of townships. Small tables, cut from the published figures per scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import polars as pl
from xlsxwriter.format import Format

from schemas.codes import DiscrepancyKind, DiscrepancyStatus
from schemas.workbook import (
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
    RUN_LABELS,
    TOTAL_LABEL,
    UNPLACED_TOWNSHIP_LABEL,
    YES_LABEL,
)
from transforms.indicators import REGISTRATION_TARGETS, is_ratio_normal
from warehouse.workbook_frames import (
    KIND_LABELS,
    SOURCE_LABELS,
    SummaryFigures,
)
from warehouse.workbook_sheets import (
    Formats,
    SmallTable,
)

KIND_ORDER = [k.value for k in DiscrepancyKind]
RECONCILED = "reconciled"


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
