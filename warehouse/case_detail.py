"""`birthrec case ID`: one case in full, UNMASKED, from the restricted store, for the officer
checking it in the field: every record of the child, raw ID numbers, the scored links.

This is the one place that shows ID numbers on purpose. It prints to the terminal only and
never logs; the workbook points here (MASK_NOTE).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
from rich.console import Console
from rich.table import Table

from schemas.canonical import CANONICAL
from schemas.codes import DiscrepancyKind
from schemas.labels import DISCREPANCY_STATUS_LABELS, SEX_LABELS
from schemas.workbook import (
    CASE_FIELD_LABELS,
    CASE_HEADER_LABELS,
    CASE_LINK_TOTALS,
    CASE_LINKS_TITLE,
    CASE_RECORDS_TITLE,
    CASE_TITLE,
    NO_DATA_LABEL,
    NO_LABEL,
    NO_LINKS_LABEL,
    SEVERITY_LABELS,
    YES_LABEL,
)
from transforms.compare import COMPARISONS
from warehouse.errors import BirthrecError
from warehouse.state_store import registered
from warehouse.workbook_cases import REPRESENTATIVE_ORDER, level_labels
from warehouse.workbook_frames import KIND_LABELS, PUBLISHED, SOURCE_LABELS, published_attached

STATUS_LABELS = {s.value: label for s, label in DISCREPANCY_STATUS_LABELS.items()}
RECORD_FIELDS = ("person_id", "match_probability", *CANONICAL)


class CaseNotFoundError(BirthrecError):
    """No published case has this id."""


@dataclass(frozen=True)
class CaseDetail:
    """A case, every record of its child (and, for 一号多人, of the other child), the links."""

    case: dict[str, object]
    records: pl.DataFrame
    links: pl.DataFrame


def case_sql() -> str:
    return f"""
SELECT d.discrepancy_id, d.kind, d.status, d.source, d.record_id, d.severity, d.person_id,
       coalesce(t.label || '（' || p.township_code || '）', p.township_code) AS township,
       d.detail, d.first_run_id, d.run_id
FROM {PUBLISHED}.discrepancy d
LEFT JOIN {PUBLISHED}.person p USING (person_id)
LEFT JOIN {PUBLISHED}.label_township t ON t.code = p.township_code
WHERE d.discrepancy_id = $case_id"""


def case_records_sql() -> str:
    """The child's records; for 一号多人 also the records carrying the same child ID."""
    columns = ", ".join(f"r.{c}" for c in CANONICAL)
    order = " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(REPRESENTATIVE_ORDER))
    return f"""
WITH chosen AS (
  SELECT child_id_pseudonym FROM records_in_use
  WHERE source = $source AND record_id = $record_id AND $kind = '{DiscrepancyKind.SHARED_ID}')
SELECT p.person_id, p.match_probability, {columns}
FROM records_in_use r JOIN record_person p USING (source, record_id)
WHERE p.person_id = $person_id
   OR (r.source = $source AND r.record_id = $record_id)
   OR r.child_id_pseudonym IN (SELECT child_id_pseudonym FROM chosen)
ORDER BY p.person_id IS DISTINCT FROM $person_id, CASE r.source {order} END, r.record_id"""


def case_links_sql() -> str:
    return """
SELECT * FROM link_pairs
WHERE key_l IN (SELECT member_key FROM case_members)
  AND key_r IN (SELECT member_key FROM case_members)
ORDER BY match_weight DESC, key_l, key_r"""


def load_case_detail(
    state: duckdb.DuckDBPyConnection, warehouse: Path, discrepancy_id: str
) -> CaseDetail:
    """Everything the restricted store knows about one published case."""
    with published_attached(state, warehouse):
        found = state.sql(case_sql(), params={"case_id": discrepancy_id.strip()}).pl()
    if found.height == 0:
        raise CaseNotFoundError(
            f"未找到案件 {discrepancy_id}（请核对工作簿中的案件编号）。 / No case "
            f"{discrepancy_id} in {warehouse}: check the 案件编号 in the workbook.")
    case = found.row(0, named=True)
    records = state.sql(case_records_sql(), params={
        "person_id": case["person_id"], "source": case["source"],
        "record_id": case["record_id"], "kind": case["kind"]}).pl()
    members = records.select(
        pl.concat_str(pl.col("source"), pl.lit(":"), pl.col("record_id")).alias("member_key"))
    with registered(state, "case_members", members):
        links = state.sql(case_links_sql()).pl()
    return CaseDetail(case, records, links)


def shown(value: object) -> str:
    """A value as an officer reads it: booleans 是/否, dates ISO, nothing for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return YES_LABEL if value else NO_LABEL
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def case_table(case: dict[str, object]) -> Table:
    labels = {"kind": KIND_LABELS, "status": STATUS_LABELS, "source": SOURCE_LABELS,
              "severity": SEVERITY_LABELS}
    table = Table(title=CASE_TITLE, show_header=False)
    table.add_column(no_wrap=True, style="bold")
    table.add_column(overflow="fold")
    for field, label in CASE_HEADER_LABELS.items():
        value = shown(case.get(field))
        names = labels.get(field, {})
        table.add_row(label, f"{names[value]}（{value}）" if value in names else value)
    return table


def records_table(records: pl.DataFrame) -> Table:
    """Fields down, records across: a child has a handful of records and ~50 fields."""
    table = Table(title=CASE_RECORDS_TITLE, show_lines=False)
    table.add_column("字段", no_wrap=True, style="bold")
    for row in records.iter_rows(named=True):
        source = str(row["source"])
        table.add_column(f"{SOURCE_LABELS.get(source, source)} {row['record_id']}",
                         overflow="fold", min_width=20)
    for field in RECORD_FIELDS:
        values = [shown(v) for v in records.get_column(field).to_list()]
        if field == "sex" or field.endswith("_number_sex"):
            values = [f"{v}（{SEX_LABELS.get(int(v), v)}）" if v else v for v in values]
        table.add_row(CASE_FIELD_LABELS.get(field, field), *values)
    return table


def links_table(links: pl.DataFrame) -> Table | str:
    """Comparisons down, pairs across: each cell the level's label and its weight."""
    if links.height == 0:
        return NO_LINKS_LABEL
    table = Table(title=CASE_LINKS_TITLE)
    table.add_column("比对", no_wrap=True, style="bold")
    for row in links.iter_rows(named=True):
        table.add_column(f"{row['key_l']}\n{row['key_r']}", overflow="fold", min_width=18)
    for field, label in CASE_LINK_TOTALS.items():
        table.add_row(label, *(shown(v) for v in links.get_column(field).to_list()))
    for comparison in COMPARISONS:
        field = comparison.level_labels[0].partition(" ")[0]
        labels = [label.removeprefix(field) for label in level_labels(comparison)]
        cells = []
        for level, weight in links.select(f"{comparison.name}_level",
                                          f"{comparison.name}_weight").iter_rows():
            cells.append(NO_DATA_LABEL if level is None
                         else f"{labels[level]}（{weight:+.1f}）")
        table.add_row(field, *cells)
    return table


def print_case_detail(detail: CaseDetail, console: Console) -> None:
    """Print the case, its records and their links as Chinese-labelled tables."""
    console.print(case_table(detail.case))
    console.print(records_table(detail.records))
    console.print(links_table(detail.links))
