"""Blocking: candidate pairs of records that may describe the same child.

Several passes, each an equi-join on a key; their pairs are unioned and deduplicated. A key
shared by more than MAX_BLOCK_SIZE records proposes nothing (a block on a common name alone
would be 7% of all pairs): the pass reports it instead of exploding.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

MAX_BLOCK_SIZE = 60


def swapped_month_day(date: pl.Expr) -> pl.Expr:
    """The date with month and day exchanged (5 April <-> 4 May); null when not a new date."""
    day, month = date.dt.day(), date.dt.month()
    return pl.when((day <= 12) & (day != month)).then(pl.date(date.dt.year(), day, month))


@dataclass(frozen=True)
class BlockingRule:
    """One pass: records whose `probe` key equals another record's `build` key are paired."""

    name: str
    probe: tuple[pl.Expr, ...]
    build: tuple[pl.Expr, ...] | None = None  # None: the same key on both sides

    @property
    def build_keys(self) -> tuple[pl.Expr, ...]:
        return self.build if self.build is not None else self.probe


BIRTH_DATE = pl.col("birth_date")
TOWNSHIP = pl.col("township_code")
SEX = pl.col("sex")
BLOCKING_RULES: tuple[BlockingRule, ...] = (
    BlockingRule("mother_id", (pl.col("mother_id"),)),
    BlockingRule("child_id", (pl.col("child_id"),)),
    BlockingRule("birth_cert_number", (pl.col("birth_cert_number"),)),
    BlockingRule("mother_id_prefix+birth_date", (pl.col("mother_id_prefix"), BIRTH_DATE)),
    # Common mothers' names (王秀英) recur every day in a county of a million births, so the
    # name-and-date passes also need the township; a wrong mother ID is caught here, a
    # wrong township by the ID passes.
    BlockingRule("mother_pinyin+birth_date+township",
                 (pl.col("mother_name_pinyin"), BIRTH_DATE, TOWNSHIP)),
    BlockingRule("mother_pinyin+birth_date+1+township+sex",
                 (pl.col("mother_name_pinyin"), BIRTH_DATE + pl.duration(days=1), TOWNSHIP, SEX),
                 (pl.col("mother_name_pinyin"), BIRTH_DATE, TOWNSHIP, SEX)),
    BlockingRule("mother_pinyin+birth_date_swapped+township+sex",
                 (pl.col("mother_name_pinyin"), swapped_month_day(BIRTH_DATE), TOWNSHIP, SEX),
                 (pl.col("mother_name_pinyin"), BIRTH_DATE, TOWNSHIP, SEX)),
    BlockingRule("child_pinyin+mother_pinyin+township",
                 (pl.col("child_name_pinyin"), pl.col("mother_name_pinyin"), TOWNSHIP)),
    BlockingRule("child_pinyin+birth_date+township",
                 (pl.col("child_name_pinyin"), BIRTH_DATE, TOWNSHIP)),
)


def _keyed(frame: pl.DataFrame, keys: tuple[pl.Expr, ...]) -> pl.DataFrame:
    names = [f"k{i}" for i in range(len(keys))]
    return frame.select(
        "rec", *[k.alias(n) for k, n in zip(keys, names, strict=True)]
    ).drop_nulls(names)


def rule_pairs(
    rule: BlockingRule, probe: pl.DataFrame, build: pl.DataFrame, max_block: int
) -> tuple[pl.DataFrame, int]:
    """Pairs (rec_l < rec_r) proposed by one rule, and how many keys were too big to use."""
    built = _keyed(build, rule.build_keys)
    names = [c for c in built.columns if c != "rec"]
    sizes = built.group_by(names).agg(pl.len().alias("block_size"))
    oversized = sizes.filter(pl.col("block_size") > max_block)
    built = built.join(oversized.select(names), on=names, how="anti")
    probed = _keyed(probe, rule.probe)
    pairs = probed.join(built, on=names, how="inner", suffix="_b").filter(
        pl.col("rec") != pl.col("rec_b")
    ).select(
        pl.min_horizontal("rec", "rec_b").alias("rec_l"),
        pl.max_horizontal("rec", "rec_b").alias("rec_r"),
    ).unique()
    return pairs, oversized.height


def block_pairs(
    probe: pl.DataFrame,
    build: pl.DataFrame,
    rules: tuple[BlockingRule, ...] = BLOCKING_RULES,
    max_block: int = MAX_BLOCK_SIZE,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """All candidate pairs between `probe` records and `build` records, and per-rule counts.

    A full run probes every record against every record; a nightly run probes only the new
    and changed ones, so its work grows with the night's records, not with all history.
    Rules are applied in both directions, so asymmetric rules (±1 day) find both orders.
    """
    found = []
    stats = []
    for rule in rules:
        pairs, oversized = rule_pairs(rule, probe, build, max_block)
        if rule.build is not None:
            reverse = BlockingRule(rule.name, rule.build, rule.probe)
            back, oversized_back = rule_pairs(reverse, probe, build, max_block)
            pairs = pl.concat([pairs, back]).unique()
            oversized += oversized_back
        found.append(pairs.with_columns(pl.lit(rule.name).alias("rule")))
        stats.append({"rule": rule.name, "pairs": pairs.height, "oversized_keys": oversized})
    every = pl.concat(found) if found else pl.DataFrame(
        schema={"rec_l": pl.Int64, "rec_r": pl.Int64, "rule": pl.String})
    pairs = every.group_by("rec_l", "rec_r").agg(
        pl.col("rule").min().alias("first_rule")).sort("rec_l", "rec_r")
    return pairs, pl.DataFrame(stats, schema={"rule": pl.String, "pairs": pl.Int64,
                                              "oversized_keys": pl.Int64})
