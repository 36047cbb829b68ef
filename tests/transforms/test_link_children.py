"""Link children: the whole of block, compare, score and cluster on small generated counties
with a hand-made case in them (twins, a second registration, departments that disagree)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import polars as pl
import pytest

from tests.transforms.canonical_rows import canonical, population_rows, with_check_digit
from transforms.cluster import MAX_CLUSTER_SIZE
from transforms.link_children import Linkage, link_children

BACKGROUND = population_rows(60, seed=11, sibling_share=0.1)
MOTHER = "黄秀英"
MOTHER_ID = with_check_digit("45082119870923246")
BORN = date(2011, 6, 15)
TOWNSHIP = "450821105"


def case(source: str, record_id: str, **fields: object) -> dict[str, object]:
    """A record of 黄秀英's child born 15 June 2011, as a department writes it."""
    return {"source": source, "record_id": record_id, "mother_name": MOTHER,
            "mother_id_number": MOTHER_ID, "birth_date": BORN, "sex": 1,
            "township_code": TOWNSHIP, **fields}


def child_id(sequence: str) -> str:
    return with_check_digit(f"450821{BORN:%Y%m%d}{sequence}")


def linked(case_rows: Sequence[Mapping[str, object]]) -> dict[str, int]:
    """Link the case inside the generated county: record_id -> cluster, for the case only."""
    linkage = link_children(canonical([*BACKGROUND, *case_rows]))
    return clusters_of(linkage, {str(r["record_id"]) for r in case_rows})


def clusters_of(linkage: Linkage, record_ids: set[str]) -> dict[str, int]:
    rows = linkage.clusters.join(linkage.records.select("rec", "record_id"), on="rec").filter(
        pl.col("record_id").is_in(list(record_ids)))
    return dict(rows.select("record_id", "cluster").iter_rows())


def partition(clusters: Mapping[str, int]) -> set[frozenset[str]]:
    by_cluster: dict[int, set[str]] = {}
    for record_id, cluster in clusters.items():
        by_cluster.setdefault(cluster, set()).add(record_id)
    return {frozenset(group) for group in by_cluster.values()}


def test_the_generated_county_links_into_its_children() -> None:
    """Background check: each generated child is one cluster, siblings included."""
    linkage = link_children(canonical(BACKGROUND))
    truth = linkage.records.select("rec", pl.col("record_id").str.slice(1).alias("child"))
    joined = linkage.clusters.join(truth, on="rec")
    assert joined.group_by("cluster").agg(pl.col("child").n_unique())["child"].max() == 1
    assert joined["cluster"].n_unique() == joined["child"].n_unique()


def test_same_sex_twins_with_their_own_certificates_stay_apart() -> None:
    """Unnamed at birth and in 计生; each department's records carry the twin's certificate."""
    unnamed = {"child_name": None, "child_name_raw": "黄秀英之子",
               "child_name_is_placeholder": True}
    rows = [
        case("weisheng", "W-T1", birth_cert_number="Q450000001", birth_weight_g=2600.0,
             **unnamed),
        case("weisheng", "W-T2", birth_cert_number="Q450000002", birth_weight_g=2450.0,
             **unnamed),
        case("gongan", "G-T1", child_name="李明", child_id_number=child_id("301"),
             birth_cert_number="Q450000001"),
        case("gongan", "G-T2", child_name="李亮", child_id_number=child_id("311"),
             birth_cert_number="Q450000002"),
        case("jisheng", "J-T1", birth_cert_number="Q450000001", birth_order=1, **unnamed),
        case("jisheng", "J-T2", birth_cert_number="Q450000002", birth_order=2, **unnamed),
    ]
    assert partition(linked(rows)) == {frozenset({"W-T1", "G-T1", "J-T1"}),
                                       frozenset({"W-T2", "G-T2", "J-T2"})}


