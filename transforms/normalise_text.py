"""Normalise stage, shared text primitives: NFKC cleaning, blank-like values, and computing a
derivation once per unique value and joining it back (the normalisers' way to stay fast).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import polars as pl

# Values officers type for "nothing here"; compared after NFKC, trimming and lower-casing.
BLANK_LIKE_VALUES: tuple[str, ...] = (
    "",
    "无",
    "不详",
    "不祥",
    "未知",
    "空",
    "暂无",
    "未填",
    "未填写",
    "-",
    "--",
    "---",
    "—",
    "——",
    "―",
    "/",
    "\\",
    "0",
    "null",
    "none",
    "nan",
    "n/a",
    "na",
    "#n/a",
    "...",
    "…",
    "……",
)


def nfkc_trimmed(expr: pl.Expr) -> pl.Expr:
    """NFKC (full-width digits and letters become ASCII, U+3000 a space), then trimmed.

    >>> pl.select(nfkc_trimmed(pl.lit("　４５０１Ｘ "))).item()
    '4501X'
    """
    return expr.cast(pl.String).str.normalize("NFKC").str.strip_chars()


def is_blank_like(expr: pl.Expr, extra: Sequence[str] = ()) -> pl.Expr:
    """True for null and for placeholders of "nothing" such as 无, 不详, -, 0 (never null).

    >>> pl.select(is_blank_like(pl.lit(" 不详 "))).item()
    True
    """
    values = [*BLANK_LIKE_VALUES, *extra]
    text = nfkc_trimmed(expr).str.to_lowercase()
    return (text.is_null() | text.is_in(values)).fill_null(True)


def map_unique(
    frame: pl.DataFrame,
    keys: Sequence[str],
    derive: Callable[[pl.DataFrame], pl.DataFrame],
) -> pl.DataFrame:
    """Run `derive` on the distinct values of `keys` only, then join its new columns back.

    Department columns repeat values heavily (dates, names, townships), so an expensive
    derivation (regexes, pinyin, fuzzy matching) runs once per distinct value.
    `derive` gets a frame of the distinct key rows and returns it with columns added.
    """
    distinct = frame.select(keys).unique()
    derived = derive(distinct)
    return frame.join(
        derived, on=list(keys), how="left", nulls_equal=True, maintain_order="left"
    )
