"""Whole records: staged rows of each department in, exactly the canonical record out."""

from __future__ import annotations

import doctest
import importlib
from datetime import date

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.canonical import CANONICAL, STAGED_META
from schemas.codes import IdProblem, TownshipMatch
from schemas.source_spec import ValueKind
from schemas.sources import SOURCES
from transforms.normalise_records import (
    FOOTER_PATTERN,
    IDENTIFYING_COLUMNS,
    has_identifying_fields,
    is_footer_row,
    normalise_records,
)

DIVISIONS = pl.DataFrame(
    {"township_code": ["450821101", "450821102"], "township_name": ["大安镇", "思旺镇"],
     "aliases": ["大安", None]}
)
MOTHER_ID = "11010519491231002X"
CHILD_ID = "450821201305041234"


def staged(source: str, rows: list[dict[str, str | None]]) -> pl.DataFrame:
    """A staged frame as the reader makes it: meta columns, then every cell as text."""
    spec = SOURCES[source]
    cells = pl.DataFrame(
        [{c.name: row.get(c.name) for c in spec.columns} for row in rows],
        schema=dict.fromkeys(spec.column_names, pl.String),
    )
    cell_types = {k: v for row in rows for k, v in row.items() if k.endswith("_cell")}
    cells = cells.with_columns(pl.lit(v, pl.String).alias(k) for k, v in cell_types.items())
    meta = pl.DataFrame(
        {"source": [source] * len(rows), "file": [f"{source}/{source}_20131231.csv"] * len(rows),
         "file_hash": ["abc"] * len(rows), "extract_date": [date(2013, 12, 31)] * len(rows),
         "file_seq": [0] * len(rows), "row_number": list(range(2, len(rows) + 2))},
        schema=STAGED_META,
    )
    return pl.concat([meta, cells], how="horizontal")


def test_check_id_of_the_fixture_is_valid() -> None:
    from transforms.normalise_ids import is_valid_id_number

    ids = pl.DataFrame({"id": [MOTHER_ID, CHILD_ID]})
    assert ids.select(is_valid_id_number(pl.col("id"))).to_series().all()


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_every_source_gives_exactly_the_canonical_columns(source: str) -> None:
    records = normalise_records(staged(source, [{"record_id": "R1"}]), SOURCES[source], DIVISIONS)
    assert records.schema == pl.Schema(CANONICAL)
    assert records["record_id"].to_list() == ["R1"]


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_no_rows_in_no_rows_out(source: str) -> None:
    records = normalise_records(staged(source, []), SOURCES[source], DIVISIONS)
    assert records.height == 0
    assert records.schema == pl.Schema(CANONICAL)


def test_jisheng_row_normalised() -> None:
    row = {
        "record_id": " J001 ", "township": "平南县大安镇", "village": " 新华村 ",
        "child_name": "張麗之子", "sex": "男", "birth_date": "2013/5/4", "birth_order": "二孩",
        "child_id_number": CHILD_ID.lower(), "mother_name": "張麗",
        "mother_id_number": "４.５E17", "father_name": "单伟", "father_id_number": None,
        "birth_cert_number": " p450812345 ", "policy_status": "政策内",
        "registered_date": "41400", "mother_id_number_cell": "text",
    }
    record = normalise_records(staged("jisheng", [row]), SOURCES["jisheng"], DIVISIONS).row(
        0, named=True)
    assert record["record_id"] == "J001"
    assert (record["township_raw"], record["township_code"], record["township_match"]) == (
        "平南县大安镇", "450821101", TownshipMatch.STRIPPED)
    assert record["village"] == "新华村"
    assert (record["child_name_raw"], record["child_name"], record["child_name_is_placeholder"],
            record["child_name_pinyin"]) == ("張麗之子", None, True, None)
    assert (record["sex_raw"], record["sex"]) == ("男", 1)
    assert (record["birth_date"], record["birth_date_problem"]) == (date(2013, 5, 4), None)
    assert (record["birth_order_raw"], record["birth_order"]) == ("二孩", 2)
    assert (record["child_id_number"], record["child_id_number_problem"]) == (CHILD_ID, None)
    assert record["child_id_number_birth_date"] == date(2013, 5, 4)
    assert record["child_id_number_sex"] == 1
    assert (record["mother_name"], record["mother_name_pinyin"]) == ("张丽", "zhangli")
    assert (record["mother_id_number"], record["mother_id_number_problem"]) == (
        None, IdProblem.SCIENTIFIC)
    assert (record["father_name"], record["father_name_pinyin"]) == ("单伟", "shanwei")
    assert record["father_id_number_problem"] is None
    assert record["birth_cert_number"] == "P450812345"
    assert record["is_within_policy"] is True
    assert record["registered_date"] == date(2013, 5, 6)
    assert record["event_type"] is None


