"""Link keys: stored hashes find every record a probe can pair with, and name counts kept
elsewhere give the frequencies counted on all records."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.transforms.canonical_rows import canonical, population_rows
from transforms.block import BLOCKING_RULES, BlockingRule, block_pairs
from transforms.link_keys import (
    BLOCK_KEY_COLUMNS,
    KEY_SCHEME,
    LINK_KEY_COLUMNS,
    counted_frequencies,
    key_lookups,
    key_scheme,
    name_hash,
    probe_keys,
    record_link_keys,
)
from transforms.link_records import link_records
from transforms.score import name_frequencies


@pytest.fixture(scope="module")
def links() -> pl.DataFrame:
    return link_records(canonical(population_rows(120, 11, 0.1)))


def met_by_stored_keys(links: pl.DataFrame, probes: pl.DataFrame) -> set[int]:
    """Records whose stored hash, in some column, equals a probe key meant for it: what
    the state's night query selects (link_store.load_neighbourhood)."""
    stored = record_link_keys(links)
    keys = probe_keys(probes)
    met: set[int] = set()
    for column in BLOCK_KEY_COLUMNS:
        wanted = keys.filter(pl.col("column") == column).get_column("key").implode()
        met |= set(stored.filter(pl.col(column).is_in(wanted)).get_column("rec").to_list())
    return met


@pytest.mark.parametrize("share", [0.02, 0.1, 0.5])
def test_stored_keys_find_every_record_blocking_pairs_with_a_probe(links: pl.DataFrame,
                                                                   share: float) -> None:
    probes = links.sample(fraction=share, seed=3)
    pairs, _ = block_pairs(probes, links)
    partners = set(pairs.get_column("rec_l").to_list()) | set(pairs.get_column("rec_r").to_list())
    assert pairs.height > 0
    assert partners <= met_by_stored_keys(links, probes)


def test_stored_keys_find_records_only_by_a_shared_key(links: pl.DataFrame) -> None:
    """A record found shares some rule's key with a probe (a same-day mother, a ±1 day or
    swapped date of hers...): blocking the probe against the records found and against
    all records proposes the same pairs."""
    probes = links.sample(n=10, seed=5)
    found = links.filter(pl.col("rec").is_in(sorted(met_by_stored_keys(links, probes))))
    assert found.height < links.height
    against_found, _ = block_pairs(probes, found)
    against_all, _ = block_pairs(probes, links)
    assert against_found.sort("rec_l", "rec_r").equals(against_all.sort("rec_l", "rec_r"))


def test_a_key_with_a_missing_part_is_not_stored(links: pl.DataFrame) -> None:
    stored = record_link_keys(links.head(5).with_columns(pl.lit(None, pl.String)
                                                           .alias("mother_id")))
    assert stored.get_column("block_key_0").null_count() == 5  # the mother_id rule's column
    assert set(stored.columns) == {"rec", *LINK_KEY_COLUMNS}


def test_each_direction_of_an_asymmetric_rule_is_looked_up() -> None:
    """±1 day runs both ways: probes a day later look up the stored (name, day) hashes, and
    the stored (name, day + 1) hashes are looked up by the probes' own (name, day)."""
    lookups = key_lookups()
    asymmetric = [rule for rule in BLOCKING_RULES if rule.build is not None]
    assert len(lookups) == len(BLOCKING_RULES) + len(asymmetric)
    assert len({lookup.column for lookup in lookups}) == len(BLOCK_KEY_COLUMNS)


def test_the_scheme_changes_with_the_rules() -> None:
    """Changing the rules changes what the stored hashes mean: a state hashed under the old
    scheme must not be probed under the new one."""
    assert key_scheme(key_lookups()) == KEY_SCHEME
    assert key_scheme(key_lookups(BLOCKING_RULES[:-1])) != KEY_SCHEME
    other_key = BlockingRule(BLOCKING_RULES[0].name, (pl.col("child_id"),))
    assert key_scheme(key_lookups((other_key, *BLOCKING_RULES[1:]))) != KEY_SCHEME


NAMES = st.lists(st.sampled_from(["张伟", "王秀英", "李明", "单丽", None]), min_size=1,
                 max_size=40)


@settings(max_examples=60, deadline=None)
@given(before=NAMES, tonight=NAMES, asked=st.integers(min_value=1, max_value=40))
def test_counted_frequencies_equal_frequencies_counted_on_every_record(
        before: list[str | None], tonight: list[str | None], asked: int) -> None:
    """As a night does it: counts of the records linked before, by name hash, plus tonight's,
    give each asked record's name the frequency counted on all of them."""
    every = pl.DataFrame({"mother_name": before + tonight}, schema={"mother_name": pl.String})
    some = every.head(asked)
    hashes = every.select(name_hash("mother_name").alias("key")).drop_nulls()
    counts = hashes.group_by("key").len("n").with_columns(pl.col("n").cast(pl.Int64))
    total = every.get_column("mother_name").is_not_null().sum()
    counted = counted_frequencies(some, "mother_name", counts, total).sort("mother_name")
    expected = name_frequencies(every, "mother_name").join(
        some.select(pl.col("mother_name").drop_nulls().unique()), on="mother_name").sort(
        "mother_name")
    assert counted.get_column("mother_name").to_list() == expected.get_column(
        "mother_name").to_list()
    assert counted.get_column("mother_name_tf").to_list() == expected.get_column(
        "mother_name_tf").to_list()
