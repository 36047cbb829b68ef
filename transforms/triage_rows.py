"""Triage normalised rows: which can be used, and why the others go to quarantine.

A row is unusable when it is blank, a total/footer line, has no record id, or holds
nothing that could identify a child (CONTRACT.md section 2).
"""

from __future__ import annotations

import polars as pl

from schemas.canonical import CELL_TYPE_SUFFIX, STAGED_META
from schemas.codes import QuarantineReason
from transforms.normalise_records import has_identifying_fields, is_footer_row


def source_cell_columns(staged: pl.DataFrame) -> list[str]:
    """The staged frame's columns that came from the file's cells."""
    return [c for c in staged.columns
            if c not in STAGED_META and not c.endswith(CELL_TYPE_SUFFIX)]


def quarantine_reasons(is_blank: pl.Expr) -> pl.Expr:
    """The first reason a row cannot be used, or null when it can."""
    return (
        pl.when(is_blank).then(pl.lit(QuarantineReason.BLANK_ROW.value))
        .when(is_footer_row()).then(pl.lit(QuarantineReason.FOOTER_ROW.value))
        .when(pl.col("record_id").is_null()).then(pl.lit(QuarantineReason.NO_RECORD_ID.value))
        .when(~has_identifying_fields())
        .then(pl.lit(QuarantineReason.NO_IDENTIFYING_FIELDS.value))
        .otherwise(None)
    )


def triage_rows(
    staged: pl.DataFrame, records: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split normalised records into (usable, quarantined); quarantined rows get a `reason`.

    `staged` and `records` are the same rows (by row_number) before and after
    normalisation, so a blank row is judged on what was read, not on what cleaning left.
    """
    if not staged.get_column("row_number").equals(records.get_column("row_number")):
        raise ValueError("triage_rows: staged and normalised rows differ (normalise_records "
                         "must keep every row in order)")
    cells = source_cell_columns(staged)
    # Same rows in the same order, so the flag is set beside them (a join gathered all ~60
    # columns of the records again).
    is_blank = staged.select(pl.all_horizontal(pl.col(c).is_null() for c in cells)).to_series()
    judged = records.with_columns(quarantine_reasons(pl.lit(is_blank)).alias("reason"))
    usable = judged.filter(pl.col("reason").is_null()).drop("reason")
    quarantined = judged.filter(pl.col("reason").is_not_null())
    return usable, quarantined
