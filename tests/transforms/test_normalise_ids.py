"""Citizen ID numbers: cleaning, GB 11643-1999 check digit, damage flags, 15 -> 18 upgrade."""

from __future__ import annotations

import re
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.codes import IdProblem
from transforms.normalise_ids import (
    ID_CHECK_CHARACTERS,
    ID_DIGIT_WEIGHTS,
    id_number_as_integer,
    id_number_birth_date,
    id_number_check_digit,
    id_number_sex,
    is_id_number_check_digit_valid,
    is_valid_id_number,
    mask_id_number,
    normalise_id_numbers,
)

VALID = "11010519491231002X"  # the standard's own example
VALID_MALE = "450821198804121234"  # digit 17 odd, checked below


def check_character(body17: str) -> str:
    """The check character, computed the slow obvious way the tests trust."""
    total = sum(int(d) * w for d, w in zip(body17, ID_DIGIT_WEIGHTS, strict=True))
    return ID_CHECK_CHARACTERS[total % 11]


def with_check(body17: str) -> str:
    return body17 + check_character(body17)


def normalised(values: list[str | None], cells: list[str | None] | None = None) -> pl.DataFrame:
    frame = pl.DataFrame({"id": values}, schema={"id": pl.String})
    if cells is None:
        return normalise_id_numbers(frame, "id", None)
    frame = frame.with_columns(pl.Series("id_cell", cells, dtype=pl.String))
    return normalise_id_numbers(frame, "id", "id_cell")


def one(value: str | None, cell: str | None = None) -> dict[str, object]:
    return normalised([value], None if cell is None else [cell]).row(0, named=True)


def test_test_helper_agrees_with_the_standard_example() -> None:
    assert check_character(VALID[:17]) == "X"
    assert check_character(VALID_MALE[:17]) == VALID_MALE[-1]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(VALID, VALID, id="already clean"),
        pytest.param(VALID.lower(), VALID, id="lower-case x"),
        pytest.param("１１０１０５１９４９１２３１００２Ｘ", VALID, id="full-width digits and X"),
        pytest.param("1101 0519 4912 3100 2X", VALID, id="spaces inside"),
        pytest.param("110105-19491231-002X", VALID, id="hyphens"),
        pytest.param("'11010519491231002X", VALID, id="leading apostrophe"),
        pytest.param("\u300011010519491231002X\t", VALID, id="ideographic space and tab"),
        pytest.param('"11010519491231002X"', VALID, id="quoted"),
    ],
)
def test_cleaning_yields_the_valid_number(raw: str, expected: str) -> None:
    row = one(raw)
    assert (row["id"], row["id_problem"], row["id_raw"]) == (expected, None, raw)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(None, id="null"),
        pytest.param("", id="empty"),
        pytest.param("无", id="无"),
        pytest.param("不详", id="不详"),
        pytest.param("-", id="dash"),
        pytest.param("0", id="zero"),
        pytest.param("空", id="空"),
        pytest.param("  ", id="spaces only"),
    ],
)
def test_blank_like_values_are_null_without_problem(raw: str | None) -> None:
    row = one(raw)
    assert (row["id"], row["id_problem"], row["id_birth_date"], row["id_sex"]) == (
        None, None, None, None)


