"""卫生 hospital birth medical certificates (出生医学证明): CSV in GB18030."""

from __future__ import annotations

from schemas.source_spec import ColumnSpec, SourceSpec, ValueKind

WEISHENG = SourceSpec(
    code="weisheng",
    label="卫生",
    extensions=(".csv",),
    csv_encoding="gb18030",
    columns=(
        ColumnSpec("出生医学证明编号", "record_id", True, ValueKind.RECORD_ID),
        ColumnSpec("新生儿姓名", "child_name", False, ValueKind.NAME),
        ColumnSpec("性别", "sex", True, ValueKind.SEX),
        ColumnSpec("出生时间", "birth_date", True, ValueKind.DATE),
        ColumnSpec("出生孕周", "gestational_weeks", False, ValueKind.NUMBER),
        ColumnSpec("出生体重", "birth_weight_g", False, ValueKind.NUMBER),
        ColumnSpec("助产机构", "hospital", False),
        ColumnSpec("出生地点", "township", True, ValueKind.TOWNSHIP),
        ColumnSpec("母亲姓名", "mother_name", True, ValueKind.NAME),
        ColumnSpec("母亲身份证件号码", "mother_id_number", True, ValueKind.ID_NUMBER),
        ColumnSpec("父亲姓名", "father_name", False, ValueKind.NAME),
        ColumnSpec("父亲身份证件号码", "father_id_number", False, ValueKind.ID_NUMBER),
        ColumnSpec("签发日期", "issued_date", False, ValueKind.DATE),
    ),
)
