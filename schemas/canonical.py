"""The canonical record: one department's record after normalisation, whatever its source.

Staged rows (as read) carry every source column as text, exactly as stored, plus the
spreadsheet cell type of the ID-number and date columns. Normalisation turns them into the
canonical shape below; every stage boundary checks frames against these declarations.
"""

from __future__ import annotations

import polars as pl

# Columns every staged (read, not yet normalised) row carries beside its source columns.
STAGED_META: dict[str, pl.DataType] = {
    "source": pl.String(),
    "file": pl.String(),  # path relative to the inbox, e.g. "weisheng/weisheng_20130721.csv"
    "file_hash": pl.String(),  # sha256 of the file's bytes
    "extract_date": pl.Date(),
    "file_seq": pl.Int64(),  # n of <source>_<date>_<n>, 0 when absent
    "row_number": pl.Int64(),  # spreadsheet row: header is 1, first data row 2
}

# Suffix of the column that holds a spreadsheet cell's type ("text", "number", "date", or null
# for an empty cell) beside each ID-number and date column. CSV cells are always "text".
CELL_TYPE_SUFFIX = "_cell"
CELL_TEXT, CELL_NUMBER, CELL_DATE = "text", "number", "date"

# The canonical record. Raw values are kept beside normalised ones (`*_raw`) for the
# restricted store and for officers; published tables never carry ID numbers.
CANONICAL: dict[str, pl.DataType] = {
    **STAGED_META,
    "record_id": pl.String(),
    "township_raw": pl.String(),
    "township_code": pl.String(),  # 9-digit division code, null when unmapped
    "township_match": pl.String(),  # schemas.codes.TownshipMatch
    "village": pl.String(),
    "child_name_raw": pl.String(),
    "child_name": pl.String(),  # null when blank or a newborn placeholder
    "child_name_is_placeholder": pl.Boolean(),  # 张丽之子, 男婴, 婴儿 ... "no name yet"
    "child_name_pinyin": pl.String(),
    "sex_raw": pl.String(),
    "sex": pl.Int8(),  # 1 male, 2 female, null unknown
    "birth_date_raw": pl.String(),
    "birth_date": pl.Date(),
    "birth_date_problem": pl.String(),  # schemas.codes.DateProblem
    "birth_order_raw": pl.String(),
    "birth_order": pl.Int8(),  # 1, 2, 3 (= third or later), null unknown
    "child_id_number_raw": pl.String(),
    "child_id_number": pl.String(),  # cleaned 18 characters, or null
    "child_id_number_problem": pl.String(),  # schemas.codes.IdProblem
    "child_id_number_birth_date": pl.Date(),
    "child_id_number_sex": pl.Int8(),
    "mother_name_raw": pl.String(),
    "mother_name": pl.String(),
    "mother_name_pinyin": pl.String(),
    "mother_id_number_raw": pl.String(),
    "mother_id_number": pl.String(),
    "mother_id_number_problem": pl.String(),
    "father_name_raw": pl.String(),
    "father_name": pl.String(),
    "father_name_pinyin": pl.String(),
    "father_id_number_raw": pl.String(),
    "father_id_number": pl.String(),
    "father_id_number_problem": pl.String(),
    "birth_cert_number": pl.String(),  # upper-cased, spaces removed
    "is_within_policy": pl.Boolean(),  # 政策内 true, 政策外 false
    "event_type": pl.String(),  # 民政 event code: infant_death / adoption / foundling
    "event_date": pl.Date(),  # 民政 业务日期
    "registered_date": pl.Date(),  # 计生 登记日期
    "issued_date": pl.Date(),  # 卫生 签发日期
    "declared_date": pl.Date(),  # 公安 申报日期
    "hospital": pl.String(),
    "ethnicity": pl.String(),
    "gestational_weeks": pl.Float64(),
    "birth_weight_g": pl.Float64(),
}