def test_same_sex_twins_with_different_names_stay_apart() -> None:
    """No certificate numbers outside 卫生; names and IDs tell the twins apart."""
    unnamed = {"child_name": None, "child_name_raw": "男婴", "child_name_is_placeholder": True}
    rows = [
        case("weisheng", "W-T1", birth_cert_number="Q450000001", birth_weight_g=2600.0,
             **unnamed),
        case("weisheng", "W-T2", birth_cert_number="Q450000002", birth_weight_g=2450.0,
             **unnamed),
        case("gongan", "G-T1", child_name="李明", child_id_number=child_id("301")),
        case("gongan", "G-T2", child_name="李亮", child_id_number=child_id("311")),
        case("jisheng", "J-T1", child_name="李明", child_id_number=child_id("301")),
        case("jisheng", "J-T2", child_name="李亮"),
    ]
    clusters = linked(rows)
    groups = partition(clusters)
    assert clusters["G-T1"] == clusters["J-T1"]
    assert clusters["G-T2"] == clusters["J-T2"]
    assert clusters["G-T1"] != clusters["G-T2"]
    assert clusters["W-T1"] != clusters["W-T2"]
    for group in groups:
        sources = [record_id.split("-")[0] for record_id in group]
        assert len(sources) == len(set(sources)), group


@pytest.mark.parametrize("rows", [
    pytest.param([
        case("weisheng", "W-D", child_name="李明", birth_cert_number="Q450000009",
             birth_weight_g=3100.0),
        case("gongan", "G-D1", child_name="李明", child_id_number=child_id("301")),
        case("gongan", "G-D2", child_name="李明", child_id_number=child_id("355")),
        case("jisheng", "J-D", child_name="李明", birth_order=1),
    ], id="公安 twice with a new child ID"),
    pytest.param([
        case("weisheng", "W-D", child_name="李明", birth_cert_number="Q450000009",
             birth_weight_g=3100.0),
        case("gongan", "G-D", child_name="李明", child_id_number=child_id("301")),
        case("jisheng", "J-D1", child_name="李明", birth_order=1),
        case("jisheng", "J-D2", child_name="李明", birth_order=1),
    ], id="计生 twice, the same entry"),
    pytest.param([
        case("weisheng", "W-D1", birth_cert_number="Q450000009", birth_weight_g=3100.0),
        case("weisheng", "W-D2", birth_cert_number="R450000777", birth_weight_g=3100.0),
        case("gongan", "G-D", child_name="李明", child_id_number=child_id("301")),
        case("jisheng", "J-D", child_name="李明", birth_order=1),
    ], id="卫生 re-issued certificate, same weight"),
    pytest.param([
        case("weisheng", "W-D", child_name="李明", birth_cert_number="Q450000009",
             birth_weight_g=3100.0),
        case("gongan", "G-D1", child_name="李明", child_id_number=child_id("301")),
        case("gongan", "G-D2", child_name="李鸣", child_id_number=child_id("355")),
        case("jisheng", "J-D", child_name="李明", birth_order=1),
    ], id="公安 twice, the name one character off"),
    pytest.param([
        case("weisheng", "W-D", child_name="李明", birth_cert_number="Q450000009",
             birth_weight_g=3100.0),
        case("gongan", "G-D1", child_name="李明", child_id_number=child_id("301")),
        case("gongan", "G-D2", child_name="李明", child_id_number=child_id("355"), sex=None,
             mother_id_number=None),
        case("jisheng", "J-D", child_name="李明", birth_order=1),
    ], id="公安 twice, sex and mother's ID left blank"),
    pytest.param([
        case("weisheng", "W-D1", birth_cert_number="Q450000009", birth_weight_g=3100.0),
        case("weisheng", "W-D2", birth_cert_number="R450000777", birth_weight_g=3100.0,
             mother_id_number=MOTHER_ID[:5] + "9" + MOTHER_ID[6:]),
        case("gongan", "G-D", child_name="李明", child_id_number=child_id("301")),
        case("jisheng", "J-D", child_name="李明", birth_order=1),
    ], id="卫生 twice, a digit of the mother's ID mistyped"),
])
def test_a_child_registered_twice_in_one_department_is_one_cluster(
        rows: list[dict[str, object]]) -> None:
    assert len(partition(linked(rows))) == 1


