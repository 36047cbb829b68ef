"""The township reference list reference/divisions.csv (UTF-8)."""

from __future__ import annotations

from schemas.source_spec import ColumnSpec, SourceSpec

DIVISIONS = SourceSpec(
    code="divisions",
    label="区划",
    extensions=(".csv",),
    csv_encoding="utf-8",
    columns=(
        ColumnSpec("区划代码", "township_code", True),
        ColumnSpec("名称", "township_name", True),
        ColumnSpec("别名", "aliases", False),
    ),
)

DIVISIONS_PATH = "reference/divisions.csv"
ALIAS_SEPARATOR = "|"
