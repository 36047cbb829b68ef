"""Ingest's run-wide pseudonym cache: the same pseudonyms as hashing every number afresh."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from tests.transforms.canonical_rows import with_check_digit
from warehouse.ingest import PSEUDONYM_CACHE_KEY, PseudonymCache, with_pseudonyms

KEY = b"test-key-0123456789"
CHILD = with_check_digit("45082120130101123")
MOTHER = with_check_digit("45082119900101456")
MOTHER_X = "11010519491231002X"


def records(child_ids: list[str | None], mother_ids: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame({"child_id_number": child_ids, "mother_id_number": mother_ids},
                        schema={"child_id_number": pl.String, "mother_id_number": pl.String})


def fresh_pseudonyms(frame: pl.DataFrame) -> pl.DataFrame:
    """Every number hashed with an empty cache: the reference."""
    with duckdb.connect() as connection:
        return with_pseudonyms(connection, frame, PseudonymCache(KEY))


@pytest.mark.parametrize(
    "mother_ids",
    [
        pytest.param([MOTHER, MOTHER_X, None], id="valid numbers and null"),
        pytest.param(["not a number", "4508211990010145", MOTHER], id="text the cache skips"),
    ],
)
def test_cached_pseudonyms_equal_fresh_ones(mother_ids: list[str | None]) -> None:
    first = records([CHILD, None, CHILD], [MOTHER, MOTHER_X, None])
    second = records([None, CHILD, "x"], mother_ids)
    cache = PseudonymCache(KEY)
    with duckdb.connect() as connection:
        with_pseudonyms(connection, first, cache)
        cached = with_pseudonyms(connection, second, cache)
    assert cached.equals(fresh_pseudonyms(second))


def test_cache_holds_each_number_once_and_no_other_text() -> None:
    cache = PseudonymCache(KEY)
    with duckdb.connect() as connection:
        for _ in range(2):
            with_pseudonyms(connection, records([CHILD, "junk"], [MOTHER, MOTHER]), cache)
    assert cache.known["child_id_number"].height == 1
    assert cache.known["mother_id_number"].get_column(PSEUDONYM_CACHE_KEY).n_unique() == 1
