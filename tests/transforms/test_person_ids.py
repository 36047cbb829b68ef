"""Person ids: carried from night to night, merged and split with history; nightly relinking
touches only what changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import polars as pl
import pytest

from tests.transforms.test_link_children import BACKGROUND, canonical, case, child_id
from transforms.link_children import Linkage, children_in, link_children, relink_children
from transforms.person_ids import carry_person_ids
from warehouse.link_store import KEEP_PAIR

PREVIOUS_SCHEMA = {"member_key": pl.String, "person_id": pl.String}
CLUSTER_SCHEMA = {"member_key": pl.String, "cluster": pl.Int64}
STORED_PAIR_COLUMNS = ("key_l", "key_r", "match_probability", "match_weight",
                       "is_duplicate_candidate", "is_contradiction")


def clusters(groups: dict[int, list[str]]) -> pl.DataFrame:
    return pl.DataFrame([(key, cluster) for cluster, keys in groups.items() for key in keys],
                        schema=CLUSTER_SCHEMA, orient="row")


def previous(ids: dict[str, list[str]]) -> pl.DataFrame:
    return pl.DataFrame([(key, person) for person, keys in ids.items() for key in keys],
                        schema=PREVIOUS_SCHEMA, orient="row")


def ids_of(assigned: pl.DataFrame) -> dict[int, str | None]:
    return dict(assigned.select("cluster", "person_id").iter_rows())


def history_rows(history: pl.DataFrame) -> set[tuple[str, int, str]]:
    return set(history.select("retired_id", "successor_cluster", "reason").iter_rows())


def test_first_night_has_no_ids_and_seeds_by_smallest_member() -> None:
    assigned, history = carry_person_ids(
        clusters({0: ["weisheng:W1", "gongan:G1"], 1: ["jisheng:J2"]}), previous({}))
    assert ids_of(assigned) == {0: None, 1: None}
    assert dict(assigned.select("cluster", "id_seed").iter_rows()) == {
        0: "gongan:G1", 1: "jisheng:J2"}
    assert history.height == 0


def test_ids_are_kept_when_the_same_children_come_back_under_new_cluster_numbers() -> None:
    before = previous({"P1": ["weisheng:W1", "gongan:G1"], "P2": ["jisheng:J2"]})
    assigned, history = carry_person_ids(
        clusters({7: ["gongan:G1", "weisheng:W1"], 3: ["jisheng:J2"]}), before)
    assert ids_of(assigned) == {7: "P1", 3: "P2"}
    assert history.height == 0


def test_a_new_record_joining_a_child_keeps_the_child_id() -> None:
    before = previous({"P1": ["weisheng:W1", "gongan:G1"]})
    assigned, history = carry_person_ids(
        clusters({0: ["weisheng:W1", "gongan:G1", "jisheng:J1"]}), before)
    assert ids_of(assigned) == {0: "P1"}
    assert history.height == 0


def test_a_merge_keeps_the_majority_id_and_retires_the_other_as_merged() -> None:
    before = previous({"P1": ["weisheng:W1", "gongan:G1"], "P2": ["jisheng:J1"]})
    assigned, history = carry_person_ids(
        clusters({0: ["weisheng:W1", "gongan:G1", "jisheng:J1"]}), before)
    assert ids_of(assigned) == {0: "P1"}
    assert history_rows(history) == {("P2", 0, "merged")}


def test_a_tied_merge_keeps_the_smallest_id() -> None:
    before = previous({"P9": ["weisheng:W1"], "P3": ["jisheng:J1"]})
    assigned, history = carry_person_ids(clusters({0: ["weisheng:W1", "jisheng:J1"]}), before)
    assert ids_of(assigned) == {0: "P3"}
    assert history_rows(history) == {("P9", 0, "merged")}


def test_a_split_keeps_the_id_on_the_larger_part_and_records_the_split() -> None:
    before = previous({"P1": ["weisheng:W1", "gongan:G1", "jisheng:J1"]})
    assigned, history = carry_person_ids(
        clusters({0: ["weisheng:W1", "gongan:G1"], 5: ["jisheng:J1"]}), before)
    assert ids_of(assigned) == {0: "P1", 5: None}
    # the seed names the child it split from, so its new id cannot repeat P1's own seed
    assert dict(assigned.select("cluster", "id_seed").iter_rows())[5] == "jisheng:J1|P1"
    assert history_rows(history) == {("P1", 5, "split")}


def test_a_brand_new_child_gets_no_history() -> None:
    before = previous({"P1": ["weisheng:W1"]})
    assigned, history = carry_person_ids(
        clusters({0: ["weisheng:W1"], 1: ["gongan:G9"]}), before)
    assert ids_of(assigned) == {0: "P1", 1: None}
    assert history.height == 0


def test_two_ids_swapping_records_keep_their_majorities() -> None:
    before = previous({"P1": ["weisheng:W1", "gongan:G1", "jisheng:J2"],
                       "P2": ["weisheng:W2", "gongan:G2"]})
    assigned, history = carry_person_ids(
        clusters({0: ["weisheng:W1", "gongan:G1"], 1: ["weisheng:W2", "gongan:G2", "jisheng:J2"]}),
        before)
    assert ids_of(assigned) == {0: "P1", 1: "P2"}
    assert history.height == 0


# -- Nights: link_children, then relink_children, with ids carried as the link store does --

@dataclass(frozen=True)
class Night:
    linkage: Linkage
    ids: pl.DataFrame  # member_key, person_id: every record in use after the night
    history: pl.DataFrame


def new_ids(linkage: Linkage, before: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Person ids for the relinked records (a seed-based id where none is carried)."""
    members = linkage.clusters.join(linkage.records.select("rec", "member_key"), on="rec")
    assigned, history = carry_person_ids(members.select("member_key", "cluster"), before)
    ids = assigned.select("cluster", pl.coalesce(
        "person_id", pl.lit("P:") + pl.col("id_seed")).alias("person_id"))
    return members.join(ids, on="cluster").select("member_key", "person_id"), history


