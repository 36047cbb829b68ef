"""Normalise stage, citizen ID numbers (GB 11643-1999): raw text and its spreadsheet cell type in,
the cleaned 18-character number, what is wrong with it, and the birth date and sex it encodes out.
"""

from __future__ import annotations

import polars as pl

from schemas.canonical import CELL_NUMBER
from schemas.codes import IdProblem
from transforms.normalise_text import is_blank_like, nfkc_trimmed

# GB 11643-1999 (ISO 7064 MOD 11-2): weight of each of the first 17 digits, and the check
# character for each remainder of the weighted sum modulo 11.
ID_DIGIT_WEIGHTS: tuple[int, ...] = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK_CHARACTERS = "10X98765432"
ID_NUMBER_PATTERN = r"^\d{17}[\dX]$"
OLD_ID_NUMBER_PATTERN = r"^\d{15}$"
# A spreadsheet keeps 15 significant digits: a number cell with more has lost the rest.
SPREADSHEET_SIGNIFICANT_DIGITS = 15
# Separators and quotes clerks and spreadsheets put into ID cells (after NFKC).
ID_SEPARATORS_PATTERN = r"[\s\-_'\"`‘’“”]"
SCIENTIFIC_PATTERN = r"^[+-]?\d+(?:\.\d*)?[eE][+-]?\d+$"
ID_BIRTH_YEAR_RANGE = (1900, 2100)


