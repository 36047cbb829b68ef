"""Compare: each field's agreement level on hand-made pairs of canonical records."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import polars as pl
import pytest

from schemas.codes import IdProblem
from tests.transforms.canonical_rows import canonical, with_check_digit
from transforms.compare import COMPARISONS, compare_pairs
from transforms.link_records import link_records

LABELS = {c.name: c.level_labels for c in COMPARISONS}
MOTHER_ID = with_check_digit("45082119880512123")
CHILD_ID = with_check_digit("45082120130504101")
# What a spreadsheet number cell keeps of MOTHER_ID: 15 significant digits, then zeros.
DAMAGED_MOTHER_ID = MOTHER_ID[:15] + "000"
TRANSPOSED_MOTHER_ID = MOTHER_ID[:9] + MOTHER_ID[10] + MOTHER_ID[9] + MOTHER_ID[11:]
ONE_DIGIT_OFF_MOTHER_ID = MOTHER_ID[:14] + "9" + MOTHER_ID[15:]
WRONG_CHECK_MOTHER_ID = MOTHER_ID[:17] + ("0" if MOTHER_ID[17] != "0" else "1")
OTHER_MOTHER_ID = with_check_digit("45082119900303456")
BAD_CHECK = IdProblem.BAD_CHECK_DIGIT.value
STORED_AS_NUMBER = IdProblem.STORED_AS_NUMBER.value


def pair_levels(left: Mapping[str, object], right: Mapping[str, object]) -> dict[str, object]:
    """Every comparison's label for the pair (left, right); None where there is no evidence."""
    base = {"source": "weisheng", "record_id": "W1"}
    links = link_records(canonical([{**base, **left}, {**base, "source": "gongan", **right}]))
    levels = compare_pairs(pl.DataFrame({"rec_l": [0], "rec_r": [1]}), links).row(0, named=True)
    return {
        name: None if levels[f"{name}_level"] is None else labels[levels[f"{name}_level"]]
        for name, labels in LABELS.items()
    }


def test_id_numbers_in_the_fixture_are_what_they_claim() -> None:
    assert MOTHER_ID != TRANSPOSED_MOTHER_ID
    assert TRANSPOSED_MOTHER_ID[17] == MOTHER_ID[17] == ONE_DIGIT_OFF_MOTHER_ID[17]
    assert with_check_digit(TRANSPOSED_MOTHER_ID[:17]) != TRANSPOSED_MOTHER_ID
    assert with_check_digit(ONE_DIGIT_OFF_MOTHER_ID[:17]) != ONE_DIGIT_OFF_MOTHER_ID


@pytest.mark.parametrize(("left", "right", "expected"), [
    pytest.param("单丽", "单丽", "母亲姓名 exact", id="same characters"),
    pytest.param("单丽", "善丽", "母亲姓名 same pinyin", id="homophone surname"),
    pytest.param("李娜", "李那", "母亲姓名 same pinyin", id="homophone given name"),
    pytest.param("张晓明", "张晓朋", "母亲姓名 one character off", id="look-alike character"),
    pytest.param("单丽", "陈静", "母亲姓名 different", id="different"),
    pytest.param("王芳", "王芳芳", "母亲姓名 different", id="extra character is not one off"),
    pytest.param("单丽", None, None, id="one side blank"),
])
def test_mother_name_levels(left: str | None, right: str | None, expected: str | None) -> None:
    assert pair_levels({"mother_name": left}, {"mother_name": right})["mother_name"] == expected


@pytest.mark.parametrize(("left", "right", "expected"), [
    pytest.param({"child_name": "张伟"}, {"child_name": "张伟"}, "婴儿姓名 exact", id="exact"),
    pytest.param({"child_name": "张伟"}, {"child_name": "章伟"}, "婴儿姓名 same pinyin",
                 id="homophone"),
    pytest.param({"child_name": "王玉"}, {"child_name": "王王"}, "婴儿姓名 one character off",
                 id="look-alike"),
    pytest.param({"child_name": "张伟"}, {"child_name": None, "child_name_raw": "单丽之子",
                                         "child_name_is_placeholder": True}, None,
                 id="placeholder on one side"),
    pytest.param({"child_name": None, "child_name_raw": "男婴", "child_name_is_placeholder": True},
                 {"child_name": None, "child_name_raw": "男婴", "child_name_is_placeholder": True},
                 None, id="same placeholder on both sides is no evidence"),
    pytest.param({"child_name": None, "child_name_raw": "无"}, {"child_name": None}, None,
                 id="blank"),
])
def test_child_name_levels(left: dict[str, object], right: dict[str, object],
                           expected: str | None) -> None:
    assert pair_levels(left, right)["child_name"] == expected


