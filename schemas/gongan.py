"""公安 police household (hukou) birth registrations: CSV in UTF-8, maybe with a BOM."""

from __future__ import annotations

from schemas.source_spec import ColumnSpec, SourceSpec, ValueKind

GONGAN = SourceSpec(
    code="gongan",
    label="公安",
    extensions=(".csv",),
    csv_encoding="utf-8",
    columns=(
        ColumnSpec("登记流水号", "record_id", True, ValueKind.RECORD_ID),
        ColumnSpec("公民身份号码", "child_id_number", True, ValueKind.ID_NUMBER),
        ColumnSpec("姓名", "child_name", True, ValueKind.NAME),
        ColumnSpec("性别", "sex", True, ValueKind.SEX),
        ColumnSpec("民族", "ethnicity", False),
        ColumnSpec("出生日期", "birth_date", True, ValueKind.DATE),
        ColumnSpec("乡镇街道", "township", True, ValueKind.TOWNSHIP),
        ColumnSpec("母亲姓名", "mother_name", True, ValueKind.NAME),
        ColumnSpec("母亲公民身份号码", "mother_id_number", True, ValueKind.ID_NUMBER),
        ColumnSpec("父亲姓名", "father_name", False, ValueKind.NAME),
        ColumnSpec("父亲公民身份号码", "father_id_number", False, ValueKind.ID_NUMBER),
        ColumnSpec("出生医学证明编号", "birth_cert_number", False),
        ColumnSpec("申报日期", "declared_date", False, ValueKind.DATE),
    ),
)
