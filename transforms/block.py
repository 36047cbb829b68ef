"""Blocking: candidate pairs of records that may describe the same child.

Several passes, each an equi-join on a key; their pairs are unioned and deduplicated. A key
shared by more than MAX_BLOCK_SIZE records proposes nothing (a block on a common name alone
would be 7% of all pairs): the pass reports it instead of exploding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
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


def hashed_keys(frame: pl.LazyFrame, keys: dict[str, tuple[pl.Expr, ...]],
                keep: tuple[str, ...] = ("rec",)) -> pl.LazyFrame:
    """`keep` columns and, per name, one 64-bit hash of its key's parts; null when a part
    is missing (no key).

    Grouping on one integer instead of several text columns is what makes a pass cheap; a
    hash collision can only add a candidate pair, which comparison then rejects. Nights
    look stored hashes up (transforms.link_keys), so every key is hashed by this alone.
    The parts are computed first and hashed after: a struct of the expressions themselves
    would evaluate a swapped date for days that have none.
    """
    parts = {name: [f"{name}.{i}" for i in range(len(key))] for name, key in keys.items()}
    return frame.select(
        *keep, *(part.alias(column) for name, key in keys.items()
                 for part, column in zip(key, parts[name], strict=True))
    ).select(*keep, *(
        pl.when(~pl.any_horizontal(pl.col(column).is_null() for column in columns)).then(
            pl.struct(pl.col(column).alias(f"k{i}") for i, column in enumerate(columns)).hash()
        ).alias(name) for name, columns in parts.items()))


def blocking_keys(frame: pl.DataFrame, keys: tuple[pl.Expr, ...]) -> tuple[np.ndarray, np.ndarray]:
    """rec and the key hash of each record that has every part of the rule's key."""
    # Hashed first, then filtered: dropping rows of the text columns themselves copies them.
    keyed = hashed_keys(frame.lazy(), {"key": keys}).drop_nulls("key").collect()
    return keyed.get_column("rec").to_numpy(), keyed.get_column("key").to_numpy()


@dataclass(frozen=True)
class Blocks:
    """Records sorted by key; per position, where its block ends and whether it is usable."""

    recs: np.ndarray  # record numbers in key order
    keys: np.ndarray  # their keys, ascending
    ends: np.ndarray  # one past the last position of the position's block
    usable: np.ndarray  # the position's block is no bigger than the block size allowed
    oversized: int  # keys shared by more than the block size allowed


def usable_blocks(recs: np.ndarray, keys: np.ndarray, max_block: int) -> Blocks:
    """Records grouped by key; a key shared by more than `max_block` records is left out."""
    by_key = pl.DataFrame({"rec": recs, "key": keys}).sort("key")
    recs, keys = by_key.get_column("rec").to_numpy(), by_key.get_column("key").to_numpy()
    first = np.r_[True, keys[1:] != keys[:-1]] if keys.size else np.zeros(0, dtype=bool)
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], keys.size]
    usable = ends - starts <= max_block
    block = np.cumsum(first) - 1
    return Blocks(recs, keys, ends[block], usable[block], int((~usable).sum()))


def pairs_within(blocks: Blocks) -> tuple[np.ndarray, np.ndarray]:
    """Every two positions of one usable block, found by distance: pass d pairs each
    position with the one d further on, while that is still in its block."""
    at = np.flatnonzero(blocks.usable & (blocks.ends - np.arange(blocks.ends.size) > 1))
    end = blocks.ends[at]
    lefts, rights = [at], [at + 1]
    for distance in range(2, int(end.max(initial=0) - at.min(initial=0)) + 1):
        further = at + distance < end
        at, end = at[further], end[further]
        if not at.size:
            break
        lefts.append(at)
        rights.append(at + distance)
    return np.concatenate(lefts), np.concatenate(rights)


def pair_keys(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Each pair as one integer: the smaller record number first."""
    low, high = np.minimum(left, right), np.maximum(left, right)
    return (low.astype(np.int64) * PAIR_BASE + high).view(np.uint64)


def spelled_key(keys: tuple[pl.Expr, ...]) -> str:
    """A key's expressions as text: the same key spelled by two rules is one key."""
    return "|".join(key.meta.serialize(format="json") for key in keys)


class KeyedRecords:
    """Key hashes computed once per frame and distinct key: the ±1-day and swapped-date
    rules share their build key, and both run in both directions."""

    def __init__(self, max_block: int) -> None:
        self.max_block = max_block
        self.keys: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}

    def keyed(self, frame: pl.DataFrame, keys: tuple[pl.Expr, ...]
              ) -> tuple[np.ndarray, np.ndarray]:
        name = (id(frame), spelled_key(keys))
        if name not in self.keys:
            self.keys[name] = blocking_keys(frame, keys)
        return self.keys[name]