def id_side(number: str | None, problem: str | None = None) -> dict[str, object]:
    return {"mother_id_number": number, "mother_id_number_problem": problem}


@pytest.mark.parametrize(("left", "right", "expected"), [
    pytest.param(id_side(MOTHER_ID), id_side(MOTHER_ID), "母亲身份证号 exact", id="exact"),
    pytest.param(id_side(MOTHER_ID), id_side(MOTHER_ID, IdProblem.UPGRADED_15.value),
                 "母亲身份证号 exact", id="upgraded 15-digit form is valid"),
    pytest.param(id_side(MOTHER_ID), id_side(TRANSPOSED_MOTHER_ID, BAD_CHECK),
                 "母亲身份证号 one digit off or transposed", id="two digits transposed"),
    pytest.param(id_side(MOTHER_ID), id_side(ONE_DIGIT_OFF_MOTHER_ID, BAD_CHECK),
                 "母亲身份证号 one digit off or transposed", id="one digit off"),
    pytest.param(id_side(MOTHER_ID), id_side(WRONG_CHECK_MOTHER_ID, BAD_CHECK),
                 "母亲身份证号 one digit off or transposed", id="wrong check digit vs valid"),
    pytest.param(id_side(WRONG_CHECK_MOTHER_ID, BAD_CHECK),
                 id_side(WRONG_CHECK_MOTHER_ID, BAD_CHECK), None,
                 id="same wrong check digit on both sides is never exact"),
    pytest.param(id_side(DAMAGED_MOTHER_ID, STORED_AS_NUMBER),
                 id_side(DAMAGED_MOTHER_ID, STORED_AS_NUMBER), None,
                 id="same spreadsheet-damaged number on both sides is no evidence"),
    pytest.param(id_side(MOTHER_ID), id_side(DAMAGED_MOTHER_ID, STORED_AS_NUMBER), None,
                 id="damaged vs valid is no evidence"),
    pytest.param(id_side(MOTHER_ID), id_side(OTHER_MOTHER_ID), "母亲身份证号 different",
                 id="another woman"),
    pytest.param(id_side(MOTHER_ID), id_side(None), None, id="one side blank"),
])
def test_mother_id_levels(left: dict[str, object], right: dict[str, object],
                          expected: str | None) -> None:
    assert pair_levels(left, right)["mother_id"] == expected


@pytest.mark.parametrize("problem", [STORED_AS_NUMBER, IdProblem.SCIENTIFIC.value])
def test_damaged_id_never_agrees_whatever_the_comparison(problem: str) -> None:
    damaged = CHILD_ID[:15] + "000"
    side = {"child_id_number": damaged, "child_id_number_problem": problem,
            **id_side(DAMAGED_MOTHER_ID, problem)}
    levels = pair_levels(side, side)
    assert (levels["child_id"], levels["mother_id"]) == (None, None)


@pytest.mark.parametrize(("right", "expected"), [
    pytest.param(CHILD_ID, "婴儿身份证号 exact", id="exact"),
    pytest.param(CHILD_ID[:12] + CHILD_ID[13] + CHILD_ID[12] + CHILD_ID[14:],
                 "婴儿身份证号 one digit off or transposed", id="transposed"),
    pytest.param(CHILD_ID[:12] + "99" + CHILD_ID[14:], "婴儿身份证号 different",
                 id="two digits off"),
])
def test_child_id_levels(right: str, expected: str) -> None:
    problem = None if with_check_digit(right[:17]) == right else BAD_CHECK
    levels = pair_levels({"child_id_number": CHILD_ID},
                         {"child_id_number": right, "child_id_number_problem": problem})
    assert levels["child_id"] == expected


