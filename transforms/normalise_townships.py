"""Normalise stage, townships: free text (乡镇, 乡镇街道, 出生地点) and the divisions reference in,
a 9-digit township code and how it was found out. Each distinct text is matched once.
"""

from __future__ import annotations

import polars as pl
from rapidfuzz import fuzz, process

from schemas.codes import TownshipMatch
from schemas.divisions import ALIAS_SEPARATOR
from transforms.normalise_names import name_pinyin
from transforms.normalise_text import is_blank_like, map_unique

FUZZY_CUTOFF = 85.0  # rapidfuzz ratio (0-100) on the name without prefix and suffix
MIN_CONTAINED_LENGTH = 2  # a one-character name inside free text matches too much
ADMIN_LEVELS_STRIPPED = 4  # province, city, county, and one spare (自治州, 地区)
# The shortest leading part ending in a province/city/county word: 广西壮族自治区, 贵港市, 平南县.
ADMIN_PREFIX_PATTERN = r"^.+?(?:自治区|自治州|自治县|自治旗|地区|特区|省|市|州|盟|县|区|旗)"
ADMIN_WORD_CHARACTERS = ["省", "市", "州", "盟", "县", "区", "旗"]
ETHNIC_GROUPS = (
    "壮族|瑶族|苗族|侗族|回族|彝族|土家族|仫佬族|毛南族|京族|水族|仡佬族|布依族|白族|傣族|"
    "哈尼族|傈僳族|佤族|拉祜族|纳西族|蒙古族|满族|畲族|藏族|黎族|羌族|朝鲜族|锡伯族|"
    "达斡尔族|鄂温克族|鄂伦春族|各族"
)
# Township-level suffixes; the longest applicable one is removed (only one).
TOWNSHIP_SUFFIX_PATTERN = (
    r"(?:街道办事处|街道办|办事处|街道|(?:" + ETHNIC_GROUPS + r")+乡|民族乡|乡|镇|社区|居委会"
    r"|管委会|管理区|农场|林场)$"
)
# Where a township word ends inside free text ("大按镇新华村" -> "大按"), for fuzzy matching.
TOWNSHIP_WORD_PATTERN = r"^(.+?)(?:镇|乡|街道)"
TOWNSHIP_SPACE_PATTERN = r"[\s\u200b\ufeff]"


def township_core(expr: pl.Expr) -> pl.Expr:
    """A township name without its suffix (镇, 乡, 街道, 瑶族乡 ...); the name itself if nothing
    would be left.

    >>> names = pl.DataFrame({"name": ["三江瑶族乡", "大安镇", "城区街道", "镇"]})
    >>> names.select(township_core(pl.col("name"))).to_series().to_list()
    ['三江', '大安', '城区', '镇']
    """
    core = expr.str.replace(TOWNSHIP_SUFFIX_PATTERN, "")
    return pl.when(core.str.len_chars() > 0).then(core).otherwise(expr)


def _cleaned_place(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.String).str.normalize("NFKC").str.replace_all(TOWNSHIP_SPACE_PATTERN, "")


def _unambiguous(keys: pl.DataFrame) -> pl.DataFrame:
    """Keys (key, township_code) naming exactly one township; a shared name decides nothing."""
    keys = keys.filter(pl.col("key").is_not_null() & (pl.col("key") != "")).unique()
    return keys.filter(pl.col("township_code").n_unique().over("key") == 1)


