"""Blocking: which rules propose which pairs, oversized keys, and probe-vs-build mode."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import numpy as np
import polars as pl
import pytest

from tests.transforms.canonical_rows import canonical, with_check_digit
from transforms.block import (
    BLOCKING_RULES,
    MAX_BLOCK_SIZE,
    BlockingRule,
    block_pairs,
    first_proposals,
)
from transforms.link_records import link_records

RULES = {rule.name: rule for rule in BLOCKING_RULES}
SWAPPED = "mother_pinyin+birth_date_swapped+township+sex"


def links_of(rows: Sequence[Mapping[str, object]]) -> pl.DataFrame:
    return link_records(canonical([
        {"source": "weisheng", "record_id": f"R{i}", "township_code": "450821101", "sex": 1,
         **row}
        for i, row in enumerate(rows)]))


def pair_set(pairs: pl.DataFrame) -> set[tuple[int, int]]:
    return set(pairs.select("rec_l", "rec_r").iter_rows())


@pytest.mark.parametrize(("left", "right", "rule"), [
    pytest.param(date(2013, 5, 4), date(2013, 5, 5), "mother_pinyin+birth_date+1+township+sex",
                 id="second record a day later"),
    pytest.param(date(2013, 5, 5), date(2013, 5, 4), "mother_pinyin+birth_date+1+township+sex",
                 id="second record a day earlier"),
    pytest.param(date(2013, 12, 31), date(2014, 1, 1), "mother_pinyin+birth_date+1+township+sex",
                 id="a day apart across new year"),
    pytest.param(date(2013, 5, 4), date(2013, 4, 5), SWAPPED,
                 id="month and day swapped"),
    pytest.param(date(2013, 3, 12), date(2013, 12, 3), SWAPPED,
                 id="swapped months apart"),
    pytest.param(date(2013, 5, 4), date(2013, 5, 4), "mother_pinyin+birth_date+township",
                 id="same day"),
])
def test_homophone_mothers_with_near_dates_are_paired(left: date, right: date,
                                                      rule: str) -> None:
    """No IDs, no child names: only the mother's pinyin and the date can propose the pair."""
    links = links_of([{"mother_name": "单丽", "birth_date": left},
                      {"mother_name": "善丽", "birth_date": right}])
    pairs, stats = block_pairs(links, links)
    assert pairs.rows() == [(0, 1, rule)]
    alone, _ = block_pairs(links, links, rules=(RULES[rule],))
    assert pair_set(alone) == {(0, 1)}
    assert stats.filter(pl.col("rule") == rule)["pairs"].to_list() == [1]


@pytest.mark.parametrize(("left", "right"), [
    pytest.param(date(2013, 5, 4), date(2013, 5, 6), id="two days apart"),
    pytest.param(date(2013, 5, 5), date(2014, 5, 5), id="a year apart"),
    pytest.param(date(2013, 5, 4), date(2013, 4, 4), id="a month apart"),
])
def test_same_mother_name_far_apart_in_time_is_not_paired(left: date, right: date) -> None:
    links = links_of([{"mother_name": "单丽", "birth_date": left},
                      {"mother_name": "单丽", "birth_date": right}])
    pairs, _ = block_pairs(links, links)
    assert pairs.height == 0


def test_a_record_is_never_paired_with_itself() -> None:
    """5 May swapped is 5 May, and every key matches its own record: no self-pairs."""
    links = links_of([{"mother_name": "单丽", "birth_date": date(2013, 5, 5)}])
    pairs, _ = block_pairs(links, links)
    assert pairs.height == 0


def test_identifiers_propose_pairs_whatever_else_differs() -> None:
    mother_id = with_check_digit("45082119880512123")
    links = links_of([
        {"mother_id_number": mother_id, "mother_name": "单丽", "birth_date": date(2013, 5, 4)},
        {"mother_id_number": mother_id, "mother_name": "陈静", "birth_date": date(2013, 9, 1)},
        {"birth_cert_number": "P450123456", "mother_name": "王芳"},
        {"birth_cert_number": "P450123456", "mother_name": "李娜"},
    ])
    pairs, _ = block_pairs(links, links)
    assert pairs.rows() == [(0, 1, "mother_id"), (2, 3, "birth_cert_number")]


def test_damaged_mother_ids_still_pair_on_their_first_fifteen_digits_and_date() -> None:
    mother_id = with_check_digit("45082119880512123")
    day = date(2013, 5, 4)
    links = links_of([
        {"mother_id_number": mother_id, "birth_date": day},
        {"mother_id_number": mother_id[:15] + "000", "mother_id_number_problem": "stored_as_number",
         "birth_date": day},
    ])
    pairs, _ = block_pairs(links, links)
    assert pairs.rows() == [(0, 1, "mother_id_prefix+birth_date")]


@pytest.mark.parametrize(("size", "expected_pairs", "expected_oversized"), [
    pytest.param(MAX_BLOCK_SIZE, MAX_BLOCK_SIZE * (MAX_BLOCK_SIZE - 1) // 2, 0,
                 id="a full block is used"),
    pytest.param(MAX_BLOCK_SIZE + 1, 0, 1, id="one record too many proposes nothing"),
])
def test_a_key_shared_by_too_many_records_proposes_nothing(size: int, expected_pairs: int,
                                                           expected_oversized: int) -> None:
    day = date(2013, 5, 4)
    links = links_of([{"mother_name": "张丽", "birth_date": day}] * size)
    pairs, stats = block_pairs(links, links)
    assert pairs.height == expected_pairs
    counts = {row["rule"]: row for row in stats.iter_rows(named=True)}
    assert counts["mother_pinyin+birth_date+township"]["oversized_keys"] == expected_oversized
    assert counts["mother_pinyin+birth_date+township"]["pairs"] == expected_pairs