@pytest.mark.parametrize(("left", "right", "expected"), [
    pytest.param(date(2013, 5, 4), date(2013, 5, 4), "出生日期 exact", id="exact"),
    pytest.param(date(2013, 5, 4), date(2013, 5, 5), "出生日期 ±1 day", id="one day later"),
    pytest.param(date(2013, 6, 1), date(2013, 5, 31), "出生日期 ±1 day",
                 id="one day earlier across a month end"),
    pytest.param(date(2013, 5, 4), date(2013, 4, 5), "出生日期 month/day swapped",
                 id="swapped within 30 days"),
    pytest.param(date(2013, 3, 12), date(2013, 12, 3), "出生日期 month/day swapped",
                 id="swapped months apart"),
    pytest.param(date(2013, 5, 4), date(2013, 5, 20), "出生日期 within 30 days", id="16 days"),
    pytest.param(date(2013, 5, 4), date(2013, 8, 4), "出生日期 different", id="three months"),
    pytest.param(date(2013, 5, 4), date(2014, 4, 5), "出生日期 different",
                 id="swapped in another year"),
    pytest.param(date(2013, 5, 4), None, None, id="one side unknown"),
])
def test_birth_date_levels(left: date, right: date | None, expected: str | None) -> None:
    assert pair_levels({"birth_date": left}, {"birth_date": right})["birth_date"] == expected


@pytest.mark.parametrize(("left", "right", "expected"), [
    pytest.param(1, 1, "性别 agree", id="both male"),
    pytest.param(2, 2, "性别 agree", id="both female"),
    pytest.param(1, 2, "性别 disagree", id="disagree"),
    pytest.param(1, None, None, id="one side unknown"),
])
def test_sex_levels(left: int, right: int | None, expected: str | None) -> None:
    assert pair_levels({"sex": left}, {"sex": right})["sex"] == expected


@pytest.mark.parametrize(("left", "right", "expected"), [
    pytest.param("单强", "单强", "父亲姓名 exact", id="exact"),
    pytest.param("单强", "善强", "父亲姓名 same pinyin", id="homophone"),
    pytest.param("张晓明", "张晓朋", "父亲姓名 different", id="no look-alike level"),
])
def test_father_name_levels(left: str, right: str, expected: str) -> None:
    assert pair_levels({"father_name": left}, {"father_name": right})["father_name"] == expected


def test_levels_of_an_empty_pair_frame_are_empty() -> None:
    links = link_records(canonical([{"source": "weisheng", "record_id": "W1"}]))
    empty = pl.DataFrame(schema={"rec_l": pl.Int64, "rec_r": pl.Int64})
    levels = compare_pairs(empty, links)
    assert levels.height == 0
    assert levels.columns == ["rec_l", "rec_r", *[f"{c.name}_level" for c in COMPARISONS]]


def test_every_pair_gets_its_own_levels() -> None:
    """Edit distances are computed on a subset of pairs and scattered back: rows must not mix."""
    links = link_records(canonical([
        {"source": "weisheng", "record_id": "W1", "mother_name": "张晓明"},
        {"source": "gongan", "record_id": "G1", "mother_name": "张晓朋"},
        {"source": "jisheng", "record_id": "J1", "mother_name": "张晓明"},
        {"source": "gongan", "record_id": "G2", "mother_name": "陈静怡"},
    ]))
    pairs = pl.DataFrame({"rec_l": [0, 0, 0, 1], "rec_r": [1, 2, 3, 3]})
    levels = compare_pairs(pairs, links)["mother_name_level"].to_list()
    assert levels == [1, 3, 0, 0]


def test_records_need_not_be_numbered_in_row_order() -> None:
    """A nightly run compares a subset of records: levels follow rec, not row position."""
    links = link_records(canonical([
        {"source": "weisheng", "record_id": "W1", "mother_name": "张晓明"},
        {"source": "gongan", "record_id": "G1", "mother_name": "张晓朋"},
        {"source": "jisheng", "record_id": "J1", "mother_name": "陈静怡"},
    ]))
    renumbered = links.with_columns(pl.Series("rec", [20, 5, 11])).reverse()
    pairs = pl.DataFrame({"rec_l": [20, 20, 5], "rec_r": [5, 11, 11]})
    levels = compare_pairs(pairs, renumbered)
    expected = compare_pairs(pl.DataFrame({"rec_l": [0, 0, 1], "rec_r": [1, 2, 2]}), links)
    assert levels.drop("rec_l", "rec_r").equals(expected.drop("rec_l", "rec_r"))
    assert levels["mother_name_level"].to_list() == [1, 0, 0]


def test_a_pair_naming_no_record_has_no_evidence() -> None:
    links = link_records(canonical([{"source": "weisheng", "record_id": "W1",
                                     "mother_name": "单丽"}]))
    levels = compare_pairs(pl.DataFrame({"rec_l": [0], "rec_r": [99]}), links)
    assert levels.drop("rec_l", "rec_r").row(0) == (None,) * len(COMPARISONS)
