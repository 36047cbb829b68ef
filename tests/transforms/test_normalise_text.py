"""Shared text primitives: computing a derivation once per distinct value and mapping it back."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.normalise_text import map_unique


def shout_and_measure(frame: pl.DataFrame) -> pl.DataFrame:
    """A derivation with two added columns of two dtypes; null keys get values of their own."""
    text = pl.col("value")
    return frame.with_columns(
        text.str.to_uppercase().fill_null("<null>").alias("shouted"),
        text.str.len_chars().alias("length"),
    )


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "张", ""]), st.text()),
                       max_size=60))
def test_map_unique_equals_deriving_every_row(values: list[str | None]) -> None:
    frame = pl.DataFrame({"value": values}, schema={"value": pl.String})
    assert map_unique(frame, "value", shout_and_measure).equals(shout_and_measure(frame))