def test_weisheng_record_id_is_the_birth_certificate() -> None:
    row = {"record_id": "p450812345", "child_name": "男婴", "sex": "2",
           "birth_date": "2013-05-04 14:32", "gestational_weeks": "39+2",
           "birth_weight_g": "3200g", "hospital": "平南县人民医院",
           "township": "广西平南县大安镇新华村", "mother_name": "王芳",
           "mother_id_number": MOTHER_ID, "issued_date": "2013-05-10"}
    record = normalise_records(staged("weisheng", [row]), SOURCES["weisheng"], DIVISIONS).row(
        0, named=True)
    assert (record["record_id"], record["birth_cert_number"]) == ("p450812345", "P450812345")
    assert record["child_name_is_placeholder"] is True
    assert (record["birth_date"], record["issued_date"]) == (date(2013, 5, 4), date(2013, 5, 10))
    assert (record["gestational_weeks"], record["birth_weight_g"]) == (39.29, 3200.0)
    assert record["township_match"] == TownshipMatch.CONTAINED
    assert record["hospital"] == "平南县人民医院"
    assert record["birth_order"] is None


def test_gongan_and_minzheng_specific_columns() -> None:
    gongan = normalise_records(
        staged("gongan", [{"record_id": "G1", "child_name": "李明", "ethnicity": "汉族",
                           "declared_date": "20130610", "child_id_number": CHILD_ID,
                           "mother_name": "王芳"}]),
        SOURCES["gongan"], DIVISIONS).row(0, named=True)
    assert (gongan["ethnicity"], gongan["declared_date"]) == ("汉族", date(2013, 6, 10))
    assert gongan["child_name_is_placeholder"] is False
    minzheng = normalise_records(
        staged("minzheng", [{"record_id": "M1", "event_type": "弃婴收留", "child_name": "党新",
                             "sex": "女", "birth_date": "2013-05-04",
                             "event_date": "2013-06-01"}]),
        SOURCES["minzheng"], DIVISIONS).row(0, named=True)
    assert (minzheng["event_type"], minzheng["event_date"]) == ("foundling", date(2013, 6, 1))
    assert minzheng["township_match"] is None


def test_number_cells_from_a_spreadsheet() -> None:
    row = {"record_id": "12345.0", "record_id_cell": "number", "birth_date": "41398",
           "birth_date_cell": "number", "mother_id_number": "110105194912310000",
           "mother_id_number_cell": "number", "mother_name": "王芳"}
    record = normalise_records(staged("jisheng", [row]), SOURCES["jisheng"], DIVISIONS).row(
        0, named=True)
    assert record["record_id"] == "12345"
    assert record["birth_date"] == date(2013, 5, 4)
    assert record["mother_id_number_problem"] == IdProblem.STORED_AS_NUMBER


def test_optional_columns_missing_from_the_file_are_null() -> None:
    frame = staged("jisheng", [{"record_id": "J1", "mother_name": "王芳"}]).drop(
        "father_name", "father_id_number", "village", "policy_status")
    record = normalise_records(frame, SOURCES["jisheng"], DIVISIONS).row(0, named=True)
    assert (record["father_name"], record["village"], record["is_within_policy"]) == (
        None, None, None)


def test_rows_keep_their_order_and_meta() -> None:
    pairs = [("王芳", "王芳婴"), ("李娜", "张伟"), ("王芳", None)] * 40
    rows = [{"record_id": f"J{i}", "mother_name": name, "child_name": child}
            for i, (name, child) in enumerate(pairs)]
    records = normalise_records(staged("jisheng", rows), SOURCES["jisheng"], DIVISIONS)
    assert records["record_id"].to_list() == [f"J{i}" for i in range(120)]
    assert records["row_number"].to_list() == list(range(2, 122))
    assert records["child_name_is_placeholder"].to_list() == [True, False, True] * 40


