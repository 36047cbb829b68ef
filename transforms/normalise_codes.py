"""Normalise stage, coded and small values: sex, birth order, policy status, 民政 event type,
record ids, birth certificate numbers, weights and gestational weeks. Each is a polars expression
over the raw text column.
"""

from __future__ import annotations

import polars as pl

from schemas.codes import Sex
from schemas.minzheng import EVENT_TYPE_LABELS
from transforms.normalise_text import BLANK_LIKE_VALUES, is_blank_like, nfkc_trimmed

# GB/T 2261.1 codes and the words departments write; 0 and 9 (unknown) are left out: null.
SEX_CODES: dict[str, int] = {
    "1": Sex.MALE,
    "男": Sex.MALE,
    "男性": Sex.MALE,
    "男孩": Sex.MALE,
    "男婴": Sex.MALE,
    "M": Sex.MALE,
    "MALE": Sex.MALE,
    "2": Sex.FEMALE,
    "女": Sex.FEMALE,
    "女性": Sex.FEMALE,
    "女孩": Sex.FEMALE,
    "女婴": Sex.FEMALE,
    "F": Sex.FEMALE,
    "FEMALE": Sex.FEMALE,
}
# Chinese numerals in 孩次 (一孩, 第二胎, 两孩); 头胎 is the first.
BIRTH_ORDER_NUMERALS: dict[str, int] = {
    "头": 1, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
    "六": 6, "七": 7, "八": 8, "九": 9, "十": 10, "多": 3,
}  # fmt: skip
BIRTH_ORDER_PATTERN = r"^第?([0-9]+|[头一二两三四五六七八九十多])(?:孩|胎|个|孩次)?$"
BIRTH_ORDER_MAX = 3  # 3 means third or later (CONTRACT.md, birth_order)
WITHIN_POLICY_WORDS = ("政策内", "符合政策", "合法生育")
OUTSIDE_POLICY_WORDS = ("政策外", "不符合政策", "违法生育", "超生")
# A kilogram weight is at most this many units; anything above is taken as grams.
MAX_BIRTH_WEIGHT_KG = 10.0
GRAMS_PER_JIN = 500.0  # 斤


def sex_code(expr: pl.Expr) -> pl.Expr:
    """1 male, 2 female (GB/T 2261.1), null when unknown or unrecognised; Int8.

    >>> values = pl.DataFrame({"s": ["男", " 女性", "2", "m", "9"]})
    >>> values.select(sex_code(pl.col("s"))).to_series().to_list()
    [1, 2, 2, 1, None]
    """
    text = nfkc_trimmed(expr).str.to_uppercase().str.replace(r"^([12])\.0*$", "$1")
    return text.replace_strict(SEX_CODES, default=None, return_dtype=pl.Int8)


def birth_order_code(expr: pl.Expr) -> pl.Expr:
    """1, 2, or 3 for third or later; null when unknown. Int8.

    Reads 1, 2.0, 一孩, 第二胎, 三孩, 第1孩, 头胎, 多孩.

    >>> values = pl.DataFrame({"s": ["1", "二孩", "第三胎", "4", "头胎", "0"]})
    >>> values.select(birth_order_code(pl.col("s"))).to_series().to_list()
    [1, 2, 3, 3, 1, None]
    """
    text = nfkc_trimmed(expr).str.replace_all(r"\s", "").str.replace(r"^([0-9]+)\.0*$", "$1")
    token = text.str.extract(BIRTH_ORDER_PATTERN, 1)
    number = pl.coalesce(
        token.str.to_integer(strict=False),
        token.replace_strict(BIRTH_ORDER_NUMERALS, default=None, return_dtype=pl.Int64),
    )
    return pl.when(number >= 1).then(number.clip(upper_bound=BIRTH_ORDER_MAX)).cast(pl.Int8)


def within_policy(expr: pl.Expr) -> pl.Expr:
    """政策内 true, 政策外 false, anything else null.

    >>> values = pl.DataFrame({"s": ["政策内", "政策外", "不详"]})
    >>> values.select(within_policy(pl.col("s"))).to_series().to_list()
    [True, False, None]
    """
    text = nfkc_trimmed(expr).str.replace_all(r"\s", "")
    outside = pl.any_horizontal(text.str.contains(w, literal=True) for w in OUTSIDE_POLICY_WORDS)
    within = pl.any_horizontal(text.str.contains(w, literal=True) for w in WITHIN_POLICY_WORDS)
    return pl.when(outside).then(False).when(within).then(True).otherwise(None)


