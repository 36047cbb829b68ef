"""Townships: free text mapped to division codes, and how each was found."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codes import TownshipMatch
from transforms.normalise_townships import division_keys, map_townships, township_core

# map_townships costs ~20 ms on a tiny frame (dozens of small joins): fewer, larger examples.
PROPERTY_SETTINGS = settings(max_examples=50, deadline=None)
DIVISIONS = pl.DataFrame(
    {
        "township_code": ["450821001", "450821101", "450821102", "450821103", "450821201",
                          "450821202", "450821104", "450821105", "450821106"],
        "township_name": ["平南街道", "大安镇", "新市镇", "思旺镇", "马练瑶族乡", "城区街道",
                          "官成镇", "东华镇", "西华镇"],
        "aliases": [None, "大安|大安圩", "新市", None, "马练乡", "城区", "官城镇", None, "东华"],
    }
)


def mapped(text: str | None, divisions: pl.DataFrame = DIVISIONS) -> tuple[str | None, str | None]:
    frame = pl.DataFrame({"place": [text]}, schema={"place": pl.String})
    row = map_townships(frame, "place", divisions).row(0, named=True)
    return row["township_code"], row["township_match"]


@pytest.mark.parametrize(
    ("text", "code", "how"),
    [
        pytest.param("大安镇", "450821101", TownshipMatch.EXACT, id="official name"),
        pytest.param(" 大安镇 ", "450821101", TownshipMatch.EXACT, id="padded"),
        pytest.param("大 安 镇", "450821101", TownshipMatch.EXACT, id="spaces inside"),
        pytest.param("大安圩", "450821101", TownshipMatch.ALIAS, id="alias"),
        pytest.param("官城镇", "450821104", TownshipMatch.ALIAS, id="alias with suffix"),
        pytest.param("思旺", "450821103", TownshipMatch.STRIPPED, id="suffix missing"),
        pytest.param("平南县大安镇", "450821101", TownshipMatch.STRIPPED, id="county prefix"),
        pytest.param("广西壮族自治区贵港市平南县大安镇", "450821101", TownshipMatch.STRIPPED,
                     id="province, city and county prefix"),
        pytest.param("平南县思旺", "450821103", TownshipMatch.STRIPPED,
                     id="prefix and no suffix"),
        pytest.param("马练乡", "450821201", TownshipMatch.ALIAS, id="ethnic township alias"),
        pytest.param("马练", "450821201", TownshipMatch.STRIPPED, id="ethnic township core"),
        pytest.param("平南县新市镇", "450821102", TownshipMatch.STRIPPED,
                     id="name holding 市 after a prefix"),
        pytest.param("新市镇", "450821102", TownshipMatch.EXACT, id="name holding 市"),
        pytest.param("城区街道", "450821202", TownshipMatch.EXACT, id="name holding 区"),
        pytest.param("平南县大安镇卫生院", "450821101", TownshipMatch.CONTAINED,
                     id="hospital in the township"),
        pytest.param("广西平南县大安镇新华村", "450821101", TownshipMatch.CONTAINED,
                     id="village address"),
        pytest.param("平南县大安卫生院", "450821101", TownshipMatch.CONTAINED,
                     id="core at the start after the county"),
        pytest.param("贵港市平南县思旺镇思旺村12号", "450821103", TownshipMatch.CONTAINED,
                     id="house number"),
        pytest.param("大按镇", "450821101", TownshipMatch.FUZZY, id="homophone typo"),
        pytest.param("思汪镇", "450821103", TownshipMatch.FUZZY, id="homophone typo 2"),
        pytest.param("北京市朝阳区", None, TownshipMatch.UNMAPPED, id="elsewhere"),
        pytest.param("平南县人民医院", None, TownshipMatch.UNMAPPED,
                     id="county name is not a township"),
        pytest.param("华镇", None, TownshipMatch.UNMAPPED, id="too short to guess"),
    ],
)
def test_mapping(text: str, code: str | None, how: TownshipMatch) -> None:
    assert mapped(text) == (code, how)


@pytest.mark.parametrize("text", [None, "", "无", "不详", "-"])
def test_blank_text_is_not_mapped_and_has_no_match_kind(text: str | None) -> None:
    assert mapped(text) == (None, None)


def test_longest_contained_name_wins() -> None:
    divisions = pl.DataFrame({"township_code": ["1", "2"], "township_name": ["安镇", "大安镇"],
                              "aliases": [None, None]})
    assert mapped("平南县大安镇卫生院", divisions) == ("2", TownshipMatch.CONTAINED)


def test_shared_name_decides_nothing() -> None:
    divisions = pl.DataFrame({"township_code": ["450821101", "450881101"],
                              "township_name": ["大洋镇", "大洋镇"], "aliases": [None, None]})
    assert mapped("大洋镇", divisions) == (None, TownshipMatch.UNMAPPED)


def test_alias_that_is_another_official_name_is_ignored() -> None:
    divisions = pl.DataFrame({"township_code": ["1", "2"], "township_name": ["东镇", "西镇"],
                              "aliases": ["西镇", None]})
    assert mapped("西镇", divisions) == ("2", TownshipMatch.EXACT)


def test_empty_divisions_map_nothing() -> None:
    empty = DIVISIONS.clear()
    assert mapped("大安镇", empty) == (None, TownshipMatch.UNMAPPED)


def test_raw_kept_other_columns_and_order_too() -> None:
    frame = pl.DataFrame({"row": [1, 2, 3], "place": ["大安", None, "大安"]})
    result = map_townships(frame, "place", DIVISIONS)
    assert result.columns == ["row", "township_raw", "township_code", "township_match"]
    assert result["row"].to_list() == [1, 2, 3]
    assert result["township_raw"].to_list() == ["大安", None, "大安"]
    assert result["township_code"].to_list() == ["450821101", None, "450821101"]


def test_core_strips_one_suffix() -> None:
    names = pl.DataFrame({"n": ["马练瑶族乡", "城区街道办事处", "大安镇", "镇"]})
    assert names.select(township_core(pl.col("n"))).to_series().to_list() == [
        "马练", "城区", "大安", "镇"]


def test_division_keys_drop_ambiguous_cores() -> None:
    divisions = pl.DataFrame({"township_code": ["1", "2"], "township_name": ["大安镇", "大安乡"],
                              "aliases": [None, None]})
    cores = division_keys(divisions)["core"]
    assert "大安" not in cores["key"].to_list()
    assert set(cores["key"]) == {"大安镇", "大安乡"}


# --- properties -------------------------------------------------------------------------

official = st.sampled_from(DIVISIONS.rows())
prefixes = st.sampled_from(
    ["", "平南县", "贵港市平南县", "广西壮族自治区贵港市平南县", "广西平南县"]
)


@PROPERTY_SETTINGS
@given(rows=st.lists(st.tuples(official, prefixes), min_size=1, max_size=30))
def test_official_name_with_any_prefix_maps_to_its_code(
    rows: list[tuple[tuple[str, str, str | None], str]],
) -> None:
    texts = [prefix + name for (_, name, _), prefix in rows]
    frame = pl.DataFrame({"place": texts})
    result = map_townships(frame, "place", DIVISIONS)
    assert result["township_code"].to_list() == [code for (code, _, _), _ in rows]


@PROPERTY_SETTINGS
@given(texts=st.lists(st.one_of(st.none(), st.text()), max_size=60))
def test_never_crashes_and_is_idempotent(texts: list[str | None]) -> None:
    frame = pl.DataFrame({"place": texts}, schema={"place": pl.String})
    result = map_townships(frame, "place", DIVISIONS)
    assert result.height == len(texts)
    assert set(result["township_match"].drop_nulls()) <= {m.value for m in TownshipMatch}
    assert (result["township_code"].is_null() | result["township_match"].is_not_null()).all()
    names = dict(zip(DIVISIONS["township_code"], DIVISIONS["township_name"], strict=True))
    official_names = [names.get(code) for code in result["township_code"].to_list()]
    again = map_townships(pl.DataFrame({"place": official_names},
                                       schema={"place": pl.String}), "place", DIVISIONS)
    assert again["township_code"].to_list() == result["township_code"].to_list()
