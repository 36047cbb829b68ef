"""Normalise stage, citizen ID numbers (GB 11643-1999): raw text and its spreadsheet cell type in,
the cleaned 18-character number, what is wrong with it, and the birth date and sex it encodes out.
"""

from __future__ import annotations

import polars as pl

from schemas.canonical import CELL_NUMBER
from schemas.codes import IdProblem
from transforms.normalise_dates import date_from_parts
from transforms.normalise_text import is_blank_like, nfkc_trimmed

# GB 11643-1999 (ISO 7064 MOD 11-2): weight of each of the first 17 digits, and the check
# character for each remainder of the weighted sum modulo 11.
ID_DIGIT_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARACTERS = "10X98765432"
ID_NUMBER_PATTERN = r"^[0-9]{17}[0-9X]$"
OLD_ID_NUMBER_PATTERN = r"^[0-9]{15}$"
# Raw text that needs no cleaning beyond upper-casing: the common case, kept on a fast path.
PLAIN_ID_PATTERN = r"^[0-9]{17}[0-9Xx]$"
# A spreadsheet keeps 15 significant digits: a number cell with more has lost the rest.
SPREADSHEET_SIGNIFICANT_DIGITS = 15
# Separators and quotes clerks and spreadsheets put into ID cells (after NFKC).
ID_SEPARATORS_PATTERN = r"[\s\-_'\"`‘’“”]"
SCIENTIFIC_PATTERN = r"^[+-]?[0-9]+(?:\.[0-9]*)?E[+-]?[0-9]+$"
ID_BIRTH_YEAR_RANGE = (1900, 2100)


def _check_sum_tables() -> list[tuple[int, int, pl.Series]]:
    """Per chunk of up to 3 digits: (offset, length, weighted sum of every possible chunk)."""
    tables = []
    for offset in range(0, 17, 3):
        length = min(3, 17 - offset)
        weights = ID_DIGIT_WEIGHTS[offset : offset + length]
        sums = [
            sum(int(d) * w for d, w in zip(f"{chunk:0{length}d}", weights, strict=True))
            for chunk in range(10**length)
        ]
        tables.append((offset, length, pl.Series(sums, dtype=pl.Int32)))
    return tables


# Looking up 3-digit chunks is ~5x faster than extracting 17 digits one by one.
CHECK_SUM_TABLES = _check_sum_tables()


def id_number_check_digit(expr: pl.Expr) -> pl.Expr:
    """The check character (0-9 or X) the first 17 digits call for; null unless they are digits.

    GB 11643-1999 (ISO 7064 MOD 11-2): sum of digit x weight, modulo 11, indexes "10X98765432".

    >>> pl.select(id_number_check_digit(pl.lit("11010519491231002"))).item()
    'X'
    """
    return _check_character_of_digits(pl.when(expr.str.contains(r"^[0-9]{17}")).then(
        expr.str.slice(0, 17).str.to_integer(strict=False)))


