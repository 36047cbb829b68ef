"""Normalise stage, whole records: one department's staged rows (every cell as text) and the
divisions reference in, canonical records (schemas.canonical.CANONICAL) out; plus the row tests
for footer rows and rows that identify no child, which ingest quarantines.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

import polars as pl

from schemas.canonical import CANONICAL, CELL_TYPE_SUFFIX, STAGED_META
from schemas.codes import Source
from schemas.source_spec import SourceSpec, ValueKind
from transforms.frame_schema import check_frame
from transforms.normalise_codes import (
    birth_cert_number,
    birth_order_code,
    birth_weight_grams,
    canonical_record_id,
    cleaned_text,
    event_type_code,
    gestational_weeks,
    sex_code,
    within_policy,
)
from transforms.normalise_dates import normalise_dates
from transforms.normalise_ids import normalise_id_numbers
from transforms.normalise_names import normalise_names
from transforms.normalise_text import on_distinct_values, on_unusual_values
from transforms.normalise_townships import map_townships

CHILD_NAME, MOTHER_NAME = "child_name", "mother_name"
# Column jobs run side by side; polars does the work outside the GIL.
NORMALISE_WORKERS = 4
BIRTH_CERT_NUMBER = "birth_cert_number"
# 卫生's record id is the birth certificate number itself (CONTRACT.md, 卫生 出生医学证明编号):
# copy it into birth_cert_number so every source can be joined on that column.
RECORD_ID_IS_BIRTH_CERT_NUMBER = frozenset({Source.WEISHENG.value})

# TEXT and NUMBER columns whose canonical column has another name or a special reading:
# staged column -> (canonical column, expression over the staged text).
TEXT_READINGS: dict[str, tuple[str, Callable[[pl.Expr], pl.Expr]]] = {
    "policy_status": ("is_within_policy", within_policy),
    "event_type": ("event_type", event_type_code),
    "birth_weight_g": ("birth_weight_g", birth_weight_grams),
    "gestational_weeks": ("gestational_weeks", gestational_weeks),
}
# A certificate number that needs nothing but upper-casing: a letter and digits.
PLAIN_BIRTH_CERT_PATTERN = r"^[A-Za-z]?[0-9]{3,}$"

# Words that start a total or footer line under the data: 合计, 制表人, 共 128 条 ...
FOOTER_PATTERN = (
    r"^(?:合\s*计|总\s*计|小\s*计|累\s*计|共\s*计|总\s*数|制表|填报单位|填报人|填报日期|填表"
    r"|审核|负责人|单位负责人|统计人|统计日期|统计时间|打印|导出|备注|注\s*[:：]|说明\s*[:：]"
    r"|共\s*[0-9０-９]+\s*(?:条|人|户|个|行|例|名|笔|项|份))"
)
# Canonical columns a footer's words can land in: the first columns of each department's sheet.
FOOTER_COLUMNS = ("record_id", "township_raw", "village", "child_name_raw", "mother_name_raw")
# What identifies a child (CONTRACT.md section 2); child_name is null for a placeholder.
IDENTIFYING_COLUMNS = ("child_name", "child_id_number", "mother_name", "mother_id_number",
                       "birth_date")  # fmt: skip


def _with_all_spec_columns(staged: pl.DataFrame, spec: SourceSpec) -> pl.DataFrame:
    """Every declared column as String; a column absent from the file is all null."""
    return staged.with_columns(
        pl.col(c.name).cast(pl.String)
        if c.name in staged.columns
        else pl.lit(None, dtype=pl.String).alias(c.name)
        for c in spec.columns
    )


def _normalise_column(records: pl.DataFrame, name: str, kind: ValueKind) -> pl.DataFrame:
    """Normalise one staged column by its kind (names and townships are separate jobs)."""
    # Small readings run once per distinct value (on_distinct_values): a column of a million
    # cells holds a few hundred distinct sexes, orders, villages or weights.
    cell_column = name + CELL_TYPE_SUFFIX
    value = pl.col(name)
    if kind is ValueKind.RECORD_ID:
        # Lazy, so the repeated sub-expression of the reading is computed once.
        return records.lazy().with_columns(canonical_record_id(value).alias(name)).collect()
    if kind is ValueKind.ID_NUMBER:
        return normalise_id_numbers(records, name, cell_column)
    if kind is ValueKind.DATE:
        return normalise_dates(records, name, cell_column)
    if kind is ValueKind.SEX:
        return records.with_columns(
            value.alias(f"{name}_raw"), on_distinct_values(records, name, sex_code, pl.Int8())
        )
    if kind is ValueKind.BIRTH_ORDER:
        return records.with_columns(
            value.alias(f"{name}_raw"),
            on_distinct_values(records, name, birth_order_code, pl.Int8()),
        )
    if name == BIRTH_CERT_NUMBER:
        return records.with_columns(_birth_cert_numbers(records, name))
    if name in TEXT_READINGS:
        canonical, reading = TEXT_READINGS[name]
        dtype = CANONICAL[canonical]
        return records.with_columns(
            on_distinct_values(records, name, reading, dtype).alias(canonical)
        )
    if kind is ValueKind.NUMBER:
        return records.with_columns(
            on_distinct_values(records, name, _plain_number, pl.Float64())
        )
    return records.with_columns(on_distinct_values(records, name, cleaned_text, pl.String()))


def _plain_number(expr: pl.Expr) -> pl.Expr:
    """The first decimal number in a NUMBER cell without a dedicated reading."""
    return expr.str.extract(r"([0-9]+(?:\.[0-9]+)?)", 1).cast(pl.Float64, strict=False)


def _birth_cert_numbers(records: pl.DataFrame, column: str) -> pl.Expr:
    """birth_cert_number over a column: plain letter-and-digits values are only upper-cased."""
    return on_unusual_values(
        records,
        column,
        PLAIN_BIRTH_CERT_PATTERN,
        lambda plain: plain.str.to_uppercase(),
        birth_cert_number,
    )


def _canonical_columns(records: pl.DataFrame) -> pl.DataFrame:
    """Exactly the CANONICAL columns, in order, with their dtypes; absent ones null."""
    return records.select(
        pl.col(name).cast(dtype) if name in records.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in CANONICAL.items()
    )


def _column_jobs(
    records: pl.DataFrame, spec: SourceSpec, divisions: pl.DataFrame, pool: ThreadPoolExecutor
) -> list[Future[pl.DataFrame]]:
    """One job per staged column, run in `pool`; each returns only the columns it produces.

    Every job reads a narrow frame of its own inputs, so jobs are independent (polars releases
    the GIL, so they share the cores) except the child's name, which waits for the mother's
    cleaned name (its placeholder test compares the two).
    """
    kinds = {c.name: c.kind for c in spec.columns}
    jobs: list[Future[pl.DataFrame]] = []

    def submit(inputs: list[str], work: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
        narrow = records.select(c for c in inputs if c in records.columns)
        jobs.append(pool.submit(lambda: work(narrow).drop(inputs[1:], strict=False)))

    # The costliest jobs first, so the pool finishes together.
    mother: Future[pl.DataFrame] | None = None
    if kinds.get(MOTHER_NAME) is ValueKind.NAME:
        submit([MOTHER_NAME], lambda frame: normalise_names(frame, MOTHER_NAME))
        mother = jobs[-1]
    for name, kind in kinds.items():
        if kind is ValueKind.NAME and name == CHILD_NAME:
            submit([name], partial(_normalise_child_names, mother=mother))
        elif kind is ValueKind.NAME and name != MOTHER_NAME:
            submit([name], partial(normalise_names, column=name))
        elif kind is ValueKind.TOWNSHIP:
            submit([name], partial(map_townships, column=name, divisions=divisions))
    for name, kind in kinds.items():
        if kind not in (ValueKind.NAME, ValueKind.TOWNSHIP):
            reading = partial(_normalise_column, name=name, kind=kind)
            submit([name, name + CELL_TYPE_SUFFIX], reading)
    if spec.code in RECORD_ID_IS_BIRTH_CERT_NUMBER and BIRTH_CERT_NUMBER not in kinds:
        submit(["record_id"], _birth_cert_numbers_from_record_ids)
    return jobs


def _birth_cert_numbers_from_record_ids(frame: pl.DataFrame) -> pl.DataFrame:
    """birth_cert_number for a source whose record id is the certificate number."""
    return frame.select(_birth_cert_numbers(frame, "record_id").alias(BIRTH_CERT_NUMBER))


def _normalise_child_names(
    frame: pl.DataFrame, *, mother: Future[pl.DataFrame] | None
) -> pl.DataFrame:
    """The child's name, its placeholder test using the mother's cleaned name when there is one."""
    if mother is None:
        return normalise_names(frame, CHILD_NAME, detect_placeholders=True)
    mothers = mother.result().select(MOTHER_NAME, f"{MOTHER_NAME}_raw")
    named = normalise_names(
        pl.concat([frame, mothers], how="horizontal"),
        CHILD_NAME,
        mother_name_column=MOTHER_NAME,
        detect_placeholders=True,
    )
    return named.drop(mothers.columns)


def normalise_records(
    staged: pl.DataFrame, spec: SourceSpec, divisions: pl.DataFrame
) -> pl.DataFrame:
    """Turn one department's staged rows into canonical records; never drops or adds a row.

    Each column is read by its ColumnSpec kind (ID numbers, dates, names, sex, birth order,
    township), columns in parallel. A bad value becomes null plus a problem code; footer rows
    and rows that identify no child are left for ingest to quarantine (is_footer_row,
    has_identifying_fields). 卫生's record id also fills birth_cert_number.
    """
    records = _with_all_spec_columns(staged, spec)
    with ThreadPoolExecutor(max_workers=NORMALISE_WORKERS) as pool:
        produced = [job.result() for job in _column_jobs(records, spec, divisions, pool)]
    meta = records.select(c for c in STAGED_META if c in records.columns)
    result = _canonical_columns(pl.concat([meta, *produced], how="horizontal"))
    check_frame(result, CANONICAL, "normalise")
    return result


def is_footer_row(columns: Sequence[str] = FOOTER_COLUMNS) -> pl.Expr:
    """True for a total or footer line (合计, 总计, 制表人, 填报单位, 共 128 条 ...); never null.

    Looks at the given text columns (canonical names by default; staged names also work).

    >>> rows = pl.DataFrame({"record_id": ["合计：12", "J001", None],
    ...                      "township_raw": [None, "大安镇", "制表人：李四"]})
    >>> rows = rows.with_columns(pl.lit(None, pl.String).alias(c) for c in FOOTER_COLUMNS[2:])
    >>> rows.select(is_footer_row()).to_series().to_list()
    [True, False, True]
    """
    # Leading white space skipped by the pattern, not stripped first: half the cost.
    starts_like_footer = r"^\s*" + FOOTER_PATTERN.removeprefix("^")
    return pl.any_horizontal(
        pl.col(c).cast(pl.String).str.contains(starts_like_footer) for c in columns
    ).fill_null(False)


def has_identifying_fields() -> pl.Expr:
    """True when a child could be identified: a (non-placeholder) child name, child ID,
    mother's name, mother's ID or birth date (CONTRACT.md section 2).

    >>> rows = pl.DataFrame({c: [None, None] for c in IDENTIFYING_COLUMNS},
    ...                     schema=dict.fromkeys(IDENTIFYING_COLUMNS, pl.String))
    >>> rows.with_columns(pl.Series("mother_name", ["张丽", None])).select(
    ...     has_identifying_fields()).to_series().to_list()
    [True, False]
    """
    return pl.any_horizontal(pl.col(c).is_not_null() for c in IDENTIFYING_COLUMNS)
