"""The demo-data generator: deterministic, realistic in shape, and its truth consistent."""

from __future__ import annotations

import re
from datetime import date

import opencc
import polars as pl
import pytest

from schemas.codes import DiscrepancyKind
from schemas.divisions import ALIAS_SEPARATOR
from transforms.synthesise_births import (
    COUNTY_CODE,
    EXTRACT_MONTHS,
    ID_CHECK_CHARS,
    ID_CHECK_WEIGHTS,
    SEX_RATIO_BY_ORDER,
    TRADITIONAL_CHARACTERS,
    RandomStreams,
    SyntheticInbox,
    build_children,
    extract_dates,
    file_name,
    misspell_name,
    synthesise_births,
    township_stem,
)


def check_character(id_number: str) -> str:
    """GB 11643-1999, written out independently of the generator."""
    total = sum(int(d) * w for d, w in zip(id_number[:17], ID_CHECK_WEIGHTS, strict=True))
    return ID_CHECK_CHARS[total % 11]


def is_valid_id(id_number: str) -> bool:
    if len(id_number) != 18 or not id_number[:17].isdigit():
        return False
    born = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    return id_number[17] == check_character(id_number) and born > date(1900, 1, 1)


@pytest.fixture(scope="module")
def small() -> SyntheticInbox:
    return synthesise_births(300, seed=5)


@pytest.fixture(scope="module")
def harder() -> SyntheticInbox:
    """The "harder" variant: every dirt and discrepancy rate x3."""
    return synthesise_births(1500, seed=8, dirt_scale=3.0)


def test_same_seed_gives_identical_frames(small: SyntheticInbox) -> None:
    again = synthesise_births(300, seed=5)
    for name in ("divisions", "children", "file_rows", "files", "records", "problems"):
        assert getattr(small, name).equals(getattr(again, name)), name


def test_another_seed_gives_other_children(small: SyntheticInbox) -> None:
    other = synthesise_births(300, seed=6)
    assert not small.children.equals(other.children)


def test_exactly_the_births_asked_for(small: SyntheticInbox) -> None:
    assert small.children.height == 300
    assert small.children["child_key"].is_unique().all()


def test_sex_ratio_of_20k_births_is_near_117() -> None:
    rng = RandomStreams(seed=3)
    start = date(2013, 1, 1)
    calendar = {s: extract_dates(s, start) for s in EXTRACT_MONTHS}
    children, _ = build_children(20_000, rng, start, calendar)
    boys, girls = int((children["sex"] == 1).sum()), int((children["sex"] == 2).sum())
    assert 110 < 100 * boys / girls < 125
    by_order = children.group_by("birth_order").agg(
        ratio=100 * (pl.col("sex") == 1).sum() / (pl.col("sex") == 2).sum()).sort("birth_order")
    first, _, third = by_order["ratio"].to_list()
    assert abs(first - SEX_RATIO_BY_ORDER[0]) < 8
    assert third > 135  # more boys at higher birth order


def test_births_spread_over_the_year_from_start(small: SyntheticInbox) -> None:
    births = small.children["birth_date"]
    assert births.min() >= date(2013, 1, 1)  # type: ignore[operator]
    assert births.max() < date(2014, 1, 1)  # type: ignore[operator]


def test_twins_share_mother_and_birth_date(harder: SyntheticInbox) -> None:
    twins = harder.children.filter(pl.col("twin_group").is_not_null()).group_by(
        "twin_group").agg(pl.len(), pl.col("mother_key").n_unique(),
                          pl.col("birth_date").n_unique())
    assert twins.height > 0
    assert (twins["len"] == 2).all()
    assert (twins["mother_key"] == 1).all()
    assert (twins["birth_date"] == 1).all()


def test_id_numbers_are_valid_and_child_ids_unique_but_shared(harder: SyntheticInbox) -> None:
    children = harder.children
    for column in ("mother_id_number", "father_id_number", "child_id_number"):
        values = children[column].drop_nulls().to_list()
        assert values and all(is_valid_id(v) for v in values), column
    mothers = children.filter(pl.col("mother_key").is_not_null()).select(
        "mother_key", "mother_id_number").unique()
    assert mothers["mother_id_number"].is_unique().all()
    assert all(v[16] in "02468" for v in mothers["mother_id_number"])  # women: even
    child_ids = children["child_id_number"].drop_nulls()
    shared = harder.problems.filter(pl.col("problem") == DiscrepancyKind.SHARED_ID.value)
    assert child_ids.len() - child_ids.n_unique() == shared.height // 2
    assert all(v.startswith("45") for v in child_ids)


def test_truth_records_point_at_true_children(harder: SyntheticInbox) -> None:
    records = harder.records
    usable = records.filter(~pl.col("is_unusable"))
    assert usable.select("source", "record_id").is_duplicated().sum() == 0
    known = harder.children["child_key"].implode()
    assert usable["child_key"].is_in(known).all()
    duplicates = usable.filter(pl.col("is_duplicate_registration"))
    assert duplicates.height > 0
    assert duplicates["child_key"].is_in(
        usable.filter(~pl.col("is_duplicate_registration"))["child_key"].implode()).all()