def _check_character_of_digits(digits: pl.Expr) -> pl.Expr:
    """id_number_check_digit of a number whose first 17 digits are given as one integer (the
    text is read once and the digits taken by arithmetic, where normalising has the integer)."""
    weighted = pl.sum_horizontal(
        pl.lit(table).gather(digits // 10 ** (17 - offset - length) % 10**length)
        for offset, length, table in CHECK_SUM_TABLES
    )
    # A null number sums to 0 (sum_horizontal skips nulls): masked, so it has no check character.
    return pl.when(digits.is_not_null()).then((weighted % 11).replace_strict(
        list(range(11)), list(ID_CHECK_CHARACTERS), default=None, return_dtype=pl.String
    ))


def _birth_date_of_ymd(ymd: pl.Expr) -> pl.Expr:
    """The date of a yyyymmdd integer; null when the year is out of range or no such day."""
    year = ymd // 10000
    low, high = ID_BIRTH_YEAR_RANGE
    in_range_year = pl.when(year.is_between(low, high)).then(year)
    return date_from_parts(in_range_year, ymd // 100 % 100, ymd % 100)


def _birth_date_of_digits(digits: pl.Expr) -> pl.Expr:
    """id_number_birth_date of a number whose first 17 digits are given as one integer."""
    return _birth_date_of_ymd(digits // 1000 % 100_000_000)


def _sex_of_digits(digits: pl.Expr) -> pl.Expr:
    """id_number_sex of a number whose first 17 digits (or just the 17th) are given as one
    integer: its parity."""
    return pl.when(digits.is_null()).then(None).when(digits % 2 == 1).then(1).otherwise(2).cast(
        pl.Int8
    )


def is_id_number_check_digit_valid(expr: pl.Expr) -> pl.Expr:
    """True when the text is 17 digits and the right check character (x or X); never null.

    This is the test a privacy scan needs: anything 18 characters long that checks out.

    >>> pl.select(is_id_number_check_digit_valid(pl.lit("11010519491231002x"))).item()
    True
    """
    upper = expr.str.to_uppercase()
    is_checked = upper.str.slice(17, 1) == id_number_check_digit(upper)
    return (upper.str.contains(ID_NUMBER_PATTERN) & is_checked).fill_null(False)


def id_number_birth_date(expr: pl.Expr) -> pl.Expr:
    """The birth date in characters 7-14 of an 18-character number; null if no such date.

    >>> pl.select(id_number_birth_date(pl.lit("11010519491231002X"))).item()
    datetime.date(1949, 12, 31)
    """
    # Integer arithmetic on yyyymmdd is several times faster than parsing the text as a date.
    return _birth_date_of_ymd(pl.when(expr.str.contains(r"^[0-9]{14}")).then(
        expr.str.slice(6, 8).str.to_integer(strict=False)))


def id_number_sex(expr: pl.Expr) -> pl.Expr:
    """Sex from the 17th digit: odd 1 (male), even 2 (female), as GB/T 2261.1; Int8.

    >>> pl.select(id_number_sex(pl.lit("11010519491231002X"))).item()
    2
    """
    return _sex_of_digits(expr.str.slice(16, 1).str.to_integer(strict=False))


def is_valid_id_number(expr: pl.Expr) -> pl.Expr:
    """True for a structurally sound 18-character number with a real birth date and check digit.

    >>> pl.select(is_valid_id_number(pl.lit("11010519491231002X"))).item()
    True
    """
    has_birth_date = id_number_birth_date(expr).is_not_null()
    return (is_id_number_check_digit_valid(expr) & has_birth_date).fill_null(False)


def id_number_as_integer(expr: pl.Expr) -> pl.Expr:
    """A cleaned 18-character number as one Int64 (first 17 digits x 11 + the check character's
    value, X being 10), so each number has its own integer; null for any other text.

    Joins and lookups hash an integer several times faster than 18 characters of text.

    >>> pl.select(id_number_as_integer(pl.lit("11010519491231002X"))).item()
    121115714403541032
    """
    check = expr.str.slice(17, 1)
    check_value = pl.when(check == "X").then(10).otherwise(check.str.to_integer(strict=False))
    return pl.when(expr.str.contains(ID_NUMBER_PATTERN)).then(
        expr.str.slice(0, 17).str.to_integer(strict=False) * 11 + check_value
    )


def mask_id_number(expr: pl.Expr) -> pl.Expr:
    """First 4 and last 2 characters, stars between ("4501************12"); null stays null.

    Short values (6 characters or fewer) are all stars, so nothing short leaks whole.

    >>> pl.select(mask_id_number(pl.lit("45010219900101123X"))).item()
    '4501************3X'
    """
    length = expr.str.len_chars()
    stars = pl.lit("").str.pad_end((length - 6).clip(lower_bound=0), "*")
    masked = expr.str.slice(0, 4) + stars + expr.str.slice(-2, 2)
    return pl.when(expr.is_null()).then(None).when(length <= 6).then(
        pl.lit("").str.pad_end(length, "*")
    ).otherwise(masked)


def upgraded_id_number(expr: pl.Expr) -> pl.Expr:
    """An old 15-digit number as 18: century "19" after the 6-digit region, then the check digit.

    >>> pl.select(upgraded_id_number(pl.lit("110105491231002"))).item()
    '11010519491231002X'
    """
    body = expr.str.slice(0, 6) + "19" + expr.str.slice(6, 9)
    is_old_form = expr.str.contains(OLD_ID_NUMBER_PATTERN)
    return pl.when(is_old_form).then(body + id_number_check_digit(body))


def cleaned_id_text(expr: pl.Expr) -> pl.Expr:
    """NFKC, separators and quotes removed, a number cell's ".0" dropped, x upper-cased.

    >>> pl.select(cleaned_id_text(pl.lit("'4501 0219-9001 01124ｘ"))).item()
    '45010219900101124X'
    """
    compact = nfkc_trimmed(expr).str.replace_all(ID_SEPARATORS_PATTERN, "")
    return compact.str.replace(r"^([0-9]+)\.0*$", "$1").str.to_uppercase()


def _unusual_id_texts(raw: pl.Series) -> pl.DataFrame:
    """For each distinct raw value off the fast path: the candidate 18-character text (an old
    15-digit number upgraded) and its kind: "blank", "scientific", "old_form" or null.
    """
    # The cleaned text is a column before it is used: the upgrade and its check digit slice
    # it a dozen times, and polars recomputed the whole cleaning (NFKC, regexes) for each.
    texts = pl.DataFrame({"raw": raw.unique()}).with_columns(
        cleaned_id_text(pl.col("raw")).alias("cleaned"))
    cleaned = pl.col("cleaned")
    is_old_form = cleaned.str.contains(OLD_ID_NUMBER_PATTERN)
    return texts.with_columns(
        pl.when(is_old_form).then(upgraded_id_number(cleaned)).otherwise(cleaned).alias("cleaned"),
        pl.when(is_blank_like(pl.col("raw")) | (cleaned == ""))
        .then(pl.lit("blank"))
        .when(cleaned.str.contains(SCIENTIFIC_PATTERN))
        .then(pl.lit("scientific"))
        .when(is_old_form)
        .then(pl.lit("old_form"))
        .alias("kind"),
    )


def normalise_id_numbers(
    frame: pl.DataFrame, column: str, cell_type_column: str | None = None
) -> pl.DataFrame:
    """Clean an ID-number column; flag what cannot be trusted rather than repair it.

    Keeps the input as `{column}_raw` and adds `{column}` (18 characters or null),
    `{column}_problem` (IdProblem or null), `{column}_birth_date` and `{column}_sex`.
    A spreadsheet number cell keeps its (damaged) value but is flagged stored_as_number;
    text in scientific notation has lost its digits, so its value becomes null.

    >>> ids = ["４５０１０２１９９００１０１１２４ｘ", "110105491231002", "无"]
    >>> frame = pl.DataFrame({"id": ids})
    >>> normalise_id_numbers(frame, "id").select("id", "id_problem").rows()
    [('45010219900101124X', None), ('11010519491231002X', 'upgraded_from_15'), (None, None)]
    """
    raw_column = f"{column}_raw"
    cell = (
        pl.col(cell_type_column)
        if cell_type_column is not None and cell_type_column in frame.columns
        else pl.lit(None, dtype=pl.String)
    )
    records = frame.rename({column: raw_column}).with_columns(pl.col(raw_column).cast(pl.String))
    raw = pl.col(raw_column)

    # Most cells are 18 plain characters; only the rest go through NFKC, the blank and
    # notation tests and the 15-digit upgrade, once per distinct value.
    records = records.with_columns(raw.str.contains(PLAIN_ID_PATTERN).fill_null(False).alias(
        "__plain"))
    is_plain = pl.col("__plain")
    unusual = _unusual_id_texts(records.filter(~is_plain).get_column(raw_column).drop_nulls())
    # One join maps both readings back (a replace_strict per column took twice as long).
    readings = records.select(raw_column).join(
        unusual.rename({"raw": raw_column}), on=raw_column, how="left", maintain_order="left")
    records = records.with_columns(
        pl.when(is_plain)
        .then(raw.str.to_uppercase())
        .otherwise(readings.get_column("cleaned"))
        .alias("__cleaned"),
        pl.when(raw.is_null())
        .then(pl.lit("blank"))
        .when(is_plain)
        .then(None)
        .otherwise(readings.get_column("kind"))
        .alias("__kind"),
    ).drop("__plain")

    # Lazy from here: polars then computes each repeated sub-expression once (CSE).
    lazy = records.lazy()
    cleaned, kind = pl.col("__cleaned"), pl.col("__kind")
    is_usable = kind.is_null() | (kind == "old_form")
    # A number cell with more digits than a spreadsheet keeps has lost its last digits.
    is_damaged = (
        (cell == CELL_NUMBER)
        & kind.is_null()
        & (cleaned.str.len_chars() > SPREADSHEET_SIGNIFICANT_DIGITS)
    ).fill_null(False)
    lazy = lazy.with_columns(
        pl.when(is_usable & cleaned.str.contains(ID_NUMBER_PATTERN)).then(cleaned).alias(column),
        is_damaged.alias("__damaged"),
    )

    # A kept value is 17 digits and a check character: read the digits once, as one integer,
    # and take the check digit, birth date and sex from it by arithmetic (id_number_check_digit,
    # id_number_birth_date and id_number_sex each slice and parse the text again).
    value = pl.col(column)
    lazy = lazy.with_columns(value.str.slice(0, 17).str.to_integer(strict=False).alias("__digits"))
    digits = pl.col("__digits")
    lazy = lazy.with_columns(
        _birth_date_of_digits(digits).alias("__birth_date"),
        (value.str.slice(17, 1) == _check_character_of_digits(digits))
        .fill_null(False)
        .alias("__check"),
    )

    birth_date = pl.col("__birth_date")
    problem = (
        pl.when(kind == "blank")
        .then(None)
        .when(kind == "scientific")
        .then(pl.lit(IdProblem.SCIENTIFIC.value))
        .when(pl.col("__damaged"))
        .then(pl.lit(IdProblem.STORED_AS_NUMBER.value))
        .when(value.is_null())
        .then(pl.lit(IdProblem.MALFORMED.value))
        .when(birth_date.is_null())
        .then(pl.lit(IdProblem.BAD_BIRTH_DATE.value))
        .when(~pl.col("__check"))
        .then(pl.lit(IdProblem.BAD_CHECK_DIGIT.value))
        .when(kind == "old_form")
        .then(pl.lit(IdProblem.UPGRADED_15.value))
        .otherwise(None)
    )
    return (
        lazy.with_columns(
            problem.alias(f"{column}_problem"),
            birth_date.alias(f"{column}_birth_date"),
            # The 17th digit lies beyond the 15 a spreadsheet number keeps: unknown there.
            pl.when(~pl.col("__damaged")).then(_sex_of_digits(digits)).alias(f"{column}_sex"),
        )
        .drop("__cleaned", "__kind", "__damaged", "__digits", "__birth_date", "__check")
        .collect()
    )
