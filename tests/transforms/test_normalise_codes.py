"""Small coded values: sex, birth order, policy, 民政 event type, record ids, certificates,
weights and gestational weeks."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.normalise_codes import (
    birth_cert_number,
    birth_order_code,
    birth_weight_grams,
    canonical_record_id,
    cleaned_text,
    event_type_code,
    gestational_weeks,
    sex_code,
    within_policy,
)

PROPERTY_SETTINGS = settings(max_examples=100, deadline=None)
READINGS: list[Callable[[pl.Expr], pl.Expr]] = [
    sex_code, birth_order_code, within_policy, event_type_code, canonical_record_id,
    birth_cert_number, cleaned_text, birth_weight_grams, gestational_weeks,
]


def read(reading: Callable[[pl.Expr], pl.Expr], value: str | None) -> object:
    frame = pl.DataFrame({"v": [value]}, schema={"v": pl.String})
    return frame.select(reading(pl.col("v"))).item()


@pytest.mark.parametrize(
    ("raw", "sex"),
    [
        pytest.param("男", 1, id="男"),
        pytest.param("女", 2, id="女"),
        pytest.param("男性", 1, id="男性"),
        pytest.param("女性", 2, id="女性"),
        pytest.param("1", 1, id="code 1"),
        pytest.param("2", 2, id="code 2"),
        pytest.param("1.0", 1, id="number cell 1.0"),
        pytest.param("１", 1, id="full-width 1"),
        pytest.param(" 女 ", 2, id="padded"),
        pytest.param("M", 1, id="M"),
        pytest.param("f", 2, id="lower-case f"),
        pytest.param("0", None, id="0 unknown"),
        pytest.param("9", None, id="9 unspecified"),
        pytest.param("未知", None, id="未知"),
        pytest.param("不详", None, id="不详"),
        pytest.param("3", None, id="not a code"),
        pytest.param(None, None, id="null"),
    ],
)
def test_sex(raw: str | None, sex: int | None) -> None:
    assert read(sex_code, raw) == sex


@pytest.mark.parametrize(
    ("raw", "order"),
    [
        pytest.param("1", 1, id="1"),
        pytest.param("2", 2, id="2"),
        pytest.param("3", 3, id="3"),
        pytest.param("4", 3, id="4 is third or later"),
        pytest.param("12", 3, id="12 is third or later"),
        pytest.param("2.0", 2, id="number cell 2.0"),
        pytest.param("一孩", 1, id="一孩"),
        pytest.param("二孩", 2, id="二孩"),
        pytest.param("三孩", 3, id="三孩"),
        pytest.param("四孩", 3, id="四孩"),
        pytest.param("第一胎", 1, id="第一胎"),
        pytest.param("第二胎", 2, id="第二胎"),
        pytest.param("一胎", 1, id="一胎"),
        pytest.param("第1孩", 1, id="第1孩"),
        pytest.param("1孩", 1, id="1孩"),
        pytest.param("两孩", 2, id="两孩"),
        pytest.param("头胎", 1, id="头胎"),
        pytest.param("多孩", 3, id="多孩"),
        pytest.param("0", None, id="0 unknown"),
        pytest.param("不详", None, id="不详"),
        pytest.param("双胞胎", None, id="not an order"),
        pytest.param(None, None, id="null"),
    ],
)
def test_birth_order(raw: str | None, order: int | None) -> None:
    assert read(birth_order_code, raw) == order


@pytest.mark.parametrize(
    ("raw", "within"),
    [
        pytest.param("政策内", True, id="政策内"),
        pytest.param("政策外", False, id="政策外"),
        pytest.param(" 政策内 ", True, id="padded"),
        pytest.param("不符合政策", False, id="不符合政策"),
        pytest.param("不详", None, id="不详"),
        pytest.param(None, None, id="null"),
    ],
)
def test_policy_status(raw: str | None, within: bool | None) -> None:
    assert read(within_policy, raw) is within


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        pytest.param("死亡登记", "infant_death", id="death"),
        pytest.param("收养登记", "adoption", id="adoption"),
        pytest.param("弃婴收留", "foundling", id="foundling"),
        pytest.param(" 弃婴 收留 ", "foundling", id="spaces"),
        pytest.param("结婚登记", None, id="not an infant event"),
        pytest.param(None, None, id="null"),
    ],
)
def test_event_type(raw: str | None, code: str | None) -> None:
    assert read(event_type_code, raw) == code


@pytest.mark.parametrize(
    ("raw", "record_id"),
    [
        pytest.param(" J0001 ", "J0001", id="trimmed"),
        pytest.param("12345.0", "12345", id="number cell .0"),
        pytest.param("12345", "12345", id="number as displayed"),
        pytest.param("0012345", "0012345", id="leading zeros kept"),
        pytest.param("１２３", "１２３", id="no NFKC: compared as displayed"),
        pytest.param("12.5", "12.5", id="a real fraction kept"),
        pytest.param("  ", None, id="blank"),
        pytest.param(None, None, id="null"),
    ],
)
def test_record_id(raw: str | None, record_id: str | None) -> None:
    assert read(canonical_record_id, raw) == record_id


@pytest.mark.parametrize(
    ("raw", "cert"),
    [
        pytest.param("P450812345", "P450812345", id="clean"),
        pytest.param("p450812345", "P450812345", id="lower case"),
        pytest.param(" Ｐ４５０８ 12345 ", "P450812345", id="full-width and spaces"),
        pytest.param("无", None, id="无"),
        pytest.param("-", None, id="dash"),
        pytest.param(None, None, id="null"),
    ],
)
def test_birth_cert_number(raw: str | None, cert: str | None) -> None:
    assert read(birth_cert_number, raw) == cert


@pytest.mark.parametrize(
    ("raw", "grams"),
    [
        pytest.param("3200", 3200.0, id="grams"),
        pytest.param("3200g", 3200.0, id="3200g"),
        pytest.param("3200克", 3200.0, id="3200克"),
        pytest.param("3.2kg", 3200.0, id="kilograms"),
        pytest.param("3.2", 3200.0, id="bare kilograms"),
        pytest.param("3.25公斤", 3250.0, id="公斤"),
        pytest.param("6.4斤", 3200.0, id="斤"),
        pytest.param("3,200", 3200.0, id="thousands comma"),
        pytest.param("0", None, id="zero"),
        pytest.param("不详", None, id="words"),
    ],
)
def test_birth_weight(raw: str, grams: float | None) -> None:
    assert read(birth_weight_grams, raw) == grams


@pytest.mark.parametrize(
    ("raw", "weeks"),
    [
        pytest.param("39", 39.0, id="weeks"),
        pytest.param("39+2", 39.29, id="weeks + days"),
        pytest.param("39周", 39.0, id="39周"),
        pytest.param("39周2天", 39.29, id="39周2天"),
        pytest.param("39.5", 39.5, id="decimal"),
        pytest.param("不详", None, id="words"),
    ],
)
def test_gestational_weeks(raw: str, weeks: float | None) -> None:
    assert read(gestational_weeks, raw) == weeks


def test_cleaned_text() -> None:
    assert read(cleaned_text, " 平南县  人民医院 ") == "平南县 人民医院"
    assert read(cleaned_text, "无") is None
    assert read(cleaned_text, "ＡＢＣ村") == "ABC村"


# --- properties -------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(texts=st.lists(st.one_of(st.none(), st.text()), max_size=30))
def test_never_crash_on_any_text(texts: list[str | None]) -> None:
    frame = pl.DataFrame({"v": texts}, schema={"v": pl.String})
    result = frame.select(reading(pl.col("v")).alias(str(i)) for i, reading in enumerate(READINGS))
    assert result.height == len(texts)
    assert set(result["0"].drop_nulls()) <= {1, 2}
    assert set(result["1"].drop_nulls()) <= {1, 2, 3}


@PROPERTY_SETTINGS
@given(texts=st.lists(st.one_of(st.none(), st.text(), st.sampled_from(
    ["男", "女", "1", "2", "一孩", "第二胎", "3", "P4508", " 12345.0 "])), max_size=30))
def test_idempotent(texts: list[str | None]) -> None:
    frame = pl.DataFrame({"v": texts}, schema={"v": pl.String})
    for reading in (sex_code, birth_order_code):
        once = frame.select(reading(pl.col("v")))
        twice = once.select(reading(pl.col("v").cast(pl.String)))
        assert twice.to_series().to_list() == once.to_series().to_list()
    for text_reading in (canonical_record_id, birth_cert_number, cleaned_text):
        once = frame.select(text_reading(pl.col("v")))
        twice = once.select(text_reading(pl.col("v")))
        assert twice.to_series().to_list() == once.to_series().to_list()
