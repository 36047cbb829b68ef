"""The HTML report's data: read from the published warehouse only, shaped for the charts.

Comes in: a read-only connection to a published warehouse. Goes out: one JSON-ready dict
(`ReportData`) that the page embeds and draws; every plotted number is a warehouse value.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import duckdb
import polars as pl

from schemas.codes import DiscrepancyKind, DiscrepancyStatus, Source
from schemas.labels import DISCREPANCY_STATUS_LABELS
from transforms.indicators import REGISTRATION_TARGETS, SRB_NORMAL_RANGE, UNKNOWN_TOWNSHIP

ReportData = dict[str, Any]

RECONCILED_SOURCE = "reconciled"
RECONCILED_LABEL = "核对后（全部儿童）"
COUNTY_CODE = "county"  # the whole county: township_code null in the published tables
COUNTY_LABEL = "全县"
UNKNOWN_TOWNSHIP_LABEL = "乡镇未识别"
NO_CHILD_CODE = "none"  # a discrepancy about no particular child (person_id null)
NO_CHILD_LABEL = "不涉及具体儿童"
# Departments that publish sex ratios, in the order the report shows them (民政 has none).
RATIO_SOURCES = (RECONCILED_SOURCE, Source.JISHENG.value, Source.WEISHENG.value,
                 Source.GONGAN.value)
KPI_NAMES = tuple(REGISTRATION_TARGETS)
KPI_LABELS = {"coverage": "覆盖率", "id_entry_rate": "身份证录入率", "accuracy": "准确率"}
MONTH_PATTERN = r"^\d{4}-\d{2}$"
RATIO_COLUMNS = ("births", "males", "females", "unknown_sex", "ratio", "ci_low", "ci_high")


def current_run_sql() -> str:
    """The run that published the tables read (the label tables always carry its id)."""
    return """
SELECT run_id, as_of, finished_at, persons, rows_in_use, rows_quarantined, discrepancies,
       files_ingested, files_rejected, code_version
FROM run
WHERE run_id = (SELECT max(run_id) FROM label_source)"""


def labels_sql(table: str) -> str:
    return f"SELECT code, label FROM {table} ORDER BY code"


def sex_ratio_sql() -> str:
    """All birth orders together: the overall cell per source x township, and the months."""
    columns = ", ".join(RATIO_COLUMNS)
    return f"""
SELECT source, coalesce(township_code, '{COUNTY_CODE}') AS township_code, period, {columns}
FROM sex_ratio
WHERE birth_order IS NULL
  AND (period = 'all' OR (township_code IS NULL AND regexp_matches(period, '{MONTH_PATTERN}')))
ORDER BY source, township_code NULLS FIRST, period"""


def discrepancy_counts_sql() -> str:
    """Cases per kind, status and the reconciled child's township."""
    return f"""
SELECT d.kind, d.status,
       CASE WHEN d.person_id IS NULL THEN '{NO_CHILD_CODE}'
            ELSE coalesce(p.township_code, '{UNKNOWN_TOWNSHIP}') END AS township_code,
       count(*) AS cases
FROM discrepancy d LEFT JOIN person p USING (person_id)
GROUP BY ALL
ORDER BY ALL"""


def registration_kpi_sql() -> str:
    return f"""
SELECT coalesce(township_code, '{COUNTY_CODE}') AS township_code, children,
       {", ".join(KPI_NAMES)},
       {", ".join(f"meets_{name}_target" for name in KPI_NAMES)}
FROM registration_kpi
ORDER BY township_code NULLS FIRST"""


def read_report_data(connection: duckdb.DuckDBPyConnection) -> ReportData:
    """Run the report's queries on a published warehouse and shape the answers."""
    run = connection.sql(current_run_sql()).pl()
    return shape_report_data(
        run=run.row(0, named=True) if run.height else {},
        source_labels=dict(connection.sql(labels_sql("label_source")).fetchall()),
        kind_labels=dict(connection.sql(labels_sql("label_kind")).fetchall()),
        township_labels=dict(connection.sql(labels_sql("label_township")).fetchall()),
        ratios=connection.sql(sex_ratio_sql()).pl(),
        discrepancies=connection.sql(discrepancy_counts_sql()).pl(),
        kpi=connection.sql(registration_kpi_sql()).pl(),
    )


def shape_report_data(
    run: dict[str, Any],
    source_labels: dict[str, str],
    kind_labels: dict[str, str],
    township_labels: dict[str, str],
    ratios: pl.DataFrame,
    discrepancies: pl.DataFrame,
    kpi: pl.DataFrame,
) -> ReportData:
    """Everything the page draws, as plain JSON values; no query, so it is tested on frames."""
    sources = {RECONCILED_SOURCE: RECONCILED_LABEL, **source_labels}
    places = township_names(township_labels)
    return {
        "run": {key: json_value(value) for key, value in run.items()},
        "normal_range": list(SRB_NORMAL_RANGE),
        "targets": dict(REGISTRATION_TARGETS),
        "kpi_labels": KPI_LABELS,
        "status_labels": status_labels(),
        "sources": [{"code": code, "label": sources.get(code, code)} for code in RATIO_SOURCES],
        "ratio_by_source": ratio_by_source(ratios, sources),
        "ratio_by_township": ratio_by_township(ratios, places),
        "monthly": monthly_ratios(ratios),
        "discrepancy_by_kind": discrepancies_by_kind(discrepancies, kind_labels),
        "discrepancy_by_township": open_discrepancies_by_township(
            discrepancies, kind_labels, places),
        "kpi": kpi_rows(kpi, places),
    }


