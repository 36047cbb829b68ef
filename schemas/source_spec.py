"""The shape of a source declaration: a department file's headers and what they mean."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ValueKind(StrEnum):
    """How a column's text is normalised downstream."""

    TEXT = "text"
    RECORD_ID = "record_id"
    ID_NUMBER = "id_number"
    NAME = "name"
    DATE = "date"
    SEX = "sex"
    BIRTH_ORDER = "birth_order"
    TOWNSHIP = "township"
    NUMBER = "number"


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a department's file: its Chinese header and its canonical name."""

    header: str
    name: str
    required: bool
    kind: ValueKind = ValueKind.TEXT


@dataclass(frozen=True)
class SourceSpec:
    """One department's extract format (CONTRACT.md section 1)."""

    code: str
    label: str
    extensions: tuple[str, ...]
    csv_encoding: str
    columns: tuple[ColumnSpec, ...]

    @property
    def required_headers(self) -> tuple[str, ...]:
        return tuple(c.header for c in self.columns if c.required)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise KeyError(name)