def first_night(rows: list[dict[str, object]]) -> Night:
    linkage = link_children(canonical(rows))
    ids, history = new_ids(linkage, pl.DataFrame(schema=PREVIOUS_SCHEMA))
    return Night(linkage, ids, history)


def next_night(last: Night, rows: list[dict[str, object]], changed: list[str]) -> Night:
    stored = last.linkage.pairs.filter(KEEP_PAIR).select(STORED_PAIR_COLUMNS)
    linkage = relink_children(canonical(rows), pl.Series(changed, dtype=pl.String),
                              lambda keys: stored,
                              children_in(last.ids), last.linkage.model)
    touched, history = new_ids(linkage, last.ids)
    kept = last.ids.join(touched, on="member_key", how="anti")
    return Night(linkage, pl.concat([kept, touched]), history)


CHILD = [
    case("weisheng", "W-N", child_name="李明", birth_cert_number="Q450000009",
         birth_weight_g=3100.0),
    case("gongan", "G-N", child_name="李明", child_id_number=child_id("301")),
]


@pytest.fixture(scope="module")
def night_one() -> Night:
    return first_night([*BACKGROUND, *CHILD])


def id_map(night: Night) -> dict[str, str]:
    return dict(night.ids.iter_rows())


def test_first_night_gives_every_record_an_id(night_one: Night) -> None:
    assert night_one.ids.height == len(BACKGROUND) + len(CHILD)
    mapping = id_map(night_one)
    assert mapping["weisheng:W-N"] == mapping["gongan:G-N"]


def test_a_redelivered_unchanged_record_keeps_every_id(night_one: Night) -> None:
    night = next_night(night_one, [*BACKGROUND, *CHILD], ["weisheng:W-N"])
    assert set(night.linkage.records["member_key"]) >= {"weisheng:W-N", "gongan:G-N"}
    assert id_map(night) == id_map(night_one)
    assert night.history.height == 0


def test_relinking_with_no_changes_keeps_everything(night_one: Night) -> None:
    night = next_night(night_one, [*BACKGROUND, *CHILD], [])
    assert night.linkage.clusters.height == 0
    assert id_map(night) == id_map(night_one)


