"""Officers' must-link and cannot-link pairs in linking: a full link and a nightly relink both
obey them, and a nightly relink re-clusters children a constraint finds broken even when none
of their records changed."""

from __future__ import annotations

import polars as pl

from tests.transforms.test_link_children import BACKGROUND, canonical
from transforms.link_children import Linkage, children_in, link_children, relink_children
from transforms.link_records import link_records

RECORDS = canonical(BACKGROUND).sort("source", "record_id")


def assignments(linkage: Linkage) -> pl.DataFrame:
    """member_key, person_id (the cluster, as text) of every record linked."""
    return linkage.clusters.join(linkage.records.select("rec", "member_key"), on="rec").select(
        "member_key", pl.concat_str([pl.lit("P"), pl.col("cluster").cast(pl.String)]).alias(
            "person_id"))


def recs(pairs: list[tuple[str, str]]) -> pl.DataFrame:
    """rec_l, rec_r of record keys, numbered as link_records numbers RECORDS."""
    index = link_records(RECORDS).select(
        "rec", (pl.col("source") + ":" + pl.col("record_id")).alias("key"))
    keyed = pl.DataFrame(pairs, schema={"key_l": pl.String, "key_r": pl.String}, orient="row")
    return keyed.join(index.rename({"rec": "rec_l", "key": "key_l"}), on="key_l").join(
        index.rename({"rec": "rec_r", "key": "key_r"}), on="key_r").select("rec_l", "rec_r")


FULL = link_children(RECORDS)
PREVIOUS = assignments(FULL)
STORED = FULL.pairs.select("key_l", "key_r", "match_probability", "match_weight",
                           "is_duplicate_candidate", "is_contradiction")
PERSON_OF = dict(PREVIOUS.iter_rows())
NOTHING_CHANGED = pl.Series("member_key", [], dtype=pl.String)


def relinked(must: list[tuple[str, str]], cannot: list[tuple[str, str]]) -> dict[str, str]:
    linkage = relink_children(RECORDS, NOTHING_CHANGED, lambda keys: STORED,
                              children_in(PREVIOUS), FULL.model,
                              must_link=recs(must), cannot_link=recs(cannot))
    return dict(assignments(linkage).iter_rows())


def test_a_must_link_between_untouched_children_merges_them_tonight() -> None:
    # Two different generated children: W0 and G1 (record ids are <source letter><child>).
    assert PERSON_OF["weisheng:W0"] != PERSON_OF["gongan:G1"]
    after = relinked([("weisheng:W0", "gongan:G1")], [])
    assert after["weisheng:W0"] == after["gongan:G1"]
    # Only the two children concerned were clustered again.
    moved = {PERSON_OF[key] for key in after}
    assert moved == {PERSON_OF["weisheng:W0"], PERSON_OF["gongan:G1"]}


def test_a_cannot_link_inside_one_child_splits_it_tonight() -> None:
    assert PERSON_OF["weisheng:W3"] == PERSON_OF["gongan:G3"]
    after = relinked([], [("weisheng:W3", "gongan:G3")])
    assert after["weisheng:W3"] != after["gongan:G3"]
    assert {PERSON_OF[key] for key in after} == {PERSON_OF["weisheng:W3"]}


def test_constraints_already_kept_recluster_nothing() -> None:
    after = relinked([("weisheng:W3", "gongan:G3")], [("weisheng:W0", "gongan:G1")])
    assert after == {}


def test_a_full_link_obeys_both_kinds() -> None:
    linkage = link_children(RECORDS, must_link=recs([("weisheng:W0", "gongan:G1")]),
                            cannot_link=recs([("weisheng:W3", "gongan:G3")]))
    after = dict(assignments(linkage).iter_rows())
    assert after["weisheng:W0"] == after["gongan:G1"]
    assert after["weisheng:W3"] != after["gongan:G3"]


def test_a_must_link_holds_when_new_data_touch_one_side() -> None:
    # Last night's children already obey the must-link; tonight a record of one side changes.
    merged = relink_children(RECORDS, NOTHING_CHANGED, lambda keys: STORED,
                             children_in(PREVIOUS), FULL.model,
                             must_link=recs([("weisheng:W0", "gongan:G1")]))
    previous = PREVIOUS.join(assignments(merged).rename({"person_id": "now"}), on="member_key",
                             how="left").select("member_key",
                                                pl.coalesce("now", "person_id").alias(
                                                    "person_id"))
    changed = pl.Series("member_key", ["gongan:G0"])
    linkage = relink_children(RECORDS, changed, lambda keys: STORED, children_in(previous),
                              FULL.model,
                              must_link=recs([("weisheng:W0", "gongan:G1")]))
    after = dict(assignments(linkage).iter_rows())
    assert after["weisheng:W0"] == after["gongan:G1"]