@pytest.mark.parametrize(
    ("raw", "cell", "value", "problem"),
    [
        pytest.param("11010519491231002", None, None, IdProblem.MALFORMED, id="17 digits"),
        pytest.param("1101051949123100211", None, None, IdProblem.MALFORMED, id="19 digits"),
        pytest.param("11010519491231002Y", None, None, IdProblem.MALFORMED, id="letter Y"),
        pytest.param("身份证11010519491231002X", None, None, IdProblem.MALFORMED, id="words"),
        pytest.param("110105194912310021", None, "110105194912310021",
                     IdProblem.BAD_CHECK_DIGIT, id="wrong check digit"),
        pytest.param(with_check("11010519490231002"), None, with_check("11010519490231002"),
                     IdProblem.BAD_BIRTH_DATE, id="February 31st"),
        pytest.param(with_check("11010518001231002"), None, with_check("11010518001231002"),
                     IdProblem.BAD_BIRTH_DATE, id="born 1800"),
        pytest.param("4.50123E+17", None, None, IdProblem.SCIENTIFIC, id="scientific E+17"),
        pytest.param("4.50123e17", None, None, IdProblem.SCIENTIFIC, id="scientific e17"),
        pytest.param("4.50123E+17", "number", None, IdProblem.SCIENTIFIC,
                     id="scientific beats number cell"),
        pytest.param("110105194912310000", "number", "110105194912310000",
                     IdProblem.STORED_AS_NUMBER, id="number cell keeps the damaged value"),
        pytest.param("110105194912310000.0", "number", "110105194912310000",
                     IdProblem.STORED_AS_NUMBER, id="number cell with .0"),
        pytest.param(VALID, "number", VALID, IdProblem.STORED_AS_NUMBER,
                     id="number cell flagged even when the digits check"),
        pytest.param("1101051949", "number", None, IdProblem.MALFORMED,
                     id="short number cell is malformed"),
        pytest.param("110105491231002", None, VALID, IdProblem.UPGRADED_15, id="15-digit form"),
        pytest.param("110105491231002", "number", VALID, IdProblem.UPGRADED_15,
                     id="15 digits survive a number cell"),
        pytest.param("110105493231002", None, with_check("11010519493231002"),
                     IdProblem.BAD_BIRTH_DATE, id="15-digit with a bad date"),
        pytest.param(VALID, "text", VALID, None, id="text cell"),
        pytest.param(VALID, "date", VALID, None, id="odd cell type read as text"),
    ],
)
def test_problems(raw: str, cell: str | None, value: str | None, problem: IdProblem) -> None:
    row = one(raw, cell)
    assert (row["id"], row["id_problem"]) == (value, problem)


def test_birth_date_and_sex_decoded() -> None:
    frame = normalised([VALID, VALID_MALE, "110105491231002", "garbage", None])
    assert frame["id_birth_date"].to_list() == [
        date(1949, 12, 31), date(1988, 4, 12), date(1949, 12, 31), None, None]
    assert frame["id_sex"].to_list() == [2, 1, 2, None, None]
    assert frame.schema["id_birth_date"] == pl.Date
    assert frame.schema["id_sex"] == pl.Int8


def test_number_cell_keeps_birth_date_but_not_sex() -> None:
    row = one("110105194912310000", "number")
    assert (row["id_birth_date"], row["id_sex"]) == (date(1949, 12, 31), None)


def test_missing_cell_type_column_reads_as_text() -> None:
    frame = pl.DataFrame({"id": [VALID]})
    assert normalise_id_numbers(frame, "id", "id_cell")["id_problem"].to_list() == [None]


def test_other_columns_and_row_order_kept() -> None:
    frame = pl.DataFrame({"row": [1, 2, 3], "id": ["无", VALID, "４.５E17"]})
    result = normalise_id_numbers(frame, "id", None)
    assert result["row"].to_list() == [1, 2, 3]
    assert result.columns[:2] == ["row", "id_raw"]
    assert result["id_problem"].to_list() == [None, None, IdProblem.SCIENTIFIC]


def test_expression_helpers() -> None:
    frame = pl.DataFrame({"id": [VALID, VALID.lower(), "110105194912310021", "123", None]})
    result = frame.select(
        id_number_check_digit(pl.col("id")).alias("check"),
        is_id_number_check_digit_valid(pl.col("id")).alias("checks"),
        is_valid_id_number(pl.col("id")).alias("valid"),
        id_number_birth_date(pl.col("id")).alias("born"),
        id_number_sex(pl.col("id")).alias("sex"),
    )
    assert result["check"].to_list() == ["X", "X", "X", None, None]
    assert result["checks"].to_list() == [True, True, False, False, False]
    assert result["valid"].to_list() == [True, True, False, False, False]
    assert result["born"].to_list()[:3] == [date(1949, 12, 31)] * 3


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        pytest.param(VALID, "1101************2X", id="18 characters"),
        pytest.param("110105491231002", "1101*********02", id="15 characters"),
        pytest.param("12345", "*****", id="short values fully starred"),
        pytest.param(None, None, id="null stays null"),
    ],
)
def test_mask_id_number(value: str | None, masked: str | None) -> None:
    frame = pl.DataFrame({"id": [value]}, schema={"id": pl.String})
    assert frame.select(mask_id_number(pl.col("id"))).item() == masked


# --- properties -------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)
birth_dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31))


@st.composite
def valid_ids(draw: st.DrawFn) -> str:
    region = draw(st.integers(110000, 659999))
    born = draw(birth_dates)
    sequence = draw(st.integers(0, 999))
    return with_check(f"{region}{born:%Y%m%d}{sequence:03d}")


FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


@st.composite
def mangled(draw: st.DrawFn, value: str) -> str:
    """A valid number as a clerk might type it: widths, spaces, case, separators, quote."""
    chars = []
    for ch in value:
        if draw(st.booleans()):
            ch = ch.translate(FULL_WIDTH)
        if ch in "XＸ" and draw(st.booleans()):
            ch = ch.lower()
        chars.append(ch)
        chars.append(draw(st.sampled_from(["", "", "", " ", "-", "\u3000"])))
    prefix = draw(st.sampled_from(["", "'", " ", "\t"]))
    return prefix + "".join(chars)


@PROPERTY_SETTINGS
@given(data=st.data(), ids=st.lists(valid_ids(), min_size=1, max_size=8))
def test_any_valid_id_survives_mangling(data: st.DataObject, ids: list[str]) -> None:
    mangled_ids = [data.draw(mangled(v)) for v in ids]
    result = normalised(mangled_ids)
    assert result["id"].to_list() == ids
    assert result["id_problem"].to_list() == [None] * len(ids)


@PROPERTY_SETTINGS
@given(ids=st.lists(valid_ids(), min_size=1, max_size=20))
def test_old_form_upgrades_to_a_valid_number(ids: list[str]) -> None:
    old = [v[:6] + v[8:17] for v in ids if v[6:8] == "19"]
    result = normalised(old)
    assert result.select(is_valid_id_number(pl.col("id"))).to_series().all()
    assert set(result["id_problem"].to_list()) <= {IdProblem.UPGRADED_15.value}


@PROPERTY_SETTINGS
@given(texts=st.lists(st.one_of(st.none(), st.text(), st.text("0123456789xX ")), max_size=30),
       cells=st.sampled_from([None, "text", "number", "date"]))
def test_never_crashes_and_is_idempotent(texts: list[str | None], cells: str | None) -> None:
    first = normalised(texts, [cells] * len(texts))
    assert first.height == len(texts)
    assert set(first["id_problem"].drop_nulls()) <= {p.value for p in IdProblem}
    again = normalised(first["id"].to_list(), [cells] * len(texts))
    assert again["id"].to_list() == first["id"].to_list()
    clean = first["id_problem"].is_null() & first["id"].is_not_null()
    assert first.filter(clean).select(is_valid_id_number(pl.col("id"))).to_series().all()


@PROPERTY_SETTINGS
@given(texts=st.lists(st.one_of(st.from_regex(r"\A[0-9]{17}[0-9X]\Z"), st.text("0123456789xX ")),
                      max_size=30, unique=True))
def test_id_number_integers_are_one_to_one(texts: list[str]) -> None:
    """Each 18-character number gets its own integer (the pseudonym cache's key); other
    text gets none."""
    integers = pl.DataFrame({"id": texts}, schema={"id": pl.String}).select(
        id_number_as_integer(pl.col("id"))).to_series()
    is_number = [re.fullmatch(r"[0-9]{17}[0-9X]", t) is not None for t in texts]
    assert integers.is_not_null().to_list() == is_number
    assert integers.drop_nulls().n_unique() == sum(is_number)


@PROPERTY_SETTINGS
@given(texts=st.lists(st.one_of(valid_ids(), st.from_regex(r"\A[0-9]{17}[0-9X]\Z")), max_size=30))
def test_derived_fields_agree_with_the_text_readings(texts: list[str]) -> None:
    """normalise_id_numbers reads the digits once as an integer; its check, birth date and sex
    must be those the text functions give (any 18-character number, real or not)."""
    result = normalised(texts)
    value = pl.col("id")
    expected = result.select(
        pl.when(is_id_number_check_digit_valid(value) | id_number_birth_date(value).is_null())
        .then(None).otherwise(pl.lit(IdProblem.BAD_CHECK_DIGIT.value)).alias("check_problem"),
        id_number_birth_date(value).alias("birth_date"),
        id_number_sex(value).alias("sex"),
    )
    problem = result["id_problem"]
    assert (problem == IdProblem.BAD_CHECK_DIGIT.value).fill_null(False).to_list() == (
        expected["check_problem"].is_not_null().to_list())
    assert result["id_birth_date"].to_list() == expected["birth_date"].to_list()
    assert result["id_sex"].to_list() == expected["sex"].to_list()
