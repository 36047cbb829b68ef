"""Officers' workbook, the published side: the run, the summary figures, and each
department's quarantined files and rows with their raw values masked.

The published file is attached read-only to the restricted state's connection, so the
workbook reads both through one connection; ID numbers are masked as soon as they are read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from schemas.canonical import CANONICAL
from schemas.labels import DISCREPANCY_KIND_LABELS, QUARANTINE_REASON_LABELS
from schemas.labels import SOURCE_LABELS as SOURCE_LABELS_BY_CODE
from schemas.source_spec import SourceSpec, ValueKind
from schemas.workbook import (
    RAW_VALUE_WIDTH,
    REJECT_COLUMNS,
    WHOLE_FILE_LABEL,
    SheetColumn,
)
from transforms.normalise_ids import mask_id_number
from warehouse.errors import BirthrecError

PUBLISHED = "published_wh"
# 15 to 18 digit-like characters inside any text: an ID number, whatever column it hid in.
ID_LIKE_PATTERN = r"(\d{4})\d{9,12}(\d[\dXxＸｘ])"
ID_LIKE_MASK = "${1}************${2}"
SOURCE_LABELS: dict[str, str] = {s.value: label for s, label in SOURCE_LABELS_BY_CODE.items()}
KIND_LABELS: dict[str, str] = {k.value: label for k, label in DISCREPANCY_KIND_LABELS.items()}
RAW_KEYS = ("record_id", *(c for c in CANONICAL if c.endswith("_raw")))


class PublishedRunMismatchError(BirthrecError):
    """The warehouse file holds another run than the one the workbook was asked for."""


def masked_text(expr: pl.Expr) -> pl.Expr:
    """Free text with every ID-number-like run masked to its first 4 and last 2 characters.

    >>> pl.select(masked_text(pl.lit("见 45010219900101123X"))).item()
    '见 4501************3X'
    """
    return expr.str.replace_all(ID_LIKE_PATTERN, ID_LIKE_MASK)


def attach_published_sql(warehouse: Path) -> str:
    path = str(warehouse).replace("'", "''")
    return f"ATTACH '{path}' AS {PUBLISHED} (READ_ONLY)"


@contextmanager
def published_attached(state: duckdb.DuckDBPyConnection, warehouse: Path) -> Iterator[str]:
    """The published file beside the state on one connection, read-only, for this block only:
    the nightly's own connection must not keep it open (the next publish renames over it)."""
    state.execute(attach_published_sql(warehouse))
    try:
        yield PUBLISHED
    finally:
        state.execute(f"DETACH {PUBLISHED}")


def published_run(state: duckdb.DuckDBPyConnection) -> tuple[str, date | None]:
    """(run_id, as_of) of the attached published file: every table carries the same run."""
    rows = state.execute(
        f"SELECT l.run_id, r.as_of FROM (SELECT any_value(run_id) AS run_id "
        f"FROM {PUBLISHED}.label_source) l LEFT JOIN {PUBLISHED}.run r USING (run_id)"
    ).fetchall()
    return rows[0][0], rows[0][1]


def case_counts_sql() -> str:
    return f"""
SELECT p.township_code, d.kind, d.status, count(*) AS cases
FROM {PUBLISHED}.discrepancy d LEFT JOIN {PUBLISHED}.person p USING (person_id)
GROUP BY ALL"""


def rejected_rows_sql() -> str:
    """Quarantined files and rows, once each (a file delivered twice is listed once)."""
    return """
SELECT DISTINCT ON (file, file_hash, row_number, reason)
       source, file, row_number, reason, detail, raw_values
FROM quarantine_rows
ORDER BY file, file_hash, row_number NULLS FIRST, reason"""


def township_label(code: pl.Expr, names: dict[str, str]) -> pl.Expr:
    return code.replace_strict(names, default=None, return_dtype=pl.String)


def rejected_rows(state: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Quarantined files and rows with Chinese reasons and every raw value masked."""
    raw = pl.Struct({key: pl.String for key in RAW_KEYS})
    rows = state.sql(rejected_rows_sql()).pl()
    return rows.with_columns(
        pl.col("raw_values").str.json_decode(raw).alias("raw")).unnest("raw").select(
        "source", "file",
        pl.col("row_number").cast(pl.String).fill_null(WHOLE_FILE_LABEL).alias("row_label"),
        pl.col("reason").replace_strict({r.value: label for r, label in
                                         QUARANTINE_REASON_LABELS.items()},
                                        default=pl.col("reason"), return_dtype=pl.String)
        .alias("reason_label"),
        "reason", masked_text(pl.col("detail")).alias("detail"),
        # an ID cell is masked whole: separators in a damaged one would hide it from the scan
        *((mask_id_number(pl.col(key)) if "id_number" in key else masked_text(pl.col(key)))
          .alias(f"raw_{key}") for key in RAW_KEYS),
    )


def reject_columns(spec: SourceSpec | None) -> tuple[SheetColumn, ...]:
    """The reject sheet's columns: file, row, reason, then the department's own headers."""
    if spec is None:
        return REJECT_COLUMNS
    raw = []
    for column in spec.columns:
        key = "record_id" if column.name == "record_id" else f"{column.name}_raw"
        if key not in RAW_KEYS:
            continue
        wide = column.kind == ValueKind.ID_NUMBER
        raw.append(SheetColumn(f"raw_{key}", column.header, RAW_VALUE_WIDTH + (6 if wide else 0)))
    return (*REJECT_COLUMNS, *raw)


@dataclass(frozen=True)
class SummaryFigures:
    """The published figures every summary sheet is cut from."""

    run_id: str
    as_of: date | None
    kpi: pl.DataFrame
    sex_ratio: pl.DataFrame
    case_counts: pl.DataFrame
    townships: pl.DataFrame


def summary_figures(state: duckdb.DuckDBPyConnection, run_id: str, as_of: date | None
                    ) -> SummaryFigures:
    return SummaryFigures(
        run_id=run_id,
        as_of=as_of,
        kpi=state.sql(f"SELECT * FROM {PUBLISHED}.registration_kpi").pl(),
        sex_ratio=state.sql(
            f"SELECT source, township_code, births, males, females, unknown_sex, ratio, ci_low, "
            f"ci_high FROM {PUBLISHED}.sex_ratio WHERE period = 'all' AND birth_order IS NULL"
        ).pl(),
        case_counts=state.sql(case_counts_sql()).pl(),
        townships=state.sql(
            f"SELECT code AS township_code, label AS township_label "
            f"FROM {PUBLISHED}.label_township ORDER BY code").pl(),
    )
