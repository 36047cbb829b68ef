"""Stage-boundary check: a frame's columns and dtypes against its declaration."""

from __future__ import annotations

import polars as pl


def check_frame(frame: pl.DataFrame, declared: dict[str, pl.DataType], stage: str) -> None:
    """Fail fast when a stage hands on a frame whose columns or dtypes drifted."""
    actual = dict(frame.schema)
    missing = [c for c in declared if c not in actual]
    wrong = [
        f"{c} is {actual[c]}, declared {declared[c]}"
        for c in declared
        if c in actual and actual[c] != declared[c]
    ]
    if missing or wrong:
        raise TypeError(f"{stage}: frame does not match its schema: missing {missing}; {wrong}")
