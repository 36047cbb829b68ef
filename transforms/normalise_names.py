"""Normalise stage, personal names: raw text in; the cleaned simplified-character name, a toneless
pinyin key for homophone matching and, for a child, whether it is a "not named yet" placeholder out.
"""

from __future__ import annotations

import unicodedata
from functools import cache

import opencc
import polars as pl
from pypinyin import Style, lazy_pinyin
from pypinyin.constants import PHRASES_DICT

from transforms.normalise_text import BLANK_LIKE_VALUES, map_unique

MIDDLE_DOT = "·"  # U+00B7, the dot of transliterated names (阿依古丽·买买提)
# Dots clerks type between the parts of a transliterated name (and their NFKC sources).
MIDDLE_DOT_VARIANTS_PATTERN = (
    "[.\uff0e\u3002\uff61\uff65\u30fb\u2022\u2219\u2027\u22c5\u25cf\u25e6\u2e31\u2e33"
    "\u318d\u16eb\ua78f\u02d9\u00b7\u0387\u2024\ufe52\u1427\u2981\u2e30]"
)
# A run of dots, spaces between them included, becomes one middle dot.
MIDDLE_DOT_RUN_PATTERN = f"(?:{MIDDLE_DOT_VARIANTS_PATTERN}\\s*)+"
# Whitespace, including the zero-width characters that copy-paste brings along.
NAME_SPACE_PATTERN = r"[\s\u200b\u200c\u200d\u2060\ufeff]"
NAME_BLANK_VALUES: tuple[str, ...] = (*BLANK_LIKE_VALUES, "无名", "无名氏", "姓名不详", "不详姓名")
_NAME_BLANK_SPELLINGS = sorted(
    {v for value in NAME_BLANK_VALUES for v in (value, value.upper(), value.capitalize())}
)

# OpenCC maps these to another character, but each is also a correct simplified character in
# names (乾隆, the surname 於, 韩复榘, the surname 麴, 哪吒): keep them.
SIMPLIFIED_NAME_CHARACTERS = frozenset("乾於榘麴吒")
CJK_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0x20000, 0x2A6DF))

# Surnames whose family-name reading differs from the common reading pypinyin gives.
SURNAME_READINGS: dict[str, str] = {
    "单": "shan", "曾": "zeng", "解": "xie", "区": "ou", "仇": "qiu", "查": "zha", "朴": "piao",
    "盖": "ge", "乐": "yue", "秘": "bi", "繁": "po", "缪": "miao", "覃": "qin", "召": "shao",
    "员": "yun", "种": "chong", "翟": "zhai", "句": "gou", "隗": "wei", "阚": "kan", "祭": "zhai",
    "长": "chang", "都": "du", "折": "she", "蕃": "pi", "卜": "bu", "薄": "bo", "便": "pian",
    "洗": "xian", "藏": "zang", "蔚": "yu", "能": "nai", "重": "chong", "乜": "nie", "佴": "nai",
    "宓": "fu", "郇": "huan", "莘": "shen", "柏": "bai", "车": "che", "叶": "ye", "沈": "shen",
}
# Two-character surnames, read as a unit (the given name starts after them).
COMPOUND_SURNAME_READINGS: dict[str, str] = {
    "尉迟": "yuchi", "万俟": "moqi", "长孙": "zhangsun", "澹台": "tantai", "令狐": "linghu",
    "皇甫": "huangfu", "欧阳": "ouyang", "司马": "sima", "诸葛": "zhuge", "上官": "shangguan",
    "东方": "dongfang", "夏侯": "xiahou", "公孙": "gongsun", "慕容": "murong", "宇文": "yuwen",
    "司徒": "situ", "司空": "sikong", "端木": "duanmu", "轩辕": "xuanyuan", "呼延": "huyan",
    "闻人": "wenren", "南宫": "nangong", "西门": "ximen", "申屠": "shentu", "淳于": "chunyu",
    "赫连": "helian", "钟离": "zhongli", "宗政": "zongzheng", "濮阳": "puyang", "公冶": "gongye",
    "太史": "taishi", "拓跋": "tuoba", "第五": "diwu",
}

