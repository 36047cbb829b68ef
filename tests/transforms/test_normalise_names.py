"""Names: one spelling per name, a pinyin key for homophones, newborn placeholders spotted."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.normalise_names import (
    MIDDLE_DOT,
    NAME_BLANK_VALUES,
    cleaned_name,
    is_generic_placeholder,
    name_pinyin,
    normalise_names,
)

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)


def cleaned(value: str | None) -> str | None:
    frame = pl.DataFrame({"name": [value]}, schema={"name": pl.String})
    return frame.select(cleaned_name(pl.col("name"))).item()


def pinyin(value: str | None) -> str | None:
    return name_pinyin(pl.Series([value], dtype=pl.String)).item()


def child_names(children: list[str | None], mothers: list[str | None]) -> pl.DataFrame:
    frame = pl.DataFrame({"child": children, "mother": mothers},
                         schema={"child": pl.String, "mother": pl.String})
    return normalise_names(frame, "child", mother_name_column="mother", detect_placeholders=True)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("张丽", "张丽", id="already clean"),
        pytest.param("張麗", "张丽", id="traditional"),
        pytest.param("陳偉", "陈伟", id="traditional 2"),
        pytest.param("沈思", "沈思", id="沈思 not turned into 沉思"),
        pytest.param("乾隆", "乾隆", id="乾 kept in names"),
        pytest.param("於丹", "於丹", id="surname 於 kept"),
        pytest.param(" 张 丽 ", "张丽", id="stray spaces"),
        pytest.param("张\u3000丽", "张丽", id="ideographic space"),
        pytest.param("张\u200b丽", "张丽", id="zero-width space"),
        pytest.param("ＺＨＡＮＧ", "ZHANG", id="full-width letters"),
        pytest.param("阿依古丽·买买提", "阿依古丽·买买提", id="middle dot"),
        pytest.param("阿依古丽•买买提", "阿依古丽·买买提", id="bullet"),
        pytest.param("阿依古丽．买买提", "阿依古丽·买买提", id="full-width full stop"),
        pytest.param("阿依古丽.买买提", "阿依古丽·买买提", id="ASCII full stop"),
        pytest.param("阿依古丽・买买提", "阿依古丽·买买提", id="katakana middle dot"),
        pytest.param("阿依古丽･买买提", "阿依古丽·买买提", id="half-width katakana dot"),
        pytest.param("阿依古丽∙买买提", "阿依古丽·买买提", id="bullet operator"),
        pytest.param("阿依古丽‧买买提", "阿依古丽·买买提", id="hyphenation point"),
        pytest.param("阿依古丽⋅买买提", "阿依古丽·买买提", id="dot operator"),
        pytest.param("阿依古丽●买买提", "阿依古丽·买买提", id="black circle"),
        pytest.param("阿依古丽 · 买买提", "阿依古丽·买买提", id="dot between spaces"),
        pytest.param("阿依古丽··买买提·", "阿依古丽·买买提", id="doubled and trailing dots"),
    ],
)
def test_cleaned_name(raw: str, expected: str) -> None:
    assert cleaned(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [None, "", " ", "无", "不详", "不祥", "未知", "-", "—", "0", "空", "无名", "null", "NULL",
     "/", "?", "123"],
)
def test_blank_like_names_are_null(raw: str | None) -> None:
    assert cleaned(raw) is None


@pytest.mark.parametrize(
    ("name", "key"),
    [
        pytest.param("张丽", "zhangli", id="plain"),
        pytest.param("单丽", "shanli", id="单 as a surname is shan"),
        pytest.param("善丽", "shanli", id="homophone typo of 单丽"),
        pytest.param("曾伟", "zengwei", id="曾 zeng"),
        pytest.param("解明", "xieming", id="解 xie"),
        pytest.param("区华", "ouhua", id="区 ou"),
        pytest.param("仇英", "qiuying", id="仇 qiu"),
        pytest.param("查理", "zhali", id="查 zha"),
        pytest.param("朴明", "piaoming", id="朴 piao"),
        pytest.param("盖伟", "gewei", id="盖 ge"),
        pytest.param("乐山", "yueshan", id="乐 yue"),
        pytest.param("缪明", "miaoming", id="缪 miao"),
        pytest.param("覃红", "qinhong", id="覃 qin"),
        pytest.param("尉迟恭", "yuchigong", id="compound 尉迟"),
        pytest.param("万俟卨", "moqixie", id="compound 万俟"),
        pytest.param("长孙无忌", "zhangsunwuji", id="compound 长孙"),
        pytest.param("欧阳修", "ouyangxiu", id="compound 欧阳"),
        pytest.param("王单", "wangdan", id="单 as a given name keeps its common reading"),
        pytest.param("张长江", "zhangchangjiang", id="given name read as a phrase"),
        pytest.param("阿依古丽·买买提", "ayigulimaimaiti", id="dot dropped"),
        pytest.param("吕红", "lvhong", id="ü written v"),
        pytest.param("John Smith", "johnsmith", id="Latin letters lower-cased"),
        pytest.param(None, None, id="null"),
    ],
)
def test_pinyin_key(name: str | None, key: str | None) -> None:
    assert pinyin(name) == key


def test_pinyin_computed_per_distinct_name_matches_per_row() -> None:
    names = pl.Series(["单丽", "单丽", None, "善丽", "王芳"])
    assert name_pinyin(names).to_list() == ["shanli", "shanli", None, "shanli", "wangfang"]


@pytest.mark.parametrize(
    ("child", "mother", "is_placeholder"),
    [
        pytest.param("张丽之子", "张丽", True, id="mother + 之子"),
        pytest.param("张丽之女", None, True, id="之女 without a mother"),
        pytest.param("王芳之长子", "王芳", True, id="之长子"),
        pytest.param("王芳之子(大)", "王芳", True, id="twin remark in brackets"),
        pytest.param("王芳之子二", "王芳", True, id="twin number"),
        pytest.param("男婴", None, True, id="男婴"),
        pytest.param("女婴", None, True, id="女婴"),
        pytest.param("男婴1", None, True, id="男婴1"),
        pytest.param("婴儿", None, True, id="婴儿"),
        pytest.param("新生儿", None, True, id="新生儿"),
        pytest.param("男孩", None, True, id="男孩"),
        pytest.param("女孩", None, True, id="女孩"),
        pytest.param("无名氏", None, True, id="无名氏"),
        pytest.param("未取名", None, True, id="未取名"),
        pytest.param("张男婴", "李华", True, id="surname + 男婴"),
        pytest.param("张丽男婴", "张丽", True, id="mother + 男婴"),
        pytest.param("张丽婴", "张丽", True, id="mother + 婴"),
        pytest.param("張麗婴", "张丽", True, id="traditional mother + 婴"),
        pytest.param("张丽女", "张丽", True, id="mother + 女"),
        pytest.param("张婴", "张丽", True, id="mother's surname + 婴"),
        pytest.param("张丽", "张丽", True, id="the mother's own name"),
        pytest.param("", "张丽", True, id="blank: not named yet"),
        pytest.param(None, "张丽", True, id="null: not named yet"),
        pytest.param("不详", "张丽", True, id="不详: not named yet"),
        pytest.param("张伟", "张丽", False, id="a real name"),
        pytest.param("张子", "张丽", False, id="surname + 子 may be a real name"),
        pytest.param("王子", None, False, id="王子 is a name"),
        pytest.param("张丽丽", "张丽", False, id="mother's name plus a character"),
        pytest.param("李孩子", None, False, id="孩子 not a placeholder word on its own"),
        pytest.param("王之宝", None, False, id="之宝 is a name"),
        pytest.param("王之涣", None, False, id="之 inside a real name"),
    ],
)
def test_placeholders(child: str | None, mother: str | None, is_placeholder: bool) -> None:
    row = child_names([child], [mother]).row(0, named=True)
    assert row["child_is_placeholder"] is is_placeholder
    if is_placeholder:
        assert (row["child"], row["child_pinyin"]) == (None, None)
    else:
        assert row["child"] is not None


def test_output_columns() -> None:
    frame = pl.DataFrame({"row": [1, 2], "name": ["張麗", None]})
    plain = normalise_names(frame, "name")
    assert plain.columns == ["row", "name_raw", "name", "name_pinyin"]
    assert plain.rows() == [(1, "張麗", "张丽", "zhangli"), (2, None, None, None)]
    flagged = normalise_names(frame, "name", detect_placeholders=True)
    assert flagged.schema["name_is_placeholder"] == pl.Boolean
    assert flagged["name_is_placeholder"].to_list() == [False, True]


def test_mother_column_already_normalised_is_used_as_is() -> None:
    frame = pl.DataFrame({"child": ["张丽婴", "王伟"], "mother": ["張麗", "李娜"]})
    mothers = normalise_names(frame, "mother")
    children = normalise_names(mothers, "child", mother_name_column="mother",
                               detect_placeholders=True)
    assert children["child_is_placeholder"].to_list() == [True, False]
    assert children["mother"].to_list() == ["张丽", "李娜"]


def test_many_rows_keep_their_order() -> None:
    names = ["张丽", "王芳", None, "李娜"] * 50
    result = normalise_names(pl.DataFrame({"name": names}), "name")
    assert result["name_raw"].to_list() == names
    assert result["name"].to_list() == names


# --- properties -------------------------------------------------------------------------

hanzi = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
names = st.text(hanzi, min_size=1, max_size=4)
dots = st.sampled_from(list(".．・･•∙‧⋅●·"))


@PROPERTY_SETTINGS
@given(texts=st.lists(st.one_of(st.none(), st.text(), names), max_size=30))
def test_never_crashes_and_is_idempotent(texts: list[str | None]) -> None:
    frame = pl.DataFrame({"name": texts}, schema={"name": pl.String})
    first = normalise_names(frame, "name", detect_placeholders=True)
    assert first.height == len(texts)
    second = normalise_names(first.select(pl.col("name").alias("again")), "again")
    assert second["again"].to_list() == first["name"].to_list()
    assert second["again_pinyin"].to_list() == first["name_pinyin"].to_list()
    assert (first["name"].is_null() == first["name_pinyin"].is_null()).all()


@PROPERTY_SETTINGS
@given(parts=st.lists(st.tuples(names, names, dots, st.sampled_from(["", " ", "\u3000"])),
                      min_size=1, max_size=20))
def test_any_middle_dot_variant_gives_one_spelling(
    parts: list[tuple[str, str, str, str]],
) -> None:
    mangled = [f"{first}{spaces}{dot}{spaces}{last}" for first, last, dot, spaces in parts]
    plain = [f"{first}{MIDDLE_DOT}{last}" for first, last, _, _ in parts]
    frame = pl.DataFrame({"mangled": mangled, "plain": plain})
    result = frame.select(cleaned_name(pl.col("mangled")), cleaned_name(pl.col("plain")))
    assert result["mangled"].to_list() == result["plain"].to_list()


@PROPERTY_SETTINGS
@given(pairs=st.lists(
    st.tuples(names.filter(lambda n: len(n) >= 2 and n not in NAME_BLANK_VALUES),
              st.sampled_from(["之子", "之女", "男婴", "女婴", "婴"])),
    min_size=1, max_size=20))
def test_mother_name_plus_child_word_is_a_placeholder(pairs: list[tuple[str, str]]) -> None:
    result = child_names([mother + suffix for mother, suffix in pairs], [m for m, _ in pairs])
    assert result["child_is_placeholder"].all()


@PROPERTY_SETTINGS
@given(texts=st.lists(st.text(), max_size=20))
def test_generic_placeholder_never_crashes(texts: list[str]) -> None:
    frame = pl.DataFrame({"name": texts}, schema={"name": pl.String})
    assert frame.select(is_generic_placeholder(pl.col("name"))).to_series().null_count() == 0