@pytest.mark.parametrize("gongan", [
    pytest.param({"sex": 2}, id="sex"),
    pytest.param({"birth_date": BORN + timedelta(days=1)}, id="a day later"),
    pytest.param({"birth_date": BORN - timedelta(days=9)}, id="nine days earlier"),
    pytest.param({"birth_date": BORN + timedelta(days=40)}, id="forty days later"),
    pytest.param({"sex": 2, "birth_date": BORN - timedelta(days=1)}, id="sex and a day"),
])
def test_a_sex_or_birth_date_disagreement_alone_does_not_prevent_a_link(
        gongan: dict[str, object]) -> None:
    rows = [
        case("weisheng", "W-C", child_name="李明", birth_cert_number="Q450000009",
             birth_weight_g=3100.0),
        case("gongan", "G-C", child_name="李明", child_id_number=child_id("301"), **gongan),
        case("jisheng", "J-C", child_name="李明", birth_order=1),
    ]
    assert partition(linked(rows)) == {frozenset({"W-C", "G-C", "J-C"})}


def test_swapped_month_and_day_still_links() -> None:
    born = date(2011, 5, 4)
    rows = [
        case("weisheng", "W-S", birth_date=born, child_name="李明",
             birth_cert_number="Q450000009"),
        case("gongan", "G-S", birth_date=date(2011, 4, 5), child_name="李明",
             child_id_number=with_check_digit("45082120110504301"),
             mother_id_number=None),
    ]
    assert partition(linked(rows)) == {frozenset({"W-S", "G-S"})}


def test_officers_decisions_hold_in_a_full_linkage() -> None:
    rows = [
        case("weisheng", "W-O", child_name="李明", birth_cert_number="Q450000009"),
        case("gongan", "G-O", child_name="李明", child_id_number=child_id("301")),
        case("jisheng", "J-O", child_name="王强", mother_name="陈静",
             mother_id_number=None, birth_date=date(2011, 9, 1), township_code="450821101"),
    ]
    records = canonical([*BACKGROUND, *rows])
    rec = {record_id: i for i, record_id in enumerate(records["record_id"].to_list())}
    must = pl.DataFrame({"rec_l": [rec["W-O"]], "rec_r": [rec["J-O"]]})
    cannot = pl.DataFrame({"rec_l": [rec["G-O"]], "rec_r": [rec["W-O"]]})
    linkage = link_children(records, must_link=must, cannot_link=cannot)
    clusters = clusters_of(linkage, {"W-O", "G-O", "J-O"})
    assert clusters["W-O"] == clusters["J-O"]
    assert clusters["G-O"] != clusters["W-O"]


def test_no_cluster_exceeds_the_size_bound_and_every_record_is_clustered() -> None:
    records = canonical(BACKGROUND)
    linkage = link_children(records)
    assert linkage.clusters.height == records.height
    assert linkage.clusters["rec"].n_unique() == records.height
    assert (linkage.clusters.group_by("cluster").len()["len"] <= MAX_CLUSTER_SIZE).all()


def test_linkage_explains_every_pair_and_reports_blocking() -> None:
    linkage = link_children(canonical(BACKGROUND))
    assert {"match_weight", "match_probability", "mother_id_weight", "key_l", "key_r",
            "is_duplicate_candidate", "is_contradiction"} <= set(linkage.pairs.columns)
    assert set(linkage.blocking["rule"]) >= {"mother_id", "mother_pinyin+birth_date+1+township+sex"}
    assert linkage.blocking["pairs"].sum() >= linkage.pairs.height
