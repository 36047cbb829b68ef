"""计生 family-planning birth cases: xlsx (or legacy xls), first sheet."""

from __future__ import annotations

from schemas.source_spec import ColumnSpec, SourceSpec, ValueKind

JISHENG = SourceSpec(
    code="jisheng",
    label="计生",
    extensions=(".xlsx", ".xls"),
    csv_encoding="utf-8",
    columns=(
        ColumnSpec("个案编号", "record_id", True, ValueKind.RECORD_ID),
        ColumnSpec("乡镇", "township", True, ValueKind.TOWNSHIP),
        ColumnSpec("村居", "village", False),
        ColumnSpec("婴儿姓名", "child_name", False, ValueKind.NAME),
        ColumnSpec("性别", "sex", True, ValueKind.SEX),
        ColumnSpec("出生日期", "birth_date", True, ValueKind.DATE),
        ColumnSpec("孩次", "birth_order", True, ValueKind.BIRTH_ORDER),
        ColumnSpec("婴儿身份证号", "child_id_number", False, ValueKind.ID_NUMBER),
        ColumnSpec("母亲姓名", "mother_name", True, ValueKind.NAME),
        ColumnSpec("母亲身份证号", "mother_id_number", True, ValueKind.ID_NUMBER),
        ColumnSpec("父亲姓名", "father_name", False, ValueKind.NAME),
        ColumnSpec("父亲身份证号", "father_id_number", False, ValueKind.ID_NUMBER),
        ColumnSpec("出生医学证明编号", "birth_cert_number", False),
        ColumnSpec("政策属性", "policy_status", False),
        ColumnSpec("登记日期", "registered_date", False, ValueKind.DATE),
    ),
)