def id_number_check_digit(expr: pl.Expr) -> pl.Expr:
    """The check character (0-9 or X) the first 17 digits call for; null unless they are digits.

    GB 11643-1999: sum of digit x weight, modulo 11, indexes "10X98765432".

    >>> pl.select(id_number_check_digit(pl.lit("11010519491231002"))).item()
    'X'
    """
    body = expr.str.slice(0, 17)
    number = (
        pl.when(body.str.contains(r"^\d{17}$")).then(body).otherwise(None).str.to_integer(
            strict=False
        )
    )
    weighted = pl.sum_horizontal(
        ((number // 10 ** (16 - i)) % 10) * weight for i, weight in enumerate(ID_DIGIT_WEIGHTS)
    )
    remainder = pl.when(number.is_not_null()).then(weighted % 11)
    return remainder.replace_strict(
        list(range(11)), list(ID_CHECK_CHARACTERS), default=None, return_dtype=pl.String
    )


def is_id_number_check_digit_valid(expr: pl.Expr) -> pl.Expr:
    """True when the text is 17 digits and the right check character (x or X); never null.

    This is the test a privacy scan needs: anything 18 characters long that checks out.

    >>> pl.select(is_id_number_check_digit_valid(pl.lit("11010519491231002x"))).item()
    True
    """
    upper = expr.str.to_uppercase()
    return (
        upper.str.contains(ID_NUMBER_PATTERN) & (upper.str.slice(17, 1) == id_number_check_digit(upper))
    ).fill_null(False)


def id_number_birth_date(expr: pl.Expr) -> pl.Expr:
    """The birth date in characters 7-14 of an 18-character number; null if no such date.

    >>> pl.select(id_number_birth_date(pl.lit("11010519491231002X"))).item()
    datetime.date(1949, 12, 31)
    """
    text = pl.when(expr.str.contains(r"^\d{14}")).then(expr.str.slice(6, 8))
    date = text.str.to_date("%Y%m%d", strict=False)
    low, high = ID_BIRTH_YEAR_RANGE
    return pl.when(date.dt.year().is_between(low, high)).then(date)


def id_number_sex(expr: pl.Expr) -> pl.Expr:
    """Sex from the 17th digit: odd 1 (male), even 2 (female), as GB/T 2261.1; Int8.

    >>> pl.select(id_number_sex(pl.lit("11010519491231002X"))).item()
    2
    """
    digit = expr.str.slice(16, 1).str.to_integer(strict=False)
    return (
        pl.when(digit.is_null()).then(None).when(digit % 2 == 1).then(1).otherwise(2).cast(pl.Int8)
    )


def is_valid_id_number(expr: pl.Expr) -> pl.Expr:
    """True for a structurally sound 18-character number with a real birth date and check digit.

    >>> pl.select(is_valid_id_number(pl.lit("11010519491231002X"))).item()
    True
    """
    return (is_id_number_check_digit_valid(expr) & id_number_birth_date(expr).is_not_null()).fill_null(
        False
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
    return pl.when(expr.str.contains(OLD_ID_NUMBER_PATTERN)).then(body + id_number_check_digit(body))


def normalise_id_numbers(
    frame: pl.DataFrame, column: str, cell_type_column: str | None = None
) -> pl.DataFrame:
    """Clean an ID-number column; flag what cannot be trusted rather than repair it.

    Adds `{column}` (18 characters or null), `{column}_problem` (IdProblem or null),
    `{column}_birth_date` and `{column}_sex`, and keeps the input as `{column}_raw`.
    A spreadsheet number cell keeps its (damaged) value but is flagged stored_as_number;
    text in scientific notation has lost its digits, so the value becomes null.

    >>> frame = pl.DataFrame({"id": ["４５０１０２１９９００１０１１２４ｘ", "110105491231002", "无"]})
    >>> normalise_id_numbers(frame, "id").select("id", "id_problem").rows()
    [('45010219900101124X', None), ('11010519491231002X', 'upgraded_from_15'), (None, None)]
    """
    raw_column = f"{column}_raw"
    has_cell_type = cell_type_column is not None and cell_type_column in frame.columns
    cell = pl.col(cell_type_column) if has_cell_type else pl.lit(None, dtype=pl.String)
    is_number_cell = (cell == CELL_NUMBER).fill_null(False)

    raw = pl.col(raw_column)
    compact = nfkc_trimmed(raw).str.replace_all(ID_SEPARATORS_PATTERN, "")
    # A number cell read as text may carry a trailing ".0"; it is not part of the number.
    compact = pl.when(is_number_cell).then(compact.str.replace(r"^(\d+)\.0*$", "$1")).otherwise(
        compact
    )
    cleaned = compact.str.to_uppercase()
    is_blank = is_blank_like(raw)
    is_scientific = cleaned.str.contains(SCIENTIFIC_PATTERN).fill_null(False)
    is_old_form = cleaned.str.contains(OLD_ID_NUMBER_PATTERN).fill_null(False)
    is_damaged_number = is_number_cell & (
        cleaned.str.len_chars() > SPREADSHEET_SIGNIFICANT_DIGITS
    ).fill_null(False)
    candidate = pl.when(is_old_form).then(upgraded_id_number(cleaned)).otherwise(cleaned)

    staged = frame.rename({column: raw_column}).with_columns(
        pl.when(is_blank | is_scientific).then(None).otherwise(candidate).alias(column),
        is_blank.alias("__blank"),
        is_scientific.alias("__scientific"),
        is_old_form.alias("__old_form"),
        is_damaged_number.alias("__damaged"),
    )
    value = pl.col(column)
    is_structural = value.str.contains(ID_NUMBER_PATTERN).fill_null(False)
    birth_date = id_number_birth_date(value)
    problem = (
        pl.when(pl.col("__blank"))
        .then(None)
        .when(pl.col("__scientific"))
        .then(pl.lit(IdProblem.SCIENTIFIC.value))
        .when(pl.col("__damaged"))
        .then(pl.lit(IdProblem.STORED_AS_NUMBER.value))
        .when(~is_structural)
        .then(pl.lit(IdProblem.MALFORMED.value))
        .when(birth_date.is_null())
        .then(pl.lit(IdProblem.BAD_BIRTH_DATE.value))
        .when(~is_id_number_check_digit_valid(value))
        .then(pl.lit(IdProblem.BAD_CHECK_DIGIT.value))
        .when(pl.col("__old_form"))
        .then(pl.lit(IdProblem.UPGRADED_15.value))
        .otherwise(None)
    )
    return (
        staged.with_columns(
            problem.alias(f"{column}_problem"),
            pl.when(is_structural).then(value).alias(column),
            pl.when(is_structural).then(birth_date).alias(f"{column}_birth_date"),
            # The 17th digit is beyond the 15 a spreadsheet number keeps: unknown.
            pl.when(is_structural & ~pl.col("__damaged"))
            .then(id_number_sex(value))
            .alias(f"{column}_sex"),
        )
        .drop("__blank", "__scientific", "__old_form", "__damaged")
    )
