"""Cluster: records into children under the one-per-department, duplicate, contradiction,
size and officers' constraints, on hand-made scored pairs."""

from __future__ import annotations

import math

import polars as pl
import pytest

from transforms.cluster import (
    DUPLICATE_THRESHOLD,
    LINK_THRESHOLD,
    MAX_CLUSTER_SIZE,
    ClusterSettings,
    Edge,
    cluster_records,
    connected_components,
    greedy_clusters,
)

SCORED_SCHEMA = {"rec_l": pl.Int64, "rec_r": pl.Int64, "match_probability": pl.Float64,
                 "match_weight": pl.Float64, "is_duplicate_candidate": pl.Boolean,
                 "is_contradiction": pl.Boolean}
Pair = tuple[int, int, float] | tuple[int, int, float, bool, bool]


def records(*sources: str) -> pl.DataFrame:
    """One record per source given, numbered 0, 1, ... in order."""
    return pl.DataFrame({"rec": range(len(sources)), "source": list(sources)},
                        schema={"rec": pl.Int64, "source": pl.String})


def scored(*pairs: Pair) -> pl.DataFrame:
    """Scored pairs (rec_l, rec_r, probability[, duplicate candidate, contradiction]); the
    match weight is the probability's log-odds, as score_pairs makes it."""
    rows = []
    for pair in pairs:
        left, right, probability = pair[0], pair[1], pair[2]
        duplicate, contradiction = (pair[3], pair[4]) if len(pair) == 5 else (False, False)
        weight = math.log2(probability / (1 - probability)) if probability < 1 else 60.0
        rows.append((left, right, probability, weight, duplicate, contradiction))
    return pl.DataFrame(rows, schema=SCORED_SCHEMA, orient="row")


def links(rows: list[tuple[int, int]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"rec_l": pl.Int64, "rec_r": pl.Int64}, orient="row")


def groups(clusters: pl.DataFrame) -> set[frozenset[int]]:
    """The clusters as sets of records, whatever their labels."""
    return {frozenset(g) for g in clusters.group_by("cluster").agg("rec")["rec"].to_list()}


def test_every_record_gets_exactly_one_cluster_labelled_by_its_smallest_member() -> None:
    recs = records("weisheng", "gongan", "jisheng", "weisheng", "gongan")
    clusters, at_bound = cluster_records(recs, scored((0, 1, 0.99), (1, 2, 0.97), (3, 4, 0.9)))
    assert clusters["rec"].to_list() == [0, 1, 2, 3, 4]
    assert clusters["cluster"].to_list() == [0, 0, 0, 3, 3]
    assert at_bound.height == 0


@pytest.mark.parametrize(("probability", "expected"), [
    pytest.param(LINK_THRESHOLD, {frozenset({0, 1})}, id="at the threshold links"),
    pytest.param(LINK_THRESHOLD - 0.01, {frozenset({0}), frozenset({1})}, id="below it does not"),
])
def test_link_threshold(probability: float, expected: set[frozenset[int]]) -> None:
    clusters, _ = cluster_records(records("weisheng", "gongan"), scored((0, 1, probability)))
    assert groups(clusters) == expected


def test_a_department_holds_a_child_once_unless_a_duplicate_is_flagged() -> None:
    """Two 卫生 records both like one 公安 record: the stronger stays, the other is alone."""
    recs = records("weisheng", "weisheng", "gongan")
    clusters, _ = cluster_records(recs, scored((0, 2, 0.99), (1, 2, 0.98)))
    assert groups(clusters) == {frozenset({0, 2}), frozenset({1})}


def test_a_flagged_duplicate_registration_joins_its_copy() -> None:
    """公安 registered the child twice (a new child ID): one child, two hukou records."""
    recs = records("gongan", "gongan", "weisheng", "jisheng")
    pairs = scored((0, 1, 0.9999, True, True), (0, 2, 0.99), (1, 2, 0.99), (0, 3, 0.99),
                   (1, 3, 0.99))
    clusters, _ = cluster_records(recs, pairs)
    assert groups(clusters) == {frozenset({0, 1, 2, 3})}


