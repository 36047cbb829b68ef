"""民政 civil-affairs events about infants (death, adoption, foundling): xlsx, xls or UTF-8 CSV."""

from __future__ import annotations

from schemas.source_spec import ColumnSpec, SourceSpec, ValueKind

MINZHENG = SourceSpec(
    code="minzheng",
    label="民政",
    extensions=(".xlsx", ".xls", ".csv"),
    csv_encoding="utf-8",
    columns=(
        ColumnSpec("业务编号", "record_id", True, ValueKind.RECORD_ID),
        ColumnSpec("业务类型", "event_type", True),
        ColumnSpec("姓名", "child_name", True, ValueKind.NAME),
        ColumnSpec("性别", "sex", True, ValueKind.SEX),
        ColumnSpec("出生日期", "birth_date", True, ValueKind.DATE),
        ColumnSpec("身份证号", "child_id_number", False, ValueKind.ID_NUMBER),
        ColumnSpec("母亲姓名", "mother_name", False, ValueKind.NAME),
        ColumnSpec("母亲身份证号", "mother_id_number", False, ValueKind.ID_NUMBER),
        ColumnSpec("乡镇", "township", False, ValueKind.TOWNSHIP),
        ColumnSpec("业务日期", "event_date", True, ValueKind.DATE),
    ),
)

# 业务类型 values, as the department writes them, mapped to event codes in schemas.codes.
EVENT_TYPE_LABELS: dict[str, str] = {
    "死亡登记": "infant_death",
    "收养登记": "adoption",
    "弃婴收留": "foundling",
}