def event_type_code(expr: pl.Expr) -> pl.Expr:
    """民政 业务类型 label (死亡登记 ...) to its event code (infant_death ...); else null.

    >>> pl.select(event_type_code(pl.lit(" 弃婴收留"))).item()
    'foundling'
    """
    codes = {**EVENT_TYPE_LABELS, **{code: code for code in EVENT_TYPE_LABELS.values()}}
    text = nfkc_trimmed(expr).str.replace_all(r"\s", "")
    return text.replace_strict(codes, default=None, return_dtype=pl.String)


def canonical_record_id(expr: pl.Expr) -> pl.Expr:
    """The record id as displayed, trimmed; a number cell's "12345.0" is "12345". Blank: null.

    The id is compared as text across files, so nothing else is changed (no NFKC).

    >>> values = pl.DataFrame({"s": [" 12345.0", "P450812345 ", " "]})
    >>> values.select(canonical_record_id(pl.col("s"))).to_series().to_list()
    ['12345', 'P450812345', None]
    """
    text = expr.cast(pl.String).str.strip_chars().str.replace(r"^([0-9]+)\.0+$", "$1")
    return pl.when(text != "").then(text)


def birth_cert_number(expr: pl.Expr) -> pl.Expr:
    """出生医学证明编号: NFKC, upper case, no spaces or separators; blank-like is null.

    >>> pl.select(birth_cert_number(pl.lit(" ｐ４５０８ 12345"))).item()
    'P450812345'
    """
    text = (
        nfkc_trimmed(expr)
        .str.to_uppercase()
        .str.replace_all(r"[\s\-_'\"]", "")
        .str.normalize("NFKC")  # again: a removed space can join a letter and its accent
    )
    return pl.when(~is_blank_like(expr) & (text != "")).then(text)


def cleaned_text(expr: pl.Expr) -> pl.Expr:
    """Free text (village, hospital, ethnicity): NFKC, inner runs of spaces collapsed; blank null.

    >>> pl.select(cleaned_text(pl.lit(" 平南县 人民医院 "))).item()
    '平南县 人民医院'
    """
    text = nfkc_trimmed(expr).str.replace_all(r"\s+", " ")
    return pl.when(~text.str.to_lowercase().is_in(BLANK_LIKE_VALUES)).then(text)


def _leading_number(text: pl.Expr) -> pl.Expr:
    """The first decimal number in the text (thousands commas allowed) as Float64."""
    return (
        text.str.extract(r"([0-9][0-9,]*(?:\.[0-9]+)?|\.[0-9]+)", 1)
        .str.replace_all(",", "")
        .cast(pl.Float64, strict=False)
    )


def birth_weight_grams(expr: pl.Expr) -> pl.Expr:
    """出生体重 in grams: 3200, 3200g, 3200克, 3.2kg, 3.2公斤, 6.4斤; a bare 3.2 is kilograms.

    >>> values = pl.DataFrame({"s": ["3200", "3.2kg", "3.2", "6.4斤"]})
    >>> values.select(birth_weight_grams(pl.col("s"))).to_series().to_list()
    [3200.0, 3200.0, 3200.0, 3200.0]
    """
    text = nfkc_trimmed(expr).str.to_lowercase().str.replace_all(r"\s", "")
    number = _leading_number(text)
    grams = (
        pl.when(text.str.contains(r"kg|千克|公斤"))
        .then(number * 1000.0)
        .when(text.str.contains("斤", literal=True))  # after 公斤, which also holds 斤
        .then(number * GRAMS_PER_JIN)
        .when(number <= MAX_BIRTH_WEIGHT_KG)
        .then(number * 1000.0)
        .otherwise(number)
    )
    return pl.when(grams > 0).then(grams.round(1))


def gestational_weeks(expr: pl.Expr) -> pl.Expr:
    """出生孕周 in weeks: 39, 39周, 39+2 or 39周2天 (weeks + days / 7), 39.5.

    >>> values = pl.DataFrame({"s": ["39", "39+2", "39周2天"]})
    >>> values.select(gestational_weeks(pl.col("s"))).to_series().to_list()
    [39.0, 39.29, 39.29]
    """
    text = nfkc_trimmed(expr).str.to_lowercase().str.replace_all(r"\s", "")
    parts = text.str.extract_groups(
        r"^([0-9]+(?:\.[0-9]+)?)(?:周|w|wk|weeks?)?(?:\+|周|w)?(?:([0-9])(?:天|d|days?)?)?$"
    )
    weeks = parts.struct.field("1").cast(pl.Float64, strict=False)
    days = parts.struct.field("2").cast(pl.Float64, strict=False).fill_null(0.0)
    total = weeks + days / 7.0
    return pl.when(total > 0).then(total.round(2))