def test_a_duplicate_candidate_below_the_duplicate_threshold_stays_apart() -> None:
    recs = records("gongan", "gongan", "weisheng")
    just_below = DUPLICATE_THRESHOLD - 0.01
    pairs = scored((0, 1, just_below, True, False), (0, 2, 0.99), (1, 2, 0.98))
    clusters, _ = cluster_records(recs, pairs)
    assert groups(clusters) == {frozenset({0, 2}), frozenset({1})}


def test_same_day_twins_in_three_departments_are_kept_apart() -> None:
    """Every cross-department pair of two twins looks alike (mother, date, township); the
    pairs between different twins carry a contradiction (certificate, ID or name)."""
    recs = records("weisheng", "weisheng", "gongan", "gongan", "jisheng", "jisheng")
    twin_of = {0: "a", 1: "b", 2: "a", 3: "b", 4: "a", 5: "b"}
    pairs: list[Pair] = []
    for left in range(6):
        for right in range(left + 1, 6):
            if recs["source"][left] == recs["source"][right]:
                pairs.append((left, right, 0.95, False, True))
            elif twin_of[left] == twin_of[right]:
                pairs.append((left, right, 0.999))
            else:
                pairs.append((left, right, 0.99, False, True))
    clusters, _ = cluster_records(recs, scored(*pairs))
    assert groups(clusters) == {frozenset({0, 2, 4}), frozenset({1, 3, 5})}


def test_a_contradiction_forbids_a_merge_through_a_third_record() -> None:
    """0 and 2 contradict each other; both like 1: 1 goes with the stronger link."""
    recs = records("weisheng", "jisheng", "gongan")
    pairs = scored((0, 1, 0.95), (1, 2, 0.99), (0, 2, 0.3, False, True))
    clusters, _ = cluster_records(recs, pairs)
    assert groups(clusters) == {frozenset({0}), frozenset({1, 2})}


@pytest.mark.parametrize("length", [MAX_CLUSTER_SIZE + 1, 3 * MAX_CLUSTER_SIZE])
def test_a_chain_of_weak_links_cannot_exceed_the_cluster_size_bound(length: int) -> None:
    recs = records(*[f"s{i}" for i in range(length)])
    chain = scored(*[(i, i + 1, 0.55 + 0.4 * ((i * 7) % length) / length)
                     for i in range(length - 1)])
    clusters, at_bound = cluster_records(recs, chain)
    sizes = clusters.group_by("cluster").len()["len"]
    assert (sizes <= MAX_CLUSTER_SIZE).all()
    assert clusters.height == length
    assert at_bound.height >= 1 and (at_bound["size"] == MAX_CLUSTER_SIZE).all()


def test_a_smaller_size_bound_is_obeyed() -> None:
    recs = records("weisheng", "gongan", "jisheng", "minzheng")
    chain = scored((0, 1, 0.9), (1, 2, 0.8), (2, 3, 0.95))
    clusters, at_bound = cluster_records(recs, chain, ClusterSettings(max_cluster_size=2))
    assert groups(clusters) == {frozenset({0, 1}), frozenset({2, 3})}
    assert at_bound.height == 2


def test_officers_must_link_joins_records_without_any_link() -> None:
    recs = records("weisheng", "gongan", "jisheng")
    clusters, _ = cluster_records(recs, scored((1, 2, 0.99)), must_link=links([(0, 2)]))
    assert groups(clusters) == {frozenset({0, 1, 2})}


def test_officers_must_link_overrides_a_contradiction_and_the_one_per_department_rule() -> None:
    recs = records("gongan", "gongan", "weisheng")
    pairs = scored((0, 1, 0.2, False, True), (0, 2, 0.99))
    clusters, _ = cluster_records(recs, pairs, must_link=links([(0, 1)]))
    assert groups(clusters) == {frozenset({0, 1, 2})}