# Placeholders for a newborn not named yet. Trailing twin markers: 男婴1, 之子(大), 之女二.
_TWIN_MARK = r"[0-9一二三四甲乙丙大小AaBb]*"
_CHILD_WORDS = "男婴|女婴|婴儿|新生儿|男孩|女孩|宝宝|女儿|儿子|男|女|子|儿|婴|孩|宝"
_CHILD_WORD = f"(?:{_CHILD_WORDS})"
_PLACEHOLDER_PATTERNS: tuple[str, ...] = (
    # <anything>之子, 之女, 之长子, 之次女, 之男婴 ... (not 之宝: 王之宝 is a name)
    r"之[长次大小一二三四老幺]?(?:子|女|儿|婴|孩|男婴|女婴|婴儿|男孩|女孩|宝宝)" + _TWIN_MARK + "$",
    # <anything>男婴, 张女婴, 大男婴, 新生儿, 女孩2 ...
    r"(?:男婴|女婴|婴儿|新生儿|男孩|女孩|宝宝)" + _TWIN_MARK + "$",
    # no name at all: 无名婴, 未取名之子 ...
    r"^(?:无名|未取名|未起名|未命名|待取名)",
    # the whole name a bare word: 男, 女, 婴, 无名氏, 未取名 ...
    r"^[大小长次一二三双]?(?:男|女|婴|孩|无名氏|无名|未取名|未起名|未命名|待取名|暂未取名|待定)"
    + _TWIN_MARK
    + "$",
)
PLACEHOLDER_PATTERN = "|".join(f"(?:{pattern})" for pattern in _PLACEHOLDER_PATTERNS)
# What may follow the mother's name in a placeholder: 张丽婴, 张丽子, 张丽的女儿.
AFTER_MOTHER_PLACEHOLDER_PATTERN = (
    r"^的?之?[长次大小一二三四老幺]?" + _CHILD_WORD + _TWIN_MARK + "$"
)
# What may follow the mother's surname: only 婴 words (张子 could be a real name; 张婴 is not).
AFTER_MOTHER_SURNAME_PLACEHOLDER_PATTERN = r"^之?[长次大小一二三]?(?:婴|婴儿)" + _TWIN_MARK + "$"
BRACKETED_PATTERN = r"\([^)]*\)|\[[^\]]*\]|【[^】]*】|〔[^〕]*〕|<[^>]*>"


@cache
def simplified_characters() -> dict[str, str]:
    """Traditional to simplified, one character at a time (built once, ~0.1 s).

    OpenCC's phrase conversion corrupts names (沈思 becomes 沉思), so each CJK character is
    converted on its own and only one-to-one changes are kept.
    """
    converter = opencc.OpenCC("t2s")
    table: dict[str, str] = {}
    for low, high in CJK_RANGES:
        for code_point in range(low, high + 1):
            character = chr(code_point)
            simplified = converter.convert(character)
            if (
                simplified != character
                and len(simplified) == 1
                and character not in SIMPLIFIED_NAME_CHARACTERS
            ):
                table[character] = simplified
    return table


def cleaned_name(expr: pl.Expr) -> pl.Expr:
    """A name as one spelling: NFKC, no spaces, one middle dot, simplified characters.

    Blank-like values (无, 不详, -, 0, ...) and text with no letter at all become null.

    >>> pl.select(cleaned_name(pl.lit(" 阿依古丽 • 买买提 "))).item()
    '阿依古丽·买买提'
    >>> names = pl.DataFrame({"name": ["張 麗", "沈思", "不详"]})
    >>> names.select(cleaned_name(pl.col("name"))).to_series().to_list()
    ['张丽', '沈思', None]
    """
    # One chain, no repeated sub-expression: eager polars would evaluate it twice.
    return (
        expr.cast(pl.String)
        # Before NFKC, which would turn some look-alikes (U+2024, U+FF0E) into a full stop.
        .str.replace_all(MIDDLE_DOT_RUN_PATTERN, MIDDLE_DOT)
        .str.normalize("NFKC")
        # And after: NFKC turns some into full stops of their own (U+2025 '‥' -> '..').
        .str.replace_all(MIDDLE_DOT_RUN_PATTERN, MIDDLE_DOT)
        .str.replace_all(NAME_SPACE_PATTERN, "")
        # Again: removing a space can leave a letter next to its combining mark ("A ́").
        .str.normalize("NFKC")
        .str.strip_chars(MIDDLE_DOT)
        .str.replace_many(simplified_characters())
        .str.replace(r"^[^\p{L}]*$", "")
        .replace(_NAME_BLANK_SPELLINGS, None)
    )