def rule_pairs(
    rule: BlockingRule, probe: pl.DataFrame, build: pl.DataFrame, keyed: KeyedRecords
) -> tuple[pl.Series, int]:
    """Pairs proposed by one rule (packed, each once), and how many keys were too big to use.

    A full run's symmetric pass sorts the records by key once and enumerates each block's
    pairs by position (no join at all). Otherwise only the keys the probes carry matter:
    the build records holding one of them are picked out by a hash lookup, their blocks
    counted, and the probes joined to the usable ones, so a night of a few thousand probes
    never sorts every record's keys.
    """
    if probe is build and rule.build is None:
        blocks = usable_blocks(*blocking_keys(build, rule.build_keys), keyed.max_block)
        left, right = pairs_within(blocks)
        return pl.Series(pair_keys(blocks.recs[left], blocks.recs[right])), blocks.oversized
    build_recs, build_keys = keyed.keyed(build, rule.build_keys)
    probe_recs, probe_keys = keyed.keyed(probe, rule.probe)
    probed = pl.DataFrame({"rec": probe_recs, "key": probe_keys})
    hit = pl.DataFrame({"rec_b": build_recs, "key": build_keys}).filter(
        pl.col("key").is_in(probed.get_column("key").unique().implode())
    ).with_columns(pl.len().over("key").alias("size"))
    oversized = hit.filter(pl.col("size") > keyed.max_block).get_column("key").n_unique()
    pairs = probed.join(hit.filter(pl.col("size") <= keyed.max_block).drop("size"), on="key"
                        ).filter(pl.col("rec") != pl.col("rec_b"))
    packed = pair_keys(pairs.get_column("rec").to_numpy(), pairs.get_column("rec_b").to_numpy())
    return pl.Series(packed).unique(), oversized


RULE_BITS = 4  # a pair and the index of the rule proposing it share one 64-bit integer


def first_proposals(found: list[np.ndarray]) -> pl.DataFrame:
    """Each pair once (ascending), with the first rule (by index) that proposed it.

    `found`: each rule's packed pairs, each pair once. With the rule's index in the low bits
    of its pairs, the union of all passes is one sort of integers, and the first of each run
    of equal pairs carries the smallest rule; a stable sort of pairs and rules does it
    otherwise (more rules or record numbers than the bits allow).
    """
    pair = np.concatenate([np.zeros(0, dtype=np.uint64), *found])
    rule = np.concatenate([np.zeros(0, dtype=np.uint8), *(
        np.full(pairs.size, index, dtype=np.uint8) for index, pairs in enumerate(found))])
    if len(found) <= 1 << RULE_BITS and int(pair.max(initial=0)) < 1 << (64 - RULE_BITS):
        keys = pl.Series((pair << np.uint64(RULE_BITS)) | rule).sort().to_numpy()
        pair = keys >> np.uint64(RULE_BITS)
        rule = (keys & np.uint64((1 << RULE_BITS) - 1)).astype(np.uint8)
    else:
        ordered = pl.DataFrame({"pair": pair, "rule": rule}).sort("pair", maintain_order=True)
        pair, rule = ordered.get_column("pair").to_numpy(), ordered.get_column("rule").to_numpy()
    first = np.r_[True, pair[1:] != pair[:-1]] if pair.size else np.zeros(0, dtype=bool)
    return pl.DataFrame({"pair": pair[first], "rule": rule[first]},
                        schema={"pair": pl.UInt64, "rule": pl.UInt8})


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
    keyed = KeyedRecords(max_block)
    for rule in rules:
        packed, oversized = rule_pairs(rule, probe, build, keyed)
        if rule.build is not None:
            reverse = BlockingRule(rule.name, rule.build, rule.probe)
            back, oversized_back = rule_pairs(reverse, probe, build, keyed)
            packed = pl.concat([packed, back]).unique()
            oversized += oversized_back
        found.append(packed.to_numpy())
        stats.append({"rule": rule.name, "pairs": packed.len(), "oversized_keys": oversized})
    every = first_proposals(found)
    pairs = every.select(
        (pl.col("pair") // PAIR_BASE).cast(pl.Int64).alias("rec_l"),
        (pl.col("pair") % PAIR_BASE).cast(pl.Int64).alias("rec_r"),
        pl.col("rule").replace_strict({i: rule.name for i, rule in enumerate(rules)},
                                      return_dtype=pl.String).alias("first_rule"))
    return pairs, pl.DataFrame(stats, schema={"rule": pl.String, "pairs": pl.Int64,
                                              "oversized_keys": pl.Int64})