def test_officers_cannot_link_splits_a_strong_pair() -> None:
    recs = records("weisheng", "gongan")
    clusters, _ = cluster_records(recs, scored((0, 1, 0.9999)), cannot_link=links([(0, 1)]))
    assert groups(clusters) == {frozenset({0}), frozenset({1})}


def test_officers_cannot_link_holds_through_a_third_record() -> None:
    recs = records("weisheng", "jisheng", "gongan")
    pairs = scored((0, 1, 0.99), (1, 2, 0.999))
    clusters, _ = cluster_records(recs, pairs, cannot_link=links([(2, 0)]))
    found = groups(clusters)
    assert not any({0, 2} <= group for group in found)
    assert frozenset({1, 2}) in found


def test_officers_cannot_link_is_not_waived_by_a_duplicate() -> None:
    """A flagged duplicate waives a data contradiction with its copy, never an officer's."""
    recs = records("gongan", "gongan", "weisheng")
    pairs = scored((0, 1, 0.9999, True, True), (0, 2, 0.99), (1, 2, 0.99))
    clusters, _ = cluster_records(recs, pairs, cannot_link=links([(1, 2)]))
    assert not any({1, 2} <= group for group in groups(clusters))


def test_greedy_merges_the_strongest_links_first() -> None:
    edges = [Edge(0, 1, 5.0, False, False), Edge(1, 2, 9.0, False, False)]
    source_of = {0: "weisheng", 1: "gongan", 2: "weisheng"}
    assigned = greedy_clusters([0, 1, 2], source_of, edges, set(), MAX_CLUSTER_SIZE)
    assert assigned == {0: 0, 1: 1, 2: 1}


@pytest.mark.parametrize(("edges", "expected"), [
    pytest.param([], [0, 1, 2, 3], id="no edges"),
    pytest.param([(3, 2), (2, 1), (1, 0)], [0, 0, 0, 0], id="a chain"),
    pytest.param([(0, 3), (1, 2)], [0, 1, 1, 0], id="two components"),
])
def test_connected_components_label_by_the_smallest_reachable_record(
        edges: list[tuple[int, int]], expected: list[int]) -> None:
    labels = connected_components(pl.Series("rec", [0, 1, 2, 3], dtype=pl.Int64), links(edges))
    assert labels.sort("rec")["label"].to_list() == expected


def test_a_long_chain_is_one_component() -> None:
    n = 200
    chain = links([(i + 1, i) for i in range(n - 1)])
    labels = connected_components(pl.Series("rec", range(n), dtype=pl.Int64), chain)
    assert labels["label"].unique().to_list() == [0]


def test_records_numbered_sparsely_cluster_as_when_numbered_densely() -> None:
    """A nightly run clusters a subset of records: numbers are looked up, not positions."""
    sources = ("weisheng", "gongan", "jisheng", "weisheng", "gongan", "gongan")
    pairs = ((0, 1, 0.99), (1, 2, 0.97), (0, 3, 0.9), (3, 4, 0.9), (4, 5, 0.9999, True, False),
             (2, 5, 0.8, False, True))
    dense, _ = cluster_records(records(*sources), scored(*pairs))
    sparse_recs = records(*sources).with_columns(pl.col("rec") * 10 + 7).reverse()
    sparse_pairs = scored(*pairs).with_columns(pl.col("rec_l", "rec_r") * 10 + 7)
    sparse, _ = cluster_records(sparse_recs, sparse_pairs)
    assert sparse["rec"].to_list() == [rec * 10 + 7 for rec in dense["rec"].to_list()]
    assert sparse["cluster"].to_list() == [c * 10 + 7 for c in dense["cluster"].to_list()]


def test_a_link_to_a_record_not_given_links_nothing() -> None:
    clusters, _ = cluster_records(records("weisheng", "gongan"),
                                  scored((0, 1, 0.99), (1, 9, 0.99)))
    assert groups(clusters) == {frozenset({0, 1})}
