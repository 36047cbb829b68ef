"""Link keys: the integers a night finds its linking neighbourhood by, kept with each record.

A full run hashes every record's blocking keys anyway. Stored beside each linked record
(the state's record_person), the hashes of the keys other records are looked up by (each
rule's build key, in both directions), and of the names whose frequency weighs agreement,
let a night pick out the records its few probes can pair with, and count how common their
names are, without reading every record. The hashes are polars' own, as blocking makes
them; KEY_SCHEME names the rules and the polars version, so a state hashed otherwise is
linked in full once instead of being probed with keys that no longer match.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import polars as pl

from transforms.block import BLOCKING_RULES, BlockingRule, hashed_keys, spelled_key
from transforms.score import TF_ADJUSTED, shares


@dataclass(frozen=True)
class KeyLookup:
    """One direction of a blocking rule: probes' `probe` key against `column`, the stored
    hash of every record's `build` key."""

    column: str
    probe: tuple[pl.Expr, ...]
    build: tuple[pl.Expr, ...]


def key_lookups(rules: tuple[BlockingRule, ...] = BLOCKING_RULES) -> tuple[KeyLookup, ...]:
    """Every direction blocking pairs records in, each build key stored once
    (`block_key_<n>`, numbered as they first appear)."""
    directions = []
    for rule in rules:
        directions.append((rule.probe, rule.build_keys))
        if rule.build is not None:  # asymmetric rules run both ways (block_pairs)
            directions.append((rule.build, rule.probe))
    columns: dict[str, str] = {}
    for _, build in directions:
        columns.setdefault(spelled_key(build), f"block_key_{len(columns)}")
    return tuple(KeyLookup(columns[spelled_key(build)], probe, build)
                 for probe, build in directions)


LOOKUPS = key_lookups()
BLOCK_KEY_COLUMNS = tuple(dict.fromkeys(lookup.column for lookup in LOOKUPS))
NAME_HASH_COLUMNS = {column: f"{column}_hash" for column in TF_ADJUSTED}
LINK_KEY_COLUMNS = (*BLOCK_KEY_COLUMNS, *NAME_HASH_COLUMNS.values())


# Block keys are stored as their hash's low 32 bits: a chance match only adds a record to
# the night's neighbourhood, where blocking hashes the keys again in full (and a name, whose
# count must be exact, keeps all 64). At 1M that holds ~0.1 GB less while storing.
BLOCK_KEY_BITS = 32


def stored_block_key(hashed: pl.Expr) -> pl.Expr:
    return (hashed & ((1 << BLOCK_KEY_BITS) - 1)).cast(pl.UInt32)


def key_scheme(lookups: tuple[KeyLookup, ...]) -> str:
    """What stored hashes mean: each column's key, the weighed names and polars' version
    (its hash may change between versions)."""
    return hashlib.sha256("\n".join(
        [pl.__version__, str(BLOCK_KEY_BITS),
         *(f"{lookup.column}={spelled_key(lookup.build)}" for lookup in lookups),
         *TF_ADJUSTED]).encode()).hexdigest()[:16]


KEY_SCHEME = key_scheme(LOOKUPS)


def name_hash(column: str) -> pl.Expr:
    """A name's 64-bit hash; null for no name (which has no frequency)."""
    return pl.when(pl.col(column).is_not_null()).then(pl.col(column).hash())


def record_link_keys(links: pl.DataFrame) -> pl.DataFrame:
    """rec and LINK_KEY_COLUMNS of link records: each stored build key's hash (null when a
    part is missing, as blocking drops it) and each frequency-weighed name's hash."""
    builds = {lookup.column: lookup.build for lookup in LOOKUPS}
    return hashed_keys(links.lazy(), builds, keep=("rec", *NAME_HASH_COLUMNS)).with_columns(
        *(stored_block_key(pl.col(column)) for column in BLOCK_KEY_COLUMNS),
        *(name_hash(column).alias(hashed) for column, hashed in NAME_HASH_COLUMNS.items()),
    ).drop(*NAME_HASH_COLUMNS).collect()


def probe_keys(probes: pl.DataFrame) -> pl.DataFrame:
    """column, key: which stored column holds the build keys each probe key must meet.

    A record whose stored hash in `column` equals `key` shares a blocking key with a probe,
    in one of the directions a rule pairs records in; each distinct key is listed once.
    """
    parts = [hashed_keys(probes.lazy(), {"key": lookup.probe}, keep=()).drop_nulls("key")
             .select(pl.lit(lookup.column).alias("column"), stored_block_key(pl.col("key")))
             for lookup in LOOKUPS]
    schema = {"column": pl.String, "key": pl.UInt32}
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts).unique().collect().cast(schema)  # type: ignore[arg-type]


def counted_frequencies(links: pl.DataFrame, column: str, counts: pl.DataFrame,
                        total: int) -> pl.DataFrame:
    """(column, <column>_tf) for the names in `links`, from `counts` (key, n: how many
    records in use carry the name hashed to key) and `total` (records with a name): what
    score.name_frequencies gives over all records, from counts kept elsewhere."""
    named = links.lazy().select(pl.col(column).drop_nulls().unique()).with_columns(
        name_hash(column).alias("key")
    ).join(counts.lazy(), on="key", how="left").collect()
    return named.select(column, shares(named.get_column("n").fill_null(0), total).alias(
        f"{column}_tf"))
