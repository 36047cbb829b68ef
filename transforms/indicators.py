"""Indicators: the sex ratio at birth by source, township, birth order and period.

Comes in: one row per (source, child) with that source's own sex, township, birth date and
birth order. Goes out: the `sex_ratio` table of CONTRACT.md section 4, Wilson 95% bounds.
"""

from __future__ import annotations

import itertools
import math

import polars as pl

SRB_NORMAL_RANGE = (103.0, 107.0)
WILSON_Z_95 = 1.959963984540054
UNKNOWN_TOWNSHIP = "unknown"
UNKNOWN_BIRTH_ORDER = 0
PERIOD_EXPRESSIONS: dict[str, pl.Expr] = {
    "all": pl.lit("all"),
    "year": pl.col("birth_date").dt.strftime("%Y"),
    "quarter": pl.col("birth_date").dt.strftime("%Y") + pl.lit("-Q")
    + pl.col("birth_date").dt.quarter().cast(pl.String),
    "month": pl.col("birth_date").dt.strftime("%Y-%m"),
}
SEX_RATIO_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(), "township_code": pl.String(), "birth_order": pl.Int8(),
    "period": pl.String(), "births": pl.Int64(), "males": pl.Int64(), "females": pl.Int64(),
    "unknown_sex": pl.Int64(), "ratio": pl.Float64(), "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
}


def wilson_bounds(
    males: pl.Expr, births: pl.Expr, z: float = WILSON_Z_95
) -> tuple[pl.Expr, pl.Expr]:
    """Wilson score interval on the share of boys, as (low, high) shares.

    >>> frame = pl.DataFrame({"m": [50], "n": [100]})
    >>> [round(v, 4) for v in frame.select(*wilson_bounds(pl.col("m"), pl.col("n"))).row(0)]
    [0.4038, 0.5962]
    """
    n = births.cast(pl.Float64)
    p = males.cast(pl.Float64) / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * ((p * (1 - p) / n + z2 / (4 * n * n)).sqrt()) / (1 + z2 / n)
    return (centre - half).clip(0.0, 1.0), (centre + half).clip(0.0, 1.0)


def share_to_ratio(share: pl.Expr) -> pl.Expr:
    """Boys' share p to boys per 100 girls, 100 p / (1 - p); null when p is 1."""
    return pl.when(share < 1.0).then(100.0 * share / (1.0 - share)).otherwise(None)


def sex_ratio_cells(children: pl.DataFrame) -> pl.DataFrame:
    """Every (source, township, birth order, period) cell with births, with its ratio and bounds.

    `children` holds one row per (source, child): source, sex, township_code, birth_order,
    birth_date. A null township_code counts as `unknown`, a null birth order as 0; in the
    output a null township_code or birth_order means all of them.
    """
    prepared = children.select(
        pl.col("source"),
        pl.col("sex"),
        pl.col("birth_date"),
        pl.col("township_code").fill_null(UNKNOWN_TOWNSHIP),
        pl.col("birth_order").fill_null(UNKNOWN_BIRTH_ORDER).cast(pl.Int8),
    )
    cells = []
    for (period_name, period), by_township, by_order in itertools.product(
        PERIOD_EXPRESSIONS.items(), (False, True), (False, True)
    ):
        dated = prepared if period_name == "all" else prepared.filter(
            pl.col("birth_date").is_not_null())
        grouped = dated.group_by(
            "source",
            (pl.col("township_code") if by_township
             else pl.lit(None, dtype=pl.String).alias("township_code")),
            (pl.col("birth_order") if by_order
             else pl.lit(None, dtype=pl.Int8).alias("birth_order")),
            period.alias("period"),
        ).agg(
            (pl.col("sex") == 1).sum().cast(pl.Int64).alias("males"),
            (pl.col("sex") == 2).sum().cast(pl.Int64).alias("females"),
            pl.col("sex").is_null().sum().cast(pl.Int64).alias("unknown_sex"),
        )
        cells.append(grouped)
    counted = pl.concat(cells).with_columns(
        (pl.col("males") + pl.col("females")).alias("births")
    ).filter(pl.col("births") > 0)
    low, high = wilson_bounds(pl.col("males"), pl.col("births"))
    return counted.with_columns(
        pl.when(pl.col("females") > 0)
        .then(100.0 * pl.col("males") / pl.col("females"))
        .otherwise(None).alias("ratio"),
        share_to_ratio(low).alias("ci_low"),
        pl.when(pl.col("females") > 0).then(share_to_ratio(high)).otherwise(None).alias("ci_high"),
    ).select(list(SEX_RATIO_SCHEMA)).sort(
        "source", "period", "township_code", "birth_order", nulls_last=False
    )


def is_ratio_normal(ratio: float | None) -> bool:
    """Within the normal range of 103-107 boys per 100 girls."""
    return ratio is not None and not math.isnan(ratio) and (
        SRB_NORMAL_RANGE[0] <= ratio <= SRB_NORMAL_RANGE[1])
