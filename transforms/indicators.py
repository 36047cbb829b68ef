"""Indicators: the sex ratio at birth by source, township, birth order and period.

Comes in: one row per (source, child) with that source's own sex, township, birth date and
birth order. Goes out: the `sex_ratio` table of CONTRACT.md section 4, Wilson 95% bounds.
"""

from __future__ import annotations

import itertools
import math

import polars as pl

from transforms.reconcile import with_keys

SRB_NORMAL_RANGE = (103.0, 107.0)
WILSON_Z_95 = 1.959963984540054
UNKNOWN_TOWNSHIP = "unknown"
UNKNOWN_BIRTH_ORDER = 0
# Periods from a cell's month, year * 100 + month (null when the birth date is unknown): the
# births are counted once per month, and every coarser period is summed from those counts.
PERIOD_EXPRESSIONS: dict[str, pl.Expr] = {
    "all": pl.lit("all"),
    "year": (pl.col("month") // 100).cast(pl.String),
    "quarter": (pl.col("month") // 100).cast(pl.String) + pl.lit("-Q")
    + ((pl.col("month") % 100 - 1) // 3 + 1).cast(pl.String),
    "month": (pl.col("month") // 100).cast(pl.String) + pl.lit("-")
    + (pl.col("month") % 100).cast(pl.String).str.zfill(2),
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
    return cells_from_monthly(monthly_births(children))


def monthly_births(children: pl.DataFrame) -> pl.DataFrame:
    """Births per (source, township, birth order, month = year * 100 + month, null when the
    date is unknown), by sex: everything the sex ratio table is summed from."""
    return children.lazy().group_by(
        "source",
        pl.col("township_code").fill_null(UNKNOWN_TOWNSHIP),
        pl.col("birth_order").fill_null(UNKNOWN_BIRTH_ORDER).cast(pl.Int8),
        (pl.col("birth_date").dt.year() * 100 + pl.col("birth_date").dt.month()).alias("month"),
    ).agg(
        (pl.col("sex") == 1).sum().cast(pl.Int64).alias("males"),
        (pl.col("sex") == 2).sum().cast(pl.Int64).alias("females"),
        pl.col("sex").is_null().sum().cast(pl.Int64).alias("unknown_sex"),
    ).collect()  # lazy: grouped eagerly, the 1M run's 3.8M births held +0.3 GB more


def patch_monthly_births(previous: pl.DataFrame, departed: pl.DataFrame,
                         arrived: pl.DataFrame) -> pl.DataFrame:
    """monthly_births of every child from the previous counts, less those of the children
    as they were (`departed`), plus those of the same children now (`arrived`).

    Counts add up over children, so a night that changes a few need not count them all.
    Cells left with no child are dropped: they add nothing to any sex ratio cell.
    """
    counts = ("males", "females", "unknown_sex")
    return pl.concat([
        previous, departed.with_columns(-pl.col(c) for c in counts), arrived,
    ], how="vertical_relaxed").group_by("source", "township_code", "birth_order", "month").agg(
        pl.col(counts).sum()).filter(pl.any_horizontal(pl.col(c) != 0 for c in counts))


def cells_from_monthly(monthly: pl.DataFrame) -> pl.DataFrame:
    """The sex ratio table from monthly_births' counts (computed there or by a query)."""
    cells = []
    for (period_name, period), by_township, by_order in itertools.product(
        PERIOD_EXPRESSIONS.items(), (False, True), (False, True)
    ):
        dated = monthly if period_name == "all" else monthly.filter(
            pl.col("month").is_not_null())
        grouped = dated.group_by(
            "source",
            (pl.col("township_code") if by_township
             else pl.lit(None, dtype=pl.String).alias("township_code")),
            (pl.col("birth_order") if by_order
             else pl.lit(None, dtype=pl.Int8).alias("birth_order")),
            period.alias("period"),
        ).agg(pl.col("males", "females", "unknown_sex").sum())
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


REGISTRATION_TARGETS = {"coverage": 0.95, "id_entry_rate": 0.95, "accuracy": 0.90}
COUNTY = None


def registration_kpi(records: pl.DataFrame, persons: pl.DataFrame) -> pl.DataFrame:
    """Coverage, ID entry rate and accuracy of 计生's population database, per township and
    for the county (township_code null), with the counts behind every rate.

    coverage = children 计生 holds / all reconciled children; ID entry rate = 计生 records
    carrying the child's valid hukou ID / 计生 records of children with a hukou; accuracy =
    计生 records agreeing with the child on sex, birth date, mother and (where both have
    one) name / 计生 records.
    """
    return kpi_from_facts(persons, jisheng_record_facts(records, persons))


# One row per 计生 record: what the indicators count about it. A record's facts depend only
# on its own child, so a nightly run recomputes them for the children it touched.
JISHENG_FACT_COLUMNS = ("person_id", "record_id", "child_township", "in_gongan",
                        "has_hukou_id", "is_accurate", "is_within_policy")


def jisheng_record_facts(records: pl.DataFrame, persons: pl.DataFrame) -> pl.DataFrame:
    """Each 计生 record of `records` against its reconciled child in `persons`
    (reconcile_persons of the same records, joined by person_key)."""
    records = with_keys(records)
    hukou_ids = records.select(
        "person_key", "source", "child_id_pseudonym", "child_id_number_problem").filter(
        (pl.col("source") == "gongan")
                               & pl.col("child_id_pseudonym").is_not_null()
                               & pl.col("child_id_number_problem").is_null()).select(
        "person_key", "child_id_pseudonym", pl.lit(True).alias("has_hukou_id")).unique(
        ["person_key", "child_id_pseudonym"])
    jisheng = records.select(
        "person_key", "person_id", "record_id", "source", "sex", "birth_date", "mother_pseudonym",
        "child_name", "child_id_pseudonym", "is_within_policy").filter(
        pl.col("source") == "jisheng")
    return jisheng.join(
        persons.select("person_key", pl.col("township_code").alias("child_township"),
                       pl.col("sex").alias("child_sex"),
                       pl.col("birth_date").alias("child_birth_date"),
                       pl.col("mother_pseudonym").alias("child_mother"),
                       pl.col("child_name").alias("golden_name"), "in_gongan"),
        on="person_key").join(hukou_ids, on=["person_key", "child_id_pseudonym"], how="left",
                              maintain_order="left").with_columns(
        pl.col("has_hukou_id").fill_null(False),
        ((pl.col("sex") == pl.col("child_sex")).fill_null(False)
         & (pl.col("birth_date") == pl.col("child_birth_date")).fill_null(False)
         & (pl.col("mother_pseudonym") == pl.col("child_mother")).fill_null(False)
         & (pl.col("child_name").is_null() | pl.col("golden_name").is_null()
            | (pl.col("child_name") == pl.col("golden_name")))).alias("is_accurate"),
    ).select(JISHENG_FACT_COLUMNS)


def kpi_from_facts(persons: pl.DataFrame, jisheng: pl.DataFrame) -> pl.DataFrame:
    """The indicator table from every child (township_code, in_<source>) and every 计生
    record's facts (JISHENG_FACT_COLUMNS)."""
    people = persons.group_by(pl.col("township_code").fill_null(UNKNOWN_TOWNSHIP)).agg(
        pl.len().alias("children"),
        pl.col("in_jisheng").sum().alias("children_in_jisheng"),
        pl.col("in_weisheng").sum().alias("children_in_weisheng"),
        pl.col("in_gongan").sum().alias("children_in_gongan"),
        pl.col("in_minzheng").sum().alias("children_in_minzheng"),
    )
    cases = jisheng.group_by(
        pl.col("child_township").fill_null(UNKNOWN_TOWNSHIP).alias("township_code")).agg(
        pl.len().alias("jisheng_records"),
        pl.col("in_gongan").sum().alias("jisheng_records_with_hukou"),
        (pl.col("in_gongan") & pl.col("has_hukou_id")).sum().alias(
            "jisheng_records_with_valid_id"),
        pl.col("is_accurate").sum().alias("jisheng_records_accurate"),
        pl.col("is_within_policy").is_not_null().sum().alias("policy_records"),
        pl.col("is_within_policy").fill_null(False).sum().alias("within_policy_records"),
    )
    return kpi_from_counts(people, cases)


def kpi_from_counts(people: pl.DataFrame, cases: pl.DataFrame) -> pl.DataFrame:
    """The indicator table from per-township counts of children (children,
    children_in_<source>) and of 计生 records (jisheng_records, ...), as kpi_from_facts
    counts them or a query does; the county row is their sum."""
    townships = people.join(cases, on="township_code", how="full", coalesce=True).with_columns(
        pl.col(pl.UInt32, pl.Int32, pl.Int64, pl.UInt64).fill_null(0).cast(pl.Int64))
    county = townships.select(pl.lit(COUNTY, dtype=pl.String).alias("township_code"),
                              pl.exclude("township_code").sum())
    counts = pl.concat([county, townships], how="vertical_relaxed")

    def rate(numerator: str, denominator: str) -> pl.Expr:
        return pl.when(pl.col(denominator) > 0).then(pl.col(numerator) / pl.col(denominator))

    return counts.with_columns(
        rate("children_in_jisheng", "children").alias("coverage"),
        rate("jisheng_records_with_valid_id", "jisheng_records_with_hukou").alias(
            "id_entry_rate"),
        rate("jisheng_records_accurate", "jisheng_records").alias("accuracy"),
        rate("children_in_weisheng", "children").alias("weisheng_coverage"),
        rate("children_in_gongan", "children").alias("gongan_coverage"),
        rate("within_policy_records", "policy_records").alias("within_policy_rate"),
    ).with_columns(
        (pl.col(name) >= target).alias(f"meets_{name}_target")
        for name, target in REGISTRATION_TARGETS.items()
    ).sort("township_code", nulls_last=False)
