"""Dates in every form the departments write, Excel serials included; bad ones flagged."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codes import DateProblem
from transforms.normalise_dates import date_from_parts, normalise_dates

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)
MAY_4 = date(2013, 5, 4)
EXCEL_EPOCH = date(1899, 12, 30)


def normalised(values: list[str | None], cells: list[str | None] | None = None) -> pl.DataFrame:
    frame = pl.DataFrame({"d": values}, schema={"d": pl.String})
    if cells is not None:
        frame = frame.with_columns(pl.Series("d_cell", cells, dtype=pl.String))
    return normalise_dates(frame, "d", "d_cell" if cells is not None else None)


def one(value: str | None, cell: str | None = None) -> tuple[date | None, str | None]:
    row = normalised([value], None if cell is None else [cell]).row(0, named=True)
    return row["d"], row["d_problem"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("2013-05-04", id="ISO"),
        pytest.param("2013/5/4", id="slashes, no padding"),
        pytest.param("2013/05/04", id="slashes"),
        pytest.param("2013.5.4", id="dots"),
        pytest.param("20130504", id="compact"),
        pytest.param("2013年5月4日", id="Chinese"),
        pytest.param("2013年05月04日", id="Chinese padded"),
        pytest.param("2013-05-04 14:32", id="with minutes"),
        pytest.param("2013-05-04 14:32:05", id="with seconds"),
        pytest.param("2013/5/4 14:32", id="slashes with time"),
        pytest.param("2013-05-04 00:00:00", id="spreadsheet date cell"),
        pytest.param("2013-05-04T14:32:05.000", id="ISO T"),
        pytest.param("2013-5-4", id="hyphens, no padding"),
        pytest.param("２０１３－０５－０４", id="full-width"),
        pytest.param(" 2013-05-04 ", id="padded with spaces"),
        pytest.param("2013年5月4日 14时32分", id="Chinese with time"),
        pytest.param("201305041432", id="compact with minutes"),
        pytest.param("20130504 14:32", id="compact then time"),
        pytest.param("41398", id="Excel serial as text"),
        pytest.param("41398.6", id="Excel serial with a fraction"),
    ],
)
def test_forms_of_the_same_day(text: str) -> None:
    assert one(text) == (MAY_4, None)


@pytest.mark.parametrize(
    ("text", "cell", "expected"),
    [
        pytest.param("41398", "number", (MAY_4, None), id="number cell serial"),
        pytest.param("41398.0", "number", (MAY_4, None), id="number cell serial .0"),
        pytest.param("61", "number", (date(1900, 3, 1), None), id="first day after the fake leap"),
        pytest.param("59", "number", (date(1900, 2, 28), None), id="last day before it"),
        pytest.param("1", "number", (date(1900, 1, 1), None), id="serial 1"),
        pytest.param("60", "number", (None, DateProblem.IMPOSSIBLE), id="fake 1900-02-29"),
        pytest.param("20130504", "number", (MAY_4, None), id="yyyymmdd in a number cell"),
        pytest.param("2013-05-04 00:00:00", "date", (MAY_4, None), id="date cell"),
        pytest.param("4139", None, (None, DateProblem.UNPARSEABLE), id="4 digits text"),
        pytest.param("99999", None, (None, DateProblem.OUT_OF_RANGE), id="serial beyond 2100"),
    ],
)
def test_excel_serials_and_cell_types(
    text: str, cell: str | None, expected: tuple[date | None, str | None]
) -> None:
    assert one(text, cell) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("2013-02-30", DateProblem.IMPOSSIBLE, id="February 30th"),
        pytest.param("2013-13-01", DateProblem.IMPOSSIBLE, id="month 13"),
        pytest.param("2013-00-10", DateProblem.IMPOSSIBLE, id="month 0"),
        pytest.param("2013-04-31", DateProblem.IMPOSSIBLE, id="April 31st"),
        pytest.param("2013-02-29", DateProblem.IMPOSSIBLE, id="not a leap year"),
        pytest.param("1900-02-29", DateProblem.IMPOSSIBLE, id="1900 not a leap year"),
        pytest.param("1850-01-01", DateProblem.OUT_OF_RANGE, id="before 1900"),
        pytest.param("3013-05-04", DateProblem.OUT_OF_RANGE, id="typo in the century"),
        pytest.param("abc", DateProblem.UNPARSEABLE, id="words"),
        pytest.param("2013-05", DateProblem.UNPARSEABLE, id="no day"),
        pytest.param("05/04/2013", DateProblem.UNPARSEABLE, id="day-first is ambiguous"),
        pytest.param("2013-05-04x", DateProblem.UNPARSEABLE, id="trailing junk"),
    ],
)
def test_bad_dates_flagged(text: str, problem: DateProblem) -> None:
    assert one(text) == (None, problem)


@pytest.mark.parametrize(
    "text",
    [None, "", "无", "不详", "-", "0", "空", "0000-00-00", "00000000", " "],
)
def test_blank_like_dates_are_null_without_problem(text: str | None) -> None:
    assert one(text) == (None, None)


def test_leap_day_accepted() -> None:
    assert one("2012-02-29") == (date(2012, 2, 29), None)
    assert one("2000-02-29") == (date(2000, 2, 29), None)


def test_raw_kept_and_order_preserved() -> None:
    frame = pl.DataFrame({"row": [1, 2, 3, 4], "d": ["2013-05-04", None, "abc", "2013-05-04"],
                          "d_cell": ["text", None, "text", "number"]})
    result = normalise_dates(frame, "d", "d_cell")
    assert result.columns == ["row", "d_raw", "d_cell", "d", "d_problem"]
    assert result["row"].to_list() == [1, 2, 3, 4]
    assert result["d_raw"].to_list() == ["2013-05-04", None, "abc", "2013-05-04"]
    assert result["d"].to_list() == [MAY_4, None, None, MAY_4]
    assert result.schema["d"] == pl.Date


def test_date_from_parts_nulls_impossible_days() -> None:
    parts = pl.DataFrame({"y": [2013, 2013, None, 2013], "m": [5, 2, 5, None],
                          "d": [4, 30, 4, 4]})
    result = parts.select(date_from_parts(pl.col("y"), pl.col("m"), pl.col("d")))
    assert result.to_series().to_list() == [MAY_4, None, None, None]


# --- properties -------------------------------------------------------------------------

FULL_WIDTH = str.maketrans("0123456789-", "０１２３４５６７８９－")


def every_form(day: date) -> list[tuple[str, str | None]]:
    """The day written in every supported form, with the cell type it would come in."""
    forms: list[tuple[str, str | None]] = [
        (day.isoformat(), "text"),
        (f"{day.year}/{day.month}/{day.day}", "text"),
        (f"{day.year}.{day.month}.{day.day}", "text"),
        (f"{day:%Y%m%d}", "text"),
        (f"{day.year}年{day.month}月{day.day}日", "text"),
        (f"{day.isoformat()} 14:32", "text"),
        (f"{day.isoformat()} 00:00:00", "date"),
        (f"{day.year}-{day.month}-{day.day}", "text"),
        (day.isoformat().translate(FULL_WIDTH), "text"),
    ]
    serial = (day - EXCEL_EPOCH).days
    if day >= date(1900, 3, 1):
        forms.append((str(serial), "number"))
        forms.append((f"{serial}.25", "number"))
    if serial >= 10000:
        forms.append((str(serial), "text"))
    return forms


@PROPERTY_SETTINGS
@given(days=st.lists(st.dates(date(1900, 1, 1), date(2100, 12, 31)), min_size=1, max_size=10))
def test_dates_round_trip_through_every_form(days: list[date]) -> None:
    forms = [(form, cell, day) for day in days for form, cell in every_form(day)]
    result = normalised([f for f, _, _ in forms], [c for _, c, _ in forms])
    assert result["d"].to_list() == [day for _, _, day in forms]
    assert result["d_problem"].null_count() == len(forms)


@PROPERTY_SETTINGS
@given(texts=st.lists(st.one_of(st.none(), st.text(), st.text("0123456789-/.年月日: ")),
                      max_size=30),
       cell=st.sampled_from([None, "text", "number", "date"]))
def test_never_crashes_and_is_idempotent(texts: list[str | None], cell: str | None) -> None:
    first = normalised(texts, [cell] * len(texts))
    assert first.height == len(texts)
    assert set(first["d_problem"].drop_nulls()) <= {p.value for p in DateProblem}
    assert (first["d"].is_null() | first["d_problem"].is_null()).all()
    iso = first["d"].cast(pl.String).to_list()
    assert normalised(iso, [cell] * len(texts))["d"].to_list() == first["d"].to_list()