def test_every_declared_kind_is_handled() -> None:
    kinds = {c.kind for spec in SOURCES.values() for c in spec.columns}
    assert kinds <= set(ValueKind)


@pytest.mark.parametrize(
    ("values", "footer"),
    [
        pytest.param({"record_id": "合计"}, True, id="合计"),
        pytest.param({"record_id": "总计：128"}, True, id="总计 with count"),
        pytest.param({"record_id": "小 计"}, True, id="小 计 spaced"),
        pytest.param({"record_id": "共 128 条"}, True, id="共 N 条"),
        pytest.param({"record_id": "共１２８人"}, True, id="共 N 人 full-width"),
        pytest.param({"township_raw": "制表人：李四"}, True, id="制表人 in another column"),
        pytest.param({"record_id": "填报单位：平南县卫生局"}, True, id="填报单位"),
        pytest.param({"child_name_raw": "审核人：王五"}, True, id="审核人"),
        pytest.param({"record_id": "J0001"}, False, id="a record"),
        pytest.param({"record_id": "J0001", "mother_name_raw": "共产"}, False,
                     id="共 without a count"),
        pytest.param({}, False, id="blank row is not a footer"),
    ],
)
def test_footer_rows(values: dict[str, str], footer: bool) -> None:
    columns = ("record_id", "township_raw", "village", "child_name_raw", "mother_name_raw")
    frame = pl.DataFrame({c: [values.get(c)] for c in columns},
                         schema=dict.fromkeys(columns, pl.String))
    assert frame.select(is_footer_row()).item() is footer


@settings(max_examples=200, deadline=None)
@given(text=st.builds(
    lambda space, word, rest: space + word + rest,
    st.sampled_from(["", " ", "\u3000", "\t ", "\u00a0"]),
    st.sampled_from(
        ["合计", "合 计", "共 12 条", "共１２８人", "制表人", "注：", "J0001", "", "共产"]),
    st.text(max_size=5),
))
def test_footer_test_equals_stripping_first(text: str) -> None:
    """The footer pattern skips leading white space itself; that must read exactly as
    stripping the cell first (the old reading)."""
    columns = ("record_id", "township_raw", "village", "child_name_raw", "mother_name_raw")
    frame = pl.DataFrame({c: [text if c == "village" else None] for c in columns},
                         schema=dict.fromkeys(columns, pl.String))
    stripped_first = pl.col("village").str.strip_chars().str.contains(FOOTER_PATTERN)
    assert frame.select(is_footer_row()).item() is frame.select(
        stripped_first.fill_null(False)).item()


@pytest.mark.parametrize(
    ("present", "identifies"),
    [
        pytest.param("child_name", True, id="child name"),
        pytest.param("child_id_number", True, id="child ID"),
        pytest.param("mother_name", True, id="mother name"),
        pytest.param("mother_id_number", True, id="mother ID"),
        pytest.param("birth_date", True, id="birth date"),
        pytest.param(None, False, id="nothing"),
    ],
)
def test_identifying_fields(present: str | None, identifies: bool) -> None:
    frame = pl.DataFrame({c: ["x" if c == present else None] for c in IDENTIFYING_COLUMNS},
                         schema=dict.fromkeys(IDENTIFYING_COLUMNS, pl.String))
    assert frame.select(has_identifying_fields()).item() is identifies


def test_placeholder_child_with_nothing_else_does_not_identify() -> None:
    row = {"record_id": "W1", "child_name": "男婴", "sex": "1"}
    records = normalise_records(staged("weisheng", [row]), SOURCES["weisheng"], DIVISIONS)
    assert records.select(has_identifying_fields()).item() is False


@pytest.mark.parametrize(
    "module",
    ["normalise_codes", "normalise_dates", "normalise_ids", "normalise_names",
     "normalise_records", "normalise_text", "normalise_townships"],
)
def test_docstring_examples(module: str) -> None:
    results = doctest.testmod(importlib.import_module(f"transforms.{module}"))
    assert results.failed == 0
    assert results.attempted > 0