def division_keys(divisions: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The reference's lookup tables: official names, aliases, and suffix-less cores.

    Each table has columns key and township_code, one row per key.
    """
    names = divisions.select(
        pl.col("township_code").cast(pl.String).str.strip_chars(),
        _cleaned_place(pl.col("township_name")).alias("name"),
        _cleaned_place(pl.col("aliases")).str.split(ALIAS_SEPARATOR).alias("alias"),
    ).filter(pl.col("township_code").is_not_null())
    aliases = names.select("township_code", "alias").explode("alias")
    official = _unambiguous(names.select(pl.col("name").alias("key"), "township_code"))
    alias_keys = _unambiguous(aliases.select(pl.col("alias").alias("key"), "township_code"))
    # An alias that is another township's official name is not an alias of this one.
    alias_keys = alias_keys.join(official.select("key"), on="key", how="anti")
    all_keys = pl.concat([official, alias_keys])
    cores = _unambiguous(
        pl.concat(
            [all_keys, all_keys.with_columns(township_core(pl.col("key")).alias("key"))]
        )
    )
    return {"official": official, "alias": alias_keys, "all": all_keys, "core": cores}


def _lookup(
    frame: pl.DataFrame, on: str, keys: pl.DataFrame, code_column: str
) -> pl.DataFrame:
    """Left-join a key table on column `on`, the matched code in `code_column`."""
    return frame.join(
        keys.rename({"key": on, "township_code": code_column}), on=on, how="left"
    )


def _longest_contained(text: pl.Expr, patterns: list[str]) -> pl.Expr:
    """The longest pattern occurring in the text (the rightmost of equally long ones)."""
    if not patterns:
        return pl.lit(None, dtype=pl.String)
    found = text.str.extract_many(patterns, overlapping=True).list.reverse()
    return found.list.eval(
        pl.element().sort_by(pl.element().str.len_chars(), descending=True, maintain_order=True)
    ).list.first()


def _fuzzy_codes(queries: list[str], cores: pl.DataFrame, cutoff: float) -> dict[str, str]:
    """Best core per query by rapidfuzz ratio, else by identical pinyin; ties map nothing.

    Runs over distinct unmatched texts only; township lists are a few hundred names.
    """
    choices = cores.filter(pl.col("key").str.len_chars() >= MIN_CONTAINED_LENGTH)
    choice_keys = choices.get_column("key").to_list()
    choice_codes = choices.get_column("township_code").to_list()
    if not queries or not choice_keys:
        return {}
    pinyin_codes: dict[str, set[str]] = {}
    for pinyin, code in zip(
        name_pinyin(pl.Series(choice_keys), surname_first=False).to_list(), choice_codes,
        strict=True,
    ):
        pinyin_codes.setdefault(pinyin, set()).add(code)
    query_pinyins = name_pinyin(pl.Series(queries, dtype=pl.String), surname_first=False)
    matched: dict[str, str] = {}
    for query, pinyin in zip(queries, query_pinyins.to_list(), strict=True):
        best = process.extract(
            query, choice_keys, scorer=fuzz.ratio, limit=2, score_cutoff=cutoff
        )
        codes = {choice_codes[index] for _, score, index in best if score == best[0][1]}
        if len(codes) == 1:
            matched[query] = codes.pop()
        elif not best and len(pinyin_codes.get(pinyin, ())) == 1:
            matched[query] = next(iter(pinyin_codes[pinyin]))
    return matched


def _match_places(
    distinct: pl.DataFrame, raw_column: str, keys: dict[str, pl.DataFrame], cutoff: float
) -> pl.DataFrame:
    """township_code and township_match for each distinct raw text, in order of preference."""
    places = distinct.with_columns(
        _cleaned_place(pl.col(raw_column)).alias("__text"),
        is_blank_like(pl.col(raw_column)).alias("__blank"),
    )
    # Successively strip leading province, city and county words: level 0 is the text itself.
    level_columns = [f"__level{k}" for k in range(ADMIN_LEVELS_STRIPPED + 1)]
    places = places.with_columns(pl.col("__text").alias(level_columns[0]))
    for previous, level in zip(level_columns, level_columns[1:], strict=False):
        places = places.with_columns(
            pl.col(previous).str.replace(ADMIN_PREFIX_PATTERN, "").alias(level)
        )
    places = places.with_columns(
        township_core(pl.col(level)).alias(f"{level}_core") for level in level_columns
    )
    places = _lookup(places, "__text", keys["official"], "__exact")
    places = _lookup(places, "__text", keys["alias"], "__alias")
    for level in level_columns:
        places = _lookup(places, f"{level}_core", keys["core"], f"{level}_stripped")

    contained_patterns = (
        keys["all"].filter(pl.col("key").str.len_chars() >= MIN_CONTAINED_LENGTH)["key"].to_list()
    )
    places = places.with_columns(
        _longest_contained(pl.col("__text"), contained_patterns).alias("__contained_key")
    )
    places = _lookup(places, "__contained_key", keys["all"], "__contained")
    # A core at the start of what follows the county (平南县大安卫生院 -> 大安): deepest first.
    starts = [
        (level, length) for level in reversed(level_columns) for length in range(6, 1, -1)
    ]
    for level, length in starts:
        places = places.with_columns(
            pl.col(level).str.slice(0, length).alias(f"{level}_start{length}")
        )
        places = _lookup(places, f"{level}_start{length}", keys["core"], f"{level}_starts{length}")
    # A core followed by 县, 市 ... is the county's own name (平南县人民医院), not a township.
    starts_code = pl.coalesce(
        pl.when(
            (pl.col(f"{level}_start{length}").str.len_chars() == length)
            & ~pl.col(level).str.slice(length, 1).is_in(ADMIN_WORD_CHARACTERS)
        ).then(pl.col(f"{level}_starts{length}"))
        for level, length in starts
    )
    stripped_code = pl.coalesce(pl.col(f"{level}_stripped") for level in level_columns)
    places = places.with_columns(
        pl.coalesce(pl.col("__contained"), starts_code).alias("__contained"),
        stripped_code.alias("__stripped"),
    )

    deepest = pl.col(level_columns[-1])
    places = places.with_columns(
        pl.coalesce(deepest.str.extract(TOWNSHIP_WORD_PATTERN, 1), township_core(deepest)).alias(
            "__fuzzy_query"
        )
    )
    unmatched = places.filter(
        pl.all_horizontal(
            pl.col(c).is_null() for c in ("__exact", "__alias", "__stripped", "__contained")
        )
        & pl.col("__fuzzy_query").is_not_null()
        & ~pl.col("__blank")
    )
    queries = unmatched.get_column("__fuzzy_query").unique().to_list()
    fuzzy = _fuzzy_codes(queries, keys["core"], cutoff)
    places = places.with_columns(
        pl.col("__fuzzy_query")
        .replace_strict(fuzzy, default=None, return_dtype=pl.String)
        .alias("__fuzzy")
    )

    steps = (
        ("__exact", TownshipMatch.EXACT),
        ("__alias", TownshipMatch.ALIAS),
        ("__stripped", TownshipMatch.STRIPPED),
        ("__contained", TownshipMatch.CONTAINED),
        ("__fuzzy", TownshipMatch.FUZZY),
    )
    how_matched = pl.coalesce(
        *(pl.when(pl.col(c).is_not_null()).then(pl.lit(how.value)) for c, how in steps),
        pl.lit(TownshipMatch.UNMAPPED.value),
    )
    is_blank = pl.col("__blank")
    return places.select(
        raw_column,
        pl.when(~is_blank).then(pl.coalesce(c for c, _ in steps)).alias("township_code"),
        pl.when(~is_blank).then(how_matched).alias("township_match"),
    )


def map_townships(
    frame: pl.DataFrame, column: str, divisions: pl.DataFrame, *, fuzzy_cutoff: float = FUZZY_CUTOFF
) -> pl.DataFrame:
    """Map free-text township names to division codes; the text is kept as `township_raw`.

    Tries, in order: the official name, an alias, the name without county prefix and suffix,
    an official name or alias inside the text (longest wins), then rapidfuzz (ratio at least
    `fuzzy_cutoff`) or an identical pinyin. Adds `township_code` (null when unmapped) and
    `township_match` (TownshipMatch; null for a blank text). Names shared by two townships
    decide nothing. `divisions` has township_code, township_name, aliases ('|'-separated).

    >>> divisions = pl.DataFrame({"township_code": ["450821101"], "township_name": ["大安镇"],
    ...                           "aliases": ["大安"]})
    >>> places = pl.DataFrame({"place": ["平南县大安镇", "平南县大安镇新华村", "大按镇", "北京"]})
    >>> map_townships(places, "place", divisions).select("township_code", "township_match").rows()
    ... # doctest: +NORMALIZE_WHITESPACE
    [('450821101', 'stripped'), ('450821101', 'contained'), ('450821101', 'fuzzy'),
     (None, 'unmapped')]
    """
    records = frame.rename({column: "township_raw"}).with_columns(
        pl.col("township_raw").cast(pl.String)
    )
    keys = division_keys(divisions)
    return map_unique(
        records,
        "township_raw",
        lambda distinct: _match_places(distinct, "township_raw", keys, fuzzy_cutoff),
    )
