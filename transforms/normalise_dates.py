"""Normalise stage, dates: raw text (and its spreadsheet cell type) in, a Date and what was wrong
with the text out. Accepts every form the departments use, including Excel serial numbers.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from schemas.canonical import CELL_NUMBER
from schemas.codes import DateProblem
from transforms.normalise_text import is_blank_like, map_unique, nfkc_trimmed

DATE_YEAR_RANGE = (1900, 2100)
# Database exports write these for "no date".
BLANK_DATE_VALUES = ("0000-00-00", "00000000", "0000-00-00 00:00:00", "0000/00/00")
# An optional time of day after the date: 14:32, 14:32:05.123, T14:32, 14时32分05秒.
_TIME = r"(?:[\sT]*[0-9]{1,2}[:时点][0-9]{1,2}(?:[:分][0-9]{1,2}(?:\.[0-9]+)?秒?)?分?)?"
# A trailing time of day (" 14:32:05", "T14:32", "日14时32分"); group 1 keeps a 日.
TIME_OF_DAY_PATTERN = r"(?:[\sT]+|(日))[0-9]{1,2}[:：时点][0-9:：.时分秒点]*$"
# 2013-05-04, 2013/5/4, 2013.5.4, 2013年5月4日, each with an optional time.
SEPARATED_DATE_PATTERN = (
    r"^([0-9]{4})\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})\s*日?" + _TIME + r"\s*$"
)
# 20130504, 201305041432, 20130504143205, 20130504 14:32.
COMPACT_DATE_PATTERN = (
    r"^([0-9]{4})([0-9]{2})([0-9]{2})(?:[0-9]{4}|[0-9]{6}|[\sT]+[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?)?$"
)
# Excel serial day numbers: any in a number cell, five digits (1927-2173) in a text cell.
NUMBER_CELL_SERIAL_PATTERN = r"^([0-9]{1,5})(?:\.[0-9]*)?$"
TEXT_SERIAL_PATTERN = r"^([0-9]{5})(?:\.[0-9]*)?$"
# Excel's 1900 date system counts from 1899-12-31 and has a fake 1900-02-29 as day 60;
# from day 61 on, day s is 1899-12-30 + s.
EXCEL_EPOCH = date(1899, 12, 30)
EXCEL_FAKE_LEAP_DAY = 60


def _days_in_month(year: pl.Expr, month: pl.Expr) -> pl.Expr:
    """Gregorian month lengths, leap years included."""
    is_leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    return (
        pl.when(month == 2)
        .then(pl.when(is_leap).then(29).otherwise(28))
        .when(month.is_in([4, 6, 9, 11]))
        .then(30)
        .otherwise(31)
    )


# Marks a key whose text came from a spreadsheet number cell (see normalise_dates).
NUMBER_CELL_MARK = "\x01"


def date_from_parts(year: pl.Expr, month: pl.Expr, day: pl.Expr) -> pl.Expr:
    """The date of integer year, month and day columns; null where there is no such day.

    pl.date raises on 2013-02-30; masking the year first turns that row into null instead.

    >>> parts = pl.DataFrame({"y": [2012, 2013, 2013], "m": [2, 2, 13], "d": [29, 29, 1]})
    >>> parts.select(date_from_parts(pl.col("y"), pl.col("m"), pl.col("d"))).to_series().to_list()
    [datetime.date(2012, 2, 29), None, None]
    """
    is_real_day = (
        month.is_between(1, 12) & day.is_between(1, 31) & (day <= _days_in_month(year, month))
    ).fill_null(False)
    return pl.date(pl.when(is_real_day).then(year), month, day)


def _parse_date_texts(distinct: pl.DataFrame, key: str) -> pl.DataFrame:
    """Parse each distinct key (text, marked when from a number cell): `__date`, `__problem`."""
    is_number_cell = pl.col(key).str.starts_with(NUMBER_CELL_MARK).fill_null(False)
    text = nfkc_trimmed(pl.col(key).str.strip_prefix(NUMBER_CELL_MARK))
    separated = text.str.extract_groups(SEPARATED_DATE_PATTERN)
    compact = text.str.extract_groups(COMPACT_DATE_PATTERN)
    serial_text = (
        pl.when(is_number_cell)
        .then(text.str.extract(NUMBER_CELL_SERIAL_PATTERN, 1))
        .otherwise(text.str.extract(TEXT_SERIAL_PATTERN, 1))
    )
    parts = distinct.with_columns(
        pl.coalesce(separated.struct.field("1"), compact.struct.field("1"))
        .cast(pl.Int32, strict=False)
        .alias("__year"),
        pl.coalesce(separated.struct.field("2"), compact.struct.field("2"))
        .cast(pl.Int32, strict=False)
        .alias("__month"),
        pl.coalesce(separated.struct.field("3"), compact.struct.field("3"))
        .cast(pl.Int32, strict=False)
        .alias("__day"),
        serial_text.cast(pl.Int32, strict=False).alias("__serial"),
        is_blank_like(pl.col(key).str.strip_prefix(NUMBER_CELL_MARK), BLANK_DATE_VALUES).alias(
            "__blank"
        ),
    )
    year, month, day, serial = (pl.col(f"__{p}") for p in ("year", "month", "day", "serial"))
    ymd_date = date_from_parts(year, month, day)
    # Serial day 0 is Excel's "1900-01-00"; day 60 is its fake 1900-02-29.
    is_real_serial = (serial > 0) & (serial != EXCEL_FAKE_LEAP_DAY)
    serial_date = pl.lit(EXCEL_EPOCH) + pl.duration(
        days=pl.when(serial < EXCEL_FAKE_LEAP_DAY).then(serial + 1).otherwise(serial)
    )
    parsed = pl.when(year.is_not_null()).then(ymd_date).when(is_real_serial).then(serial_date)
    low, high = DATE_YEAR_RANGE
    problem = (
        pl.when(pl.col("__blank"))
        .then(None)
        .when(year.is_null() & serial.is_null())
        .then(pl.lit(DateProblem.UNPARSEABLE.value))
        .when(pl.col("__date").is_null())
        .then(pl.lit(DateProblem.IMPOSSIBLE.value))
        .when(~pl.col("__date").dt.year().is_between(low, high))
        .then(pl.lit(DateProblem.OUT_OF_RANGE.value))
    )
    return (
        parts.with_columns(pl.when(~pl.col("__blank")).then(parsed).alias("__date"))
        .with_columns(problem.alias("__problem"))
        .with_columns(pl.when(pl.col("__problem").is_null()).then(pl.col("__date")).alias("__date"))
        .select(key, "__date", "__problem")
    )


def normalise_dates(
    frame: pl.DataFrame, column: str, cell_type_column: str | None = None
) -> pl.DataFrame:
    """Parse a date column written in any of the departments' forms; never raises on a value.

    Keeps the input as `{column}_raw`, adds `{column}` (Date) and `{column}_problem`
    (DateProblem or null). Times of day are dropped. Parsing runs once per distinct value.

    >>> frame = pl.DataFrame({"d": ["2013年5月4日", "2013/5/4 14:32", "41398", "2013-02-30", "无"]})
    >>> normalise_dates(frame, "d").select("d", "d_problem").rows()
    ... # doctest: +NORMALIZE_WHITESPACE
    [(datetime.date(2013, 5, 4), None), (datetime.date(2013, 5, 4), None),
     (datetime.date(2013, 5, 4), None), (None, 'impossible'), (None, None)]
    """
    raw_column = f"{column}_raw"
    records = frame.rename({column: raw_column}).with_columns(pl.col(raw_column).cast(pl.String))
    raw = pl.col(raw_column)
    # Times of day are dropped anyway; without them a birth-time column has a few thousand
    # distinct values instead of hundreds of thousands.
    key = raw.str.replace(TIME_OF_DAY_PATTERN, "${1}")
    if cell_type_column is not None and cell_type_column in frame.columns:
        # Only a number cell reads differently (any number is an Excel serial): mark it.
        is_number_cell = (pl.col(cell_type_column) == CELL_NUMBER).fill_null(False)
        key = pl.when(is_number_cell).then(NUMBER_CELL_MARK + raw).otherwise(key)
    records = map_unique(
        records.with_columns(key.alias("__key")),
        "__key",
        lambda distinct: _parse_date_texts(distinct, "__key"),
    )
    return records.drop("__key").rename({"__date": column, "__problem": f"{column}_problem"})
