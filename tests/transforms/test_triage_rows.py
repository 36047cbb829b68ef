"""Triage: which normalised rows are usable, and the reason each other row is quarantined."""

from __future__ import annotations

import polars as pl
import pytest

from schemas.codes import QuarantineReason
from transforms.normalise_records import FOOTER_COLUMNS, IDENTIFYING_COLUMNS
from transforms.triage_rows import triage_rows

COLUMNS = sorted({"record_id", *FOOTER_COLUMNS, *IDENTIFYING_COLUMNS})
# row_number -> (the row's cells as read, its reason or None when usable)
ROWS: dict[int, tuple[dict[str, str], str | None]] = {
    2: ({"record_id": "J1", "mother_name": "张丽"}, None),
    3: ({}, QuarantineReason.BLANK_ROW.value),
    4: ({"record_id": "合计：2"}, QuarantineReason.FOOTER_ROW.value),
    5: ({"mother_name": "李娜"}, QuarantineReason.NO_RECORD_ID.value),
    6: ({"record_id": "J2", "village": "新华村"}, QuarantineReason.NO_IDENTIFYING_FIELDS.value),
    7: ({"record_id": "J3", "birth_date": "2013-05-04"}, None),
}


def frame_of(rows: dict[int, tuple[dict[str, str], str | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        {"row_number": list(rows),
         **{c: [cells.get(c) for cells, _ in rows.values()] for c in COLUMNS}},
        schema={"row_number": pl.Int64, **dict.fromkeys(COLUMNS, pl.String)},
    )


def test_every_row_is_usable_or_quarantined_with_its_reason_in_order() -> None:
    frame = frame_of(ROWS)
    usable, quarantined = triage_rows(frame, frame)
    assert usable.get_column("row_number").to_list() == [
        n for n, (_, reason) in ROWS.items() if reason is None]
    assert quarantined.select("row_number", "reason").rows() == [
        (n, reason) for n, (_, reason) in ROWS.items() if reason is not None]
    assert usable.columns == frame.columns


def test_rows_that_do_not_line_up_are_refused() -> None:
    frame = frame_of(ROWS)
    with pytest.raises(ValueError, match="keep every row in order"):
        triage_rows(frame, frame.reverse())