@cache
def character_reading(character: str) -> str:
    """What one character contributes to a pinyin key.

    Han characters: their common toneless reading; letters: lower case; punctuation, symbols,
    spaces and the middle dot: nothing; anything else (a rare character pypinyin cannot
    read) is kept as it is.
    """
    if unicodedata.category(character)[0] in "PSZC":
        return ""
    if character.isascii():
        return character.lower()
    return "".join(lazy_pinyin(character, style=Style.NORMAL)).lower()


def _character_readings(names: pl.Series) -> dict[str, str]:
    """Reading of every character occurring in `names` except lower-case letters and digits."""
    characters = names.str.split("").explode().drop_nulls().unique().to_list()
    return {c: character_reading(c) for c in characters if not ("a" <= c <= "z" or "0" <= c <= "9")}


def name_pinyin(names: pl.Series, *, surname_first: bool = True) -> pl.Series:
    """Toneless lower-case pinyin, syllables run together ("shanli"), for each name.

    With `surname_first`, the first character (or a compound surname) takes its surname
    reading, so 单丽 is "shanli" like its homophone typo 善丽. A given name that pypinyin
    knows as a phrase takes the phrase reading (长江 "changjiang"); otherwise each character
    takes its common reading. Names with a middle dot have no Chinese surname. Characters
    without a reading are kept as they are; punctuation is dropped.

    >>> name_pinyin(pl.Series(["单丽", "善丽", "尉迟恭", "阿依古丽·买买提", None])).to_list()
    ['shanli', 'shanli', 'yuchigong', 'ayigulimaimaiti', None]
    """
    readings = _character_readings(names)
    frame = pl.DataFrame({"name": names.cast(pl.String)})
    name = pl.col("name")
    if surname_first:
        surname_length = (
            pl.when(name.str.contains(MIDDLE_DOT, literal=True))
            .then(0)
            .when(
                name.str.slice(0, 2).is_in(list(COMPOUND_SURNAME_READINGS))
                & (name.str.len_chars() > 2)
            )
            .then(2)
            .otherwise(1)
        )
    else:
        surname_length = pl.lit(0)
    frame = (
        frame.lazy()
        .with_columns(
            name.str.slice(0, surname_length).alias("surname"),
            name.str.slice(surname_length).alias("given"),
        )
        .collect()
    )
    givens = frame.get_column("given").drop_nulls().unique().to_list()
    phrase_readings = {
        given: "".join(lazy_pinyin(given, style=Style.NORMAL))
        for given in givens
        if len(given) > 1 and given in PHRASES_DICT
    }
    surname_readings = {**SURNAME_READINGS, **COMPOUND_SURNAME_READINGS}
    surname, given = pl.col("surname"), pl.col("given")
    key = surname.replace_strict(
        surname_readings, default=surname.str.replace_many(readings), return_dtype=pl.String
    ) + given.replace_strict(
        phrase_readings, default=given.str.replace_many(readings), return_dtype=pl.String
    )
    return frame.select(key.alias(names.name)).to_series()


def is_generic_placeholder(name: pl.Expr) -> pl.Expr:
    """True for a cleaned child's name that says "not named yet" on its own (男婴, 张丽之子).

    >>> pl.select(is_generic_placeholder(pl.lit("张丽之子(大)"))).item()
    True
    """
    bare = name.str.replace_all(BRACKETED_PATTERN, "")
    return bare.str.contains(PLACEHOLDER_PATTERN).fill_null(False)


def is_mother_placeholder(bare_name: pl.Expr, mother_name: pl.Expr) -> pl.Expr:
    """True when a child's name is the mother's name plus 婴, 子, 女 ... (or her surname + 婴).

    `bare_name` is the cleaned name without bracketed remarks. A child's name equal to the
    mother's is the mother's name typed in the wrong box.

    >>> pl.select(is_mother_placeholder(pl.lit("张丽婴"), pl.lit("张丽"))).item()
    True
    """
    after_mother = bare_name.str.slice(mother_name.str.len_chars())
    return (
        (bare_name == mother_name)
        | (
            bare_name.str.starts_with(mother_name)
            & after_mother.str.contains(AFTER_MOTHER_PLACEHOLDER_PATTERN)
        )
        | (
            (bare_name.str.slice(0, 1) == mother_name.str.slice(0, 1))
            & bare_name.str.slice(1).str.contains(AFTER_MOTHER_SURNAME_PLACEHOLDER_PATTERN)
        )
    ).fill_null(False)