def test_a_new_record_joins_the_existing_child(night_one: Night) -> None:
    new = case("jisheng", "J-N", child_name="李明", birth_order=1)
    night = next_night(night_one, [*BACKGROUND, *CHILD, new], ["jisheng:J-N"])
    mapping = id_map(night)
    assert mapping["jisheng:J-N"] == id_map(night_one)["gongan:G-N"]
    assert {k: v for k, v in mapping.items() if k != "jisheng:J-N"} == id_map(night_one)
    assert night.history.height == 0
    relinked = set(night.linkage.records["member_key"])
    assert relinked == {"weisheng:W-N", "gongan:G-N", "jisheng:J-N"}


TRIO = [*CHILD, case("jisheng", "J-N", child_name="李明", birth_order=1)]
# The hukou of a twin: another name, certificate and ID; the same mother and day.
TWIN_FIELDS: dict[str, object] = {"child_name": "王强", "birth_cert_number": "Q450000010"}


@pytest.fixture(scope="module")
def trio_night() -> Night:
    return first_night([*BACKGROUND, *TRIO])


def test_a_corrected_record_that_leaves_its_child_records_the_split(trio_night: Night) -> None:
    """计生 corrects its record: it was the twin's. The child keeps its id; the record gets
    a new one, and the history says the old id was split."""
    old = id_map(trio_night)
    assert old["jisheng:J-N"] == old["gongan:G-N"] == old["weisheng:W-N"]
    corrected = case("jisheng", "J-N", birth_order=2, **TWIN_FIELDS)
    night = next_night(trio_night, [*BACKGROUND, *TRIO[:2], corrected], ["jisheng:J-N"])
    mapping = id_map(night)
    assert mapping["weisheng:W-N"] == mapping["gongan:G-N"] == old["gongan:G-N"]
    assert mapping["jisheng:J-N"] != old["gongan:G-N"]
    assert list(night.history.select("retired_id", "reason").iter_rows()) == [
        (old["gongan:G-N"], "split")]


def test_after_a_split_the_two_children_have_different_ids(trio_night: Night) -> None:
    corrected = case("gongan", "G-N", child_id_number=child_id("399"), **TWIN_FIELDS)
    night = next_night(trio_night, [*BACKGROUND, TRIO[0], corrected, TRIO[2]], ["gongan:G-N"])
    mapping = id_map(night)
    assert mapping["weisheng:W-N"] == mapping["jisheng:J-N"] == id_map(trio_night)["gongan:G-N"]
    assert mapping["gongan:G-N"] != mapping["weisheng:W-N"]


def test_a_night_whose_only_new_record_matches_nothing_gives_it_a_new_id(
        night_one: Night) -> None:
    foundling = {"source": "minzheng", "record_id": "M-1", "child_name": "欧阳新",
                 "birth_date": date(2011, 2, 2), "sex": 2, "event_type": "foundling"}
    night = next_night(night_one, [*BACKGROUND, *CHILD, foundling], ["minzheng:M-1"])
    mapping = id_map(night)
    assert mapping["minzheng:M-1"] == "P:minzheng:M-1"
    assert {k: v for k, v in mapping.items() if k != "minzheng:M-1"} == id_map(night_one)


def test_a_night_makes_the_same_children_and_pairs_whatever_order_it_reads_records(
        trio_night: Night) -> None:
    """A night reads the records unsorted; its children, ids, history and stored pairs must
    not depend on that order (a full run numbers records in member-key order)."""
    twin = case("gongan", "G-T", child_id_number=child_id("399"), **TWIN_FIELDS)
    corrected = case("jisheng", "J-N", birth_order=2, **TWIN_FIELDS)
    rows = [*BACKGROUND, *TRIO[:2], corrected, twin]
    changed = ["jisheng:J-N", "gongan:G-T"]
    in_order = next_night(trio_night, rows, changed)
    shuffled = next_night(trio_night, [*reversed(rows[::2]), *rows[1::2]], changed)
    assert id_map(shuffled) == id_map(in_order)
    assert shuffled.history.equals(in_order.history)

    def stored(night: Night) -> pl.DataFrame:
        return night.linkage.pairs.filter(KEEP_PAIR).select(STORED_PAIR_COLUMNS).sort(
            "key_l", "key_r")

    assert stored(shuffled).equals(stored(in_order))
    assert (stored(shuffled)["key_l"] < stored(shuffled)["key_r"]).all()
    assert id_map(in_order)["jisheng:J-N"] == id_map(in_order)["gongan:G-T"]