def township_names(township_labels: dict[str, str]) -> dict[str, str]:
    """Township code to name, with the report's names for the county and unmapped places."""
    return {COUNTY_CODE: COUNTY_LABEL, **township_labels, UNKNOWN_TOWNSHIP: UNKNOWN_TOWNSHIP_LABEL,
            NO_CHILD_CODE: NO_CHILD_LABEL}


def place_order(code: str) -> tuple[int, str]:
    """County first, then townships by code, then the unmapped and the childless."""
    rank = {COUNTY_CODE: 0, UNKNOWN_TOWNSHIP: 2, NO_CHILD_CODE: 3}.get(code, 1)
    return rank, code


def json_value(value: object) -> object:
    """Dates and timestamps as ISO text; everything else is already JSON."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def ratio_row(row: dict[str, Any]) -> dict[str, Any]:
    return {column: row[column] for column in RATIO_COLUMNS}


def ratio_by_source(ratios: pl.DataFrame, sources: dict[str, str]) -> list[dict[str, Any]]:
    """The county's sex ratio per department and for the linked children, over all periods."""
    county = ratios.filter((pl.col("township_code") == COUNTY_CODE) & (pl.col("period") == "all"))
    rows = {row["source"]: row for row in county.iter_rows(named=True)}
    return [{"source": code, "label": sources.get(code, code), **ratio_row(rows[code])}
            for code in RATIO_SOURCES if code in rows]


def ratio_by_township(ratios: pl.DataFrame, places: dict[str, str]
                      ) -> dict[str, list[dict[str, Any]]]:
    """Per source, the county row then every township with births, over all periods."""
    overall = ratios.filter(pl.col("period") == "all")
    shaped: dict[str, list[dict[str, Any]]] = {}
    for code in RATIO_SOURCES:
        rows = overall.filter(pl.col("source") == code).iter_rows(named=True)
        shaped[code] = [
            {"township_code": row["township_code"],
             "label": places.get(row["township_code"], row["township_code"]),
             **ratio_row(row)}
            for row in sorted(rows, key=lambda row: place_order(row["township_code"]))
        ]
    return shaped


def monthly_ratios(ratios: pl.DataFrame) -> dict[str, Any]:
    """Births per month for every source and the linked children's monthly sex ratio."""
    months = ratios.filter((pl.col("township_code") == COUNTY_CODE)
                           & pl.col("period").str.contains(MONTH_PATTERN))
    periods = sorted(set(months.get_column("period").to_list()))
    births = {
        code: {row["period"]: row["births"]
               for row in months.filter(pl.col("source") == code).iter_rows(named=True)}
        for code in RATIO_SOURCES
    }
    reconciled = {row["period"]: row for row in months.filter(
        pl.col("source") == RECONCILED_SOURCE).iter_rows(named=True)}
    return {
        "periods": periods,
        "births": {code: [births[code].get(period, 0) for period in periods]
                   for code in RATIO_SOURCES},
        "ratio": [{"period": period, **ratio_row(reconciled[period])}
                  for period in periods if period in reconciled],
    }


def kind_order(kind: str) -> tuple[int, str]:
    """Kinds in the contract's order (schemas/codes.py), unknown kinds after them by code."""
    known = [k.value for k in DiscrepancyKind]
    return (known.index(kind), "") if kind in known else (len(known), kind)


def discrepancies_by_kind(discrepancies: pl.DataFrame, kind_labels: dict[str, str]
                          ) -> list[dict[str, Any]]:
    """Cases per kind split by status (open, explained, resolved), kinds with cases only."""
    statuses = [s.value for s in DiscrepancyStatus]
    counts = discrepancies.group_by("kind", "status").agg(pl.col("cases").sum())
    table: dict[str, dict[str, int]] = {}
    for row in counts.iter_rows(named=True):
        table.setdefault(row["kind"], dict.fromkeys(statuses, 0))[row["status"]] = row["cases"]
    return [
        {"kind": kind, "label": kind_labels.get(kind, kind), **table[kind],
         "total": sum(table[kind].values())}
        for kind in sorted(table, key=kind_order)
    ]


def open_discrepancies_by_township(
    discrepancies: pl.DataFrame, kind_labels: dict[str, str], places: dict[str, str]
) -> dict[str, Any]:
    """Open cases per township x kind: the officers' work list, as a matrix with totals."""
    open_cases = discrepancies.filter(pl.col("status") == DiscrepancyStatus.OPEN.value)
    kinds = sorted(set(open_cases.get_column("kind").to_list()), key=kind_order)
    townships = sorted(set(open_cases.get_column("township_code").to_list()), key=place_order)
    cells = {(row["township_code"], row["kind"]): row["cases"]
             for row in open_cases.group_by("township_code", "kind").agg(
                 pl.col("cases").sum()).iter_rows(named=True)}
    return {
        "status_label": DISCREPANCY_STATUS_LABELS[DiscrepancyStatus.OPEN],
        "kinds": [{"kind": kind, "label": kind_labels.get(kind, kind)} for kind in kinds],
        "rows": [
            {"township_code": code, "label": places.get(code, code),
             "counts": [cells.get((code, kind), 0) for kind in kinds],
             "total": sum(cells.get((code, kind), 0) for kind in kinds)}
            for code in townships
        ],
    }


def kpi_rows(kpi: pl.DataFrame, places: dict[str, str]) -> list[dict[str, Any]]:
    """County first, then townships: the three rates (null when nothing to divide by)."""
    rows = sorted(kpi.iter_rows(named=True), key=lambda row: place_order(row["township_code"]))
    return [{"label": places.get(row["township_code"], row["township_code"]), **row}
            for row in rows]


def status_labels() -> dict[str, str]:
    """Discrepancy status codes to their Chinese labels, for the legend."""
    return {status.value: label for status, label in DISCREPANCY_STATUS_LABELS.items()}
