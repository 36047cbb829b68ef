"""Sex ratio cells: counts, periods, roll-ups and honest Wilson bounds."""

from __future__ import annotations

from datetime import date

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.indicators import (
    cells_from_monthly,
    monthly_births,
    patch_monthly_births,
    sex_ratio_cells,
)

SCHEMA = {"source": pl.String, "sex": pl.Int8, "township_code": pl.String,
          "birth_order": pl.Int8, "birth_date": pl.Date}


Row = tuple[str, int | None, str | None, int | None, date | None]


def children(rows: list[Row]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def test_county_all_period_cell_counts_every_child() -> None:
    frame = children([
        ("gongan", 1, "450821101", 1, date(2013, 1, 5)),
        ("gongan", 1, "450821102", 2, date(2013, 4, 5)),
        ("gongan", 2, None, 1, date(2013, 4, 6)),
        ("gongan", None, "450821101", 1, date(2013, 4, 7)),
    ])
    cells = sex_ratio_cells(frame)
    county = cells.filter(pl.col("township_code").is_null() & pl.col("birth_order").is_null()
                          & (pl.col("period") == "all")).row(0, named=True)
    assert (county["births"], county["males"], county["females"], county["unknown_sex"]) == (
        3, 2, 1, 1)
    assert county["ratio"] == 200.0
    assert county["ci_low"] < 200.0 < county["ci_high"]
    unknown = cells.filter((pl.col("township_code") == "unknown") & (pl.col("period") == "all")
                           & pl.col("birth_order").is_null())
    assert unknown["females"].to_list() == [1]
    assert set(cells["period"]) >= {"all", "2013", "2013-Q1", "2013-Q2", "2013-01", "2013-04"}


def test_no_girls_gives_null_ratio_and_upper_bound() -> None:
    cells = sex_ratio_cells(children([("weisheng", 1, "450821101", 1, date(2013, 1, 5))]))
    row = cells.filter(pl.col("period") == "all").row(0, named=True)
    assert row["ratio"] is None and row["ci_high"] is None
    assert row["ci_low"] is not None and row["ci_low"] > 0


def test_children_without_birth_date_count_only_in_all() -> None:
    cells = sex_ratio_cells(children([("jisheng", 2, "450821101", 3, None)]))
    assert set(cells["period"]) == {"all"}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, 2, None]), st.sampled_from(["a", "b", None]),
                          st.sampled_from([1, 2, 3, None]),
                          st.dates(date(2012, 1, 1), date(2014, 12, 31)) | st.none()),
                min_size=1, max_size=60))
def test_cells_are_consistent(
    rows: list[tuple[int | None, str | None, int | None, date | None]],
) -> None:
    cells = sex_ratio_cells(children([("gongan", *r) for r in rows]))
    assert (cells["births"] == cells["males"] + cells["females"]).all()
    assert (cells["births"] > 0).all()
    assert cells.select("source", "township_code", "birth_order", "period").is_unique().all()
    bounded = cells.filter(pl.col("ratio").is_not_null())
    assert (bounded["ci_low"] <= bounded["ratio"] + 1e-9).all()
    assert (bounded["ratio"] <= bounded["ci_high"] + 1e-9).all()
    total = cells.filter(pl.col("township_code").is_null() & pl.col("birth_order").is_null()
                         & (pl.col("period") == "all"))
    assert total["births"].sum() == sum(r[0] in (1, 2) for r in rows)


CHILD_ROWS = st.lists(st.tuples(
    st.sampled_from(["gongan", "jisheng"]), st.sampled_from([1, 2, None]),
    st.sampled_from(["a", "b", None]), st.sampled_from([1, 2, None]),
    st.dates(date(2013, 1, 1), date(2013, 6, 30)) | st.none()), max_size=30)


@settings(max_examples=60, deadline=None)
@given(CHILD_ROWS, CHILD_ROWS, CHILD_ROWS)
def test_patched_monthly_counts_give_the_cells_of_counting_again(
        kept: list[Row], before: list[Row], after: list[Row]) -> None:
    """A night replaces some children's rows (`before` by `after`): patching the previous
    counts gives every cell that counting all children again gives."""
    previous = monthly_births(children(kept + before))
    patched = patch_monthly_births(previous, monthly_births(children(before)),
                                   monthly_births(children(after)))
    assert cells_from_monthly(patched).equals(sex_ratio_cells(children(kept + after)))
    assert patched.filter(pl.col("males") + pl.col("females") + pl.col("unknown_sex") == 0
                          ).height == 0
