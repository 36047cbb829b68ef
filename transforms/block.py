"""Blocking: candidate pairs of records that may describe the same child.

Several passes, each an equi-join on a key; their pairs are unioned and deduplicated. A key
shared by more than MAX_BLOCK_SIZE records proposes nothing (a block on a common name alone
would be 7% of all pairs): the pass reports it instead of exploding.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

MAX_BLOCK_SIZE = 60
PAIR_BASE = 1 << 32  # a pair (rec_l, rec_r) packed as rec_l * PAIR_BASE + rec_r


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


def blocking_keys(frame: pl.DataFrame, keys: tuple[pl.Expr, ...]) -> pl.DataFrame:
    """rec and one 64-bit hash of the rule's key columns (records missing a part dropped).

    Joining on one integer instead of several text columns is what makes a pass cheap; a
    hash collision can only add a candidate pair, which comparison then rejects.
    """
    names = [f"k{i}" for i in range(len(keys))]
    return frame.select(
        "rec", *[k.alias(n) for k, n in zip(keys, names, strict=True)]
    ).drop_nulls(names).select("rec", pl.struct(names).hash().alias("key"))


def usable_keys(keyed: pl.DataFrame, max_block: int) -> tuple[pl.DataFrame, int]:
    """Drop records whose key is shared by more than `max_block`; count such keys."""
    sizes = keyed.group_by("key").agg(pl.len().alias("block_size"))
    oversized = sizes.filter(pl.col("block_size") > max_block).select("key")
    return keyed.join(oversized, on="key", how="anti"), oversized.height


def rule_pairs(
    rule: BlockingRule, probe: pl.DataFrame, build: pl.DataFrame, max_block: int
) -> tuple[pl.DataFrame, int]:
    """Pairs (rec_l < rec_r) proposed by one rule, and how many keys were too big to use."""
    built, oversized = usable_keys(blocking_keys(build, rule.build_keys), max_block)
    if probe is build and rule.build is None:
        # A full run's symmetric pass is a self-join: keep each pair once, in order.
        pairs = built.join(built, on="key", suffix="_b").filter(
            pl.col("rec") < pl.col("rec_b")).select(
            pl.col("rec").alias("rec_l"), pl.col("rec_b").alias("rec_r"))
        return pairs, oversized
    probed = blocking_keys(probe, rule.probe)
    pairs = probed.join(built, on="key", how="inner", suffix="_b").filter(
        pl.col("rec") != pl.col("rec_b")
    ).select(
        pl.min_horizontal("rec", "rec_b").alias("rec_l"),
        pl.max_horizontal("rec", "rec_b").alias("rec_r"),
    ).unique()
    return pairs, oversized


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
    for index, rule in enumerate(rules):
        pairs, oversized = rule_pairs(rule, probe, build, max_block)
        if rule.build is not None:
            reverse = BlockingRule(rule.name, rule.build, rule.probe)
            back, oversized_back = rule_pairs(reverse, probe, build, max_block)
            pairs = pl.concat([pairs, back]).unique()
            oversized += oversized_back
        found.append(pairs.select(
            (pl.col("rec_l").cast(pl.UInt64) * PAIR_BASE + pl.col("rec_r").cast(pl.UInt64))
            .alias("pair"), pl.lit(index, dtype=pl.UInt8).alias("rule")))
        stats.append({"rule": rule.name, "pairs": pairs.height, "oversized_keys": oversized})
    every = pl.concat(found) if found else pl.DataFrame(
        schema={"pair": pl.UInt64, "rule": pl.UInt8})
    # Pairs packed into one integer make the union of all passes one group-by.
    pairs = every.group_by("pair").agg(pl.col("rule").min()).sort("pair").select(
        (pl.col("pair") // PAIR_BASE).cast(pl.Int64).alias("rec_l"),
        (pl.col("pair") % PAIR_BASE).cast(pl.Int64).alias("rec_r"),
        pl.col("rule").replace_strict({i: rule.name for i, rule in enumerate(rules)},
                                      return_dtype=pl.String).alias("first_rule"))
    return pairs, pl.DataFrame(stats, schema={"rule": pl.String, "pairs": pl.Int64,
                                              "oversized_keys": pl.Int64})