def test_truth_record_rows_exist_in_their_files(harder: SyntheticInbox) -> None:
    rows = harder.file_rows.select("file", "row_number", "record_id")
    located = harder.records.filter(pl.col("record_id").is_not_null()).join(
        rows, on=["file", "row_number"], how="left", suffix="_in_file")
    assert (located["record_id"] == located["record_id_in_file"]).all()


def test_every_problem_kind_is_injected(harder: SyntheticInbox) -> None:
    found = set(harder.problems["problem"])
    expected = {
        "sex_conflict", "birth_date_conflict", "name_conflict", "mother_conflict",
        "duplicate_registration", "missing_in_gongan", "missing_in_weisheng",
        "missing_in_jisheng", "shared_id", "invalid_id", "id_stored_as_number",
        "late_registration", "corrected_record", "footer_row", "unusable_row",
        "infant_death", "adoption", "foundling",
    }
    assert expected <= found, expected - found


def test_problems_name_their_records(harder: SyntheticInbox) -> None:
    record_level = harder.problems.filter(~pl.col("problem").str.starts_with("missing_in_"))
    assert record_level["file"].is_not_null().all()
    assert record_level["row_number"].is_not_null().all()


def test_no_dirt_without_dirt_scale() -> None:
    clean = synthesise_births(500, seed=2, dirt_scale=0.0)
    injected = {"sex_conflict", "birth_date_conflict", "name_conflict", "duplicate_registration",
                "shared_id", "invalid_id", "id_stored_as_number", "corrected_record",
                "footer_row", "unusable_row", "sex_unknown"}
    assert not injected & set(clean.problems["problem"])


def test_harder_variant_has_more_conflicts() -> None:
    normal = synthesise_births(1500, seed=8)
    harder = synthesise_births(1500, seed=8, dirt_scale=3.0)

    def conflicts(inbox: SyntheticInbox) -> int:
        return inbox.problems.filter(pl.col("problem") == "birth_date_conflict").height

    assert conflicts(harder) == pytest.approx(3 * conflicts(normal), abs=1)


def test_divisions_are_the_county_townships(small: SyntheticInbox) -> None:
    divisions = small.divisions
    assert 15 <= divisions.height <= 25
    assert divisions["township_code"].str.contains(f"^{COUNTY_CODE}\\d{{3}}$").all()
    assert divisions["township_name"].str.contains("(镇|乡|街道)$").all()
    aliases = divisions["aliases"].drop_nulls().str.split(ALIAS_SEPARATOR).explode()
    assert not aliases.is_in(divisions["township_name"].implode()).any()


def test_files_are_monthly_increments_named_by_the_contract(small: SyntheticInbox) -> None:
    pattern = re.compile(r"^(jisheng|weisheng|gongan|minzheng)/\1_\d{8}(_\d+)?\.(csv|xlsx|xls)$")
    assert all(pattern.match(name) for name in small.files["file"])
    fates = set(small.files["fate"])
    assert fates == {"ingest", "duplicate_bytes", "reject_missing_columns"}


@pytest.mark.parametrize(("name", "expected"), [
    pytest.param("大安镇", "大安", id="town"),
    pytest.param("江北街道", "江北", id="subdistrict"),
    pytest.param("瑶山瑶族乡", "瑶山", id="ethnic township"),
    pytest.param("福田乡", "福田", id="township"),
])
def test_township_stem(name: str, expected: str) -> None:
    assert township_stem(name) == expected


def test_file_name_fits_contract() -> None:
    assert file_name("weisheng", date(2013, 7, 21), 0, "csv") == "weisheng/weisheng_20130721.csv"
    assert file_name("gongan", date(2013, 7, 21), 2, "csv") == "gongan/gongan_20130721_2.csv"


@pytest.mark.parametrize("name", ["张伟", "王芳", "李秀英", "欧阳梓涵"])
def test_misspelling_changes_one_character(name: str) -> None:
    typo = misspell_name(name, 0.5, 0.5)
    assert typo is not None and typo != name and len(typo) == len(name)
    assert sum(a != b for a, b in zip(typo, name, strict=True)) == 1


def test_misspelling_needs_a_confusable_character() -> None:
    assert misspell_name("阿不都", 0.5, 0.5) is None


def test_traditional_characters_agree_with_opencc() -> None:
    converter = opencc.OpenCC("s2t")
    for simplified, traditional in TRADITIONAL_CHARACTERS.items():
        assert converter.convert(simplified) == traditional, simplified


def test_random_streams_are_reproducible_and_independent() -> None:
    rng = RandomStreams(seed=1)
    keys = pl.DataFrame({"k": list(range(1000))})
    a = keys.select(rng.uniform("a", "k")).to_series()
    assert a.equals(keys.select(RandomStreams(seed=1).uniform("a", "k")).to_series())
    assert not a.equals(keys.select(rng.uniform("b", "k")).to_series())
    assert 0.0 <= a.min() and a.max() < 1.0  # type: ignore[operator]
    assert abs(a.mean() - 0.5) < 0.05  # type: ignore[operator]
    assert rng.value("a", 7) == a[7]