def _cleaned_names_with_pinyin(
    distinct: pl.DataFrame, raw_column: str, *, detect_placeholders: bool
) -> pl.DataFrame:
    """Cleaned name, pinyin and (optionally) the generic-placeholder flag per distinct raw name."""
    cleaned = distinct.with_columns(cleaned_name(pl.col(raw_column)).alias("__name"))
    cleaned = cleaned.with_columns(name_pinyin(cleaned.get_column("__name")).alias("__pinyin"))
    if detect_placeholders:
        cleaned = cleaned.with_columns(
            pl.col("__name").str.replace_all(BRACKETED_PATTERN, "").alias("__bare")
        ).with_columns(
            pl.col("__bare").str.contains(PLACEHOLDER_PATTERN).fill_null(False).alias(
                "__generic_placeholder"
            )
        )
    return cleaned


def _cleaned_mother_names(records: pl.DataFrame, mother_name_column: str) -> pl.Expr:
    """The mother's cleaned name: the column itself when normalise_names already ran on it."""
    if f"{mother_name_column}_raw" in records.columns:
        return pl.col(mother_name_column).cast(pl.String)
    mothers = records.select(pl.col(mother_name_column).cast(pl.String))
    cleaned = map_unique(
        mothers,
        mother_name_column,
        lambda d: d.with_columns(cleaned_name(pl.col(mother_name_column)).alias("__mother")),
    )
    return pl.lit(cleaned.get_column("__mother"))


def normalise_names(
    frame: pl.DataFrame,
    column: str,
    *,
    mother_name_column: str | None = None,
    detect_placeholders: bool = False,
) -> pl.DataFrame:
    """Clean a name column and add its pinyin key; optionally spot a newborn's placeholder name.

    Keeps the input as `{column}_raw`, adds `{column}` (null when blank or a placeholder)
    and `{column}_pinyin`; with `detect_placeholders`, `{column}_is_placeholder`, true for
    张丽之子, 男婴 ... and for a blank name (the child is not named yet). The mother's name
    column lets 张丽婴 be recognised when the mother is 张丽; it is taken as already
    cleaned when `{mother_name_column}_raw` exists (normalise_names ran on it), else cleaned
    here. Work is done once per distinct value.

    >>> frame = pl.DataFrame({"child": ["張麗之子", "單麗", None],
    ...                       "mother": ["张丽", "王芳", "李娜"]})
    >>> normalise_names(frame, "child", mother_name_column="mother", detect_placeholders=True
    ...     ).select("child", "child_pinyin", "child_is_placeholder").rows()
    [(None, None, True), ('单丽', 'shanli', False), (None, None, True)]
    """
    raw_column = f"{column}_raw"
    records = frame.rename({column: raw_column}).with_columns(pl.col(raw_column).cast(pl.String))
    records = map_unique(
        records,
        raw_column,
        lambda distinct: _cleaned_names_with_pinyin(
            distinct, raw_column, detect_placeholders=detect_placeholders
        ),
    )
    if not detect_placeholders:
        return records.rename({"__name": column, "__pinyin": f"{column}_pinyin"})

    name, pinyin = pl.col("__name"), pl.col("__pinyin")
    is_placeholder = name.is_null() | pl.col("__generic_placeholder")
    if mother_name_column is not None and mother_name_column in records.columns:
        mother = _cleaned_mother_names(records, mother_name_column)
        is_placeholder = is_placeholder | is_mother_placeholder(pl.col("__bare"), mother)
    placeholder_column = f"{column}_is_placeholder"
    return (
        records.lazy()  # lazy: the mother's name expression is then computed once
        .with_columns(is_placeholder.alias(placeholder_column))
        .with_columns(
            pl.when(~pl.col(placeholder_column)).then(name).alias(column),
            pl.when(~pl.col(placeholder_column)).then(pinyin).alias(f"{column}_pinyin"),
        )
        .drop("__name", "__pinyin", "__bare", "__generic_placeholder")
        .collect()
    )