def test_an_oversized_key_does_not_hide_pairs_another_rule_finds() -> None:
    day = date(2013, 5, 4)
    mother_id = with_check_digit("45082119880512123")
    rows: list[dict[str, object]] = [{"mother_name": "张丽", "birth_date": day}] * (
        MAX_BLOCK_SIZE + 1)
    rows = [*rows, {"mother_name": "张丽", "birth_date": day, "mother_id_number": mother_id},
            {"mother_name": "张丽", "birth_date": day, "mother_id_number": mother_id}]
    links = links_of(rows)
    pairs, stats = block_pairs(links, links)
    assert pairs.rows() == [(MAX_BLOCK_SIZE + 1, MAX_BLOCK_SIZE + 2, "mother_id")]
    assert stats.filter(pl.col("rule") == "mother_pinyin+birth_date+township")[
        "oversized_keys"].item() == 1


def test_probe_mode_proposes_only_pairs_involving_probe_records() -> None:
    """A nightly run probes the night's records against all: old pairs are not re-proposed."""
    day = date(2013, 5, 4)
    links = links_of([
        {"mother_name": "单丽", "birth_date": day},  # 0: old, same child as 1 and 4
        {"mother_name": "单丽", "birth_date": day},  # 1: old
        {"mother_name": "王芳", "birth_date": day},  # 2: old, same child as 3
        {"mother_name": "王芳", "birth_date": day},  # 3: old
        {"mother_name": "善丽", "birth_date": date(2013, 5, 5)},  # 4: tonight's
    ])
    probe = links.filter(pl.col("rec") == 4)
    pairs, _ = block_pairs(probe, links)
    assert pair_set(pairs) == {(0, 4), (1, 4)}
    full, _ = block_pairs(links, links)
    assert pair_set(full) == {(0, 1), (2, 3), (0, 4), (1, 4)}


def test_probe_mode_finds_asymmetric_rules_in_both_directions() -> None:
    """The ±1-day rule shifts the probe side only; a probe born a day earlier must still pair."""
    links = links_of([
        {"mother_name": "单丽", "birth_date": date(2013, 5, 5)},
        {"mother_name": "单丽", "birth_date": date(2013, 5, 4)},
        {"mother_name": "单丽", "birth_date": date(2013, 5, 6)},
    ])
    pairs, _ = block_pairs(links.filter(pl.col("rec") == 0), links)
    assert pair_set(pairs) == {(0, 1), (0, 2)}


def test_pairs_are_ordered_and_unique() -> None:
    mother_id = with_check_digit("45082119880512123")
    day = date(2013, 5, 4)
    same = {"mother_id_number": mother_id, "mother_name": "单丽", "birth_date": day,
            "child_name": "张伟", "township_code": "450821101"}
    links = links_of([same, same, same])
    pairs, _ = block_pairs(links, links)
    assert pair_set(pairs) == {(0, 1), (0, 2), (1, 2)}
    assert pairs.height == 3
    assert (pairs["rec_l"] < pairs["rec_r"]).all()


def test_no_rules_give_no_pairs() -> None:
    links = links_of([{"mother_name": "单丽"}, {"mother_name": "单丽"}])
    no_rules: tuple[BlockingRule, ...] = ()
    pairs, stats = block_pairs(links, links, rules=no_rules)
    assert pairs.height == 0 and stats.height == 0


def test_every_pair_inside_blocks_of_mixed_sizes_is_proposed_once() -> None:
    """Blocks of 1, 2, 3 and 5 records, interleaved in record order: each pair once."""
    mothers = ["单丽", "王芳", "李娜", "陈静"]
    sizes = {"单丽": 1, "王芳": 2, "李娜": 3, "陈静": 5}
    names = [name for round_ in range(5) for name in mothers if round_ < sizes[name]]
    links = links_of([{"mother_name": name, "birth_date": date(2013, 5, 4)} for name in names])
    pairs, _ = block_pairs(links, links, rules=(RULES["mother_pinyin+birth_date+township"],))
    expected = {(a, b) for a in range(len(names)) for b in range(a + 1, len(names))
                if names[a] == names[b]}
    assert pair_set(pairs) == expected
    assert pairs.height == len(expected) == 1 + 3 + 10


def test_probe_mode_and_full_run_agree_on_the_probe_records_pairs() -> None:
    """Probing every record against every record proposes what the symmetric passes do."""
    day = date(2013, 5, 4)
    links = links_of([
        {"mother_name": "单丽", "birth_date": day},
        {"mother_name": "善丽", "birth_date": date(2013, 5, 5)},
        {"mother_name": "单丽", "birth_date": date(2013, 4, 5)},
        {"mother_name": "王芳", "birth_date": day},
        {"mother_name": "王芳", "birth_date": day},
    ])
    full, full_stats = block_pairs(links, links)
    probed, probed_stats = block_pairs(links.clone(), links)
    assert pair_set(probed) == pair_set(full)
    assert probed_stats.equals(full_stats)


@pytest.mark.parametrize("offset", [
    pytest.param(0, id="pair and rule packed in one integer"),
    pytest.param(1 << 62, id="pairs too large to pack: stable sort"),
])
def test_each_pair_keeps_the_first_rule_that_proposed_it(offset: int) -> None:
    found = [np.array([5, 3], dtype=np.uint64), np.array([3, 9, 1], dtype=np.uint64),
             np.array([9, 5, 7], dtype=np.uint64)]
    union = first_proposals([pairs + np.uint64(offset) for pairs in found])
    assert union["pair"].to_list() == [offset + p for p in (1, 3, 5, 7, 9)]
    assert union["rule"].to_list() == [1, 0, 0, 2, 1]
