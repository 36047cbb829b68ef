"""Link input: the columns linking needs, one row per record in use, with an integer index.

ID numbers appear here only where they are usable for agreement: a number that failed its
check digit or was damaged by a spreadsheet is kept apart (`*_id_cleaned`) so it can never
count as agreement, only as "one digit off" evidence.
"""

from __future__ import annotations

import polars as pl

from schemas.codes import IdProblem

VALID_OR_UPGRADED = (None, IdProblem.UPGRADED_15.value)
DAMAGED_PROBLEMS = (IdProblem.STORED_AS_NUMBER.value, IdProblem.SCIENTIFIC.value)

LINK_SCHEMA: dict[str, pl.DataType] = {
    "rec": pl.Int64(),
    "source": pl.String(),
    "record_id": pl.String(),
    "child_name": pl.String(),
    "child_name_pinyin": pl.String(),
    "child_id": pl.String(),
    "child_id_cleaned": pl.String(),
    "mother_name": pl.String(),
    "mother_name_pinyin": pl.String(),
    "mother_id": pl.String(),
    "mother_id_cleaned": pl.String(),
    "mother_id_prefix": pl.String(),
    "father_name": pl.String(),
    "father_name_pinyin": pl.String(),
    "father_id": pl.String(),
    "birth_cert_number": pl.String(),
    "birth_date": pl.Date(),
    "sex": pl.Int8(),
    "birth_order": pl.Int8(),
    "township_code": pl.String(),
    "birth_weight_g": pl.Float64(),
}


# The canonical columns linking reads: loading only these keeps a million births in memory.
LINK_INPUT_COLUMNS = (
    "source", "record_id", "child_name", "child_name_pinyin", "child_id_number",
    "child_id_number_problem", "mother_name", "mother_name_pinyin", "mother_id_number",
    "mother_id_number_problem", "father_name", "father_name_pinyin", "father_id_number",
    "father_id_number_problem", "birth_cert_number", "birth_date", "sex", "birth_order",
    "township_code", "birth_weight_g",
)


def valid_id(column: str) -> pl.Expr:
    """The ID number where it is valid (or a valid upgraded 15-digit one), else null."""
    problem = pl.col(f"{column}_problem")
    return pl.when(problem.is_null() | (problem == IdProblem.UPGRADED_15.value)).then(
        pl.col(column))


def cleaned_id(column: str) -> pl.Expr:
    """The 18 characters as written, for near-miss comparison; null when a spreadsheet
    destroyed the digits (those must never look like evidence)."""
    problem = pl.col(f"{column}_problem")
    return pl.when(problem.is_null() | ~problem.is_in(DAMAGED_PROBLEMS)).then(pl.col(column))


def link_records(records: pl.DataFrame) -> pl.DataFrame:
    """Select and derive the linking columns from canonical records in use.

    `mother_id_prefix` keeps the first 15 characters plus the birth date: a spreadsheet
    keeps 15 significant digits, so even a damaged mother ID can still propose a pair.
    """
    return records.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("rec"),
        "source",
        "record_id",
        "child_name",
        "child_name_pinyin",
        valid_id("child_id_number").alias("child_id"),
        cleaned_id("child_id_number").alias("child_id_cleaned"),
        "mother_name",
        "mother_name_pinyin",
        valid_id("mother_id_number").alias("mother_id"),
        cleaned_id("mother_id_number").alias("mother_id_cleaned"),
        pl.col("mother_id_number").str.slice(0, 15).alias("mother_id_prefix"),
        "father_name",
        "father_name_pinyin",
        valid_id("father_id_number").alias("father_id"),
        "birth_cert_number",
        "birth_date",
        "sex",
        "birth_order",
        "township_code",
        "birth_weight_g",
    )
