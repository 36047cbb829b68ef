"""The list sheets' rows built from whole columns are the XML xlsxwriter writes cell by cell."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from zipfile import ZipFile

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from xlsxwriter.workbook import Workbook

from warehouse import workbook_rows
from warehouse.workbook_rows import SheetRows, can_build_rows, fill_sheet_rows
from warehouse.workbook_sheets import WORKBOOK_OPTIONS

SHEET = "xl/worksheets/sheet1.xml"
CREATED = datetime(2014, 2, 10, 6, 0)  # so the two packages differ only where rows do
TRICKY_TEXTS = [
    "普通文本", "", None, " leading", "trailing ", "\u3000全角空格", "a\tb", "line\nbreak",
    "<b>&amp;</b>", '"quoted"', "_x0041_ literal escape", "_X00ZZ_ not one", "ctrl\x01\x1f",
    "\x00", "nul\ufffe\uffff", "=1+1", "http://example.com", "007", "1e5", "𠮷野家",
    "4501************3X", "a" * 16_000, "𠮷" * 16_000,
]


def parts_by_xlsxwriter(frame: pl.DataFrame, headers: list[str]) -> dict[str, bytes]:
    """The oracle: every row written by xlsxwriter's write_row, as the workbook used to."""
    out = io.BytesIO()
    book = Workbook(out, WORKBOOK_OPTIONS)
    book.set_properties({"created": CREATED})
    sheet = book.add_worksheet("cases")
    sheet.write_row(0, 0, headers)
    for row_number, row in enumerate(frame.iter_rows(), start=1):
        sheet.write_row(row_number, 0, row)
    book.close()
    with ZipFile(out) as package:
        return {name: package.read(name) for name in package.namelist()}


def parts_by_columns(frame: pl.DataFrame, headers: list[str], tmp_path: Path
                     ) -> dict[str, bytes]:
    skeleton = io.BytesIO()
    book = Workbook(skeleton, WORKBOOK_OPTIONS)
    book.set_properties({"created": CREATED})
    sheet = book.add_worksheet("cases")
    sheet.write_row(0, 0, headers)
    book.close()
    target = tmp_path / "filled.xlsx"
    fill_sheet_rows(skeleton, target, [SheetRows.for_sheet(sheet.index, frame)])
    with ZipFile(target) as package:
        return {name: package.read(name) for name in package.namelist()}


def tricky_frame() -> pl.DataFrame:
    count = len(TRICKY_TEXTS)
    return pl.DataFrame({
        "text": TRICKY_TEXTS,
        "reversed": list(reversed(TRICKY_TEXTS)),
        "probability": [None, 0.0, 1.0, 0.5, 0.9876, 0.0001, 1e-05, 123456789.125,
                        *([0.3333] * (count - 8))],
        "count": pl.Series([*range(count - 1), None], dtype=pl.Int64),
    })


@pytest.mark.parametrize("plan_min_rows", [
    pytest.param(0, id="columns looked at first"),
    pytest.param(10**9, id="every column escaped"),
])
def test_tricky_values_give_the_same_sheet_as_xlsxwriter(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan_min_rows: int) -> None:
    monkeypatch.setattr(workbook_rows, "PLAN_MIN_ROWS", plan_min_rows)
    frame = tricky_frame()
    headers = ["文本", "倒序", "匹配概率", "数"]
    assert parts_by_columns(frame, headers, tmp_path) == parts_by_xlsxwriter(frame, headers)


def test_rows_without_a_cell_are_left_out_and_do_not_widen_the_sheet(tmp_path: Path) -> None:
    frame = pl.DataFrame({"a": ["x", None, "", None], "b": [None, None, "", ""]})
    parts = parts_by_columns(frame, ["甲", "乙"], tmp_path)
    assert parts == parts_by_xlsxwriter(frame, ["甲", "乙"])
    assert b'<dimension ref="A1:B2"/>' in parts[SHEET]


def test_rows_built_in_pieces_join_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workbook_rows, "ROWS_PER_PIECE", 7)
    frame = pl.DataFrame({"id": [f"CASE-{n:05d}" for n in range(50)],
                          "note": [None if n % 3 else f"第{n}行" for n in range(50)]})
    assert parts_by_columns(frame, ["案件编号", "备注"], tmp_path) == parts_by_xlsxwriter(
        frame, ["案件编号", "备注"])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), min_size=1, max_size=8))
def test_any_text_gives_the_same_cells_as_xlsxwriter(tmp_path_factory: pytest.TempPathFactory,
                                                      texts: list[str | None]) -> None:
    frame = pl.DataFrame({"text": texts, "same": texts}, schema={"text": pl.String,
                                                                  "same": pl.String})
    tmp_path = tmp_path_factory.mktemp("rows")
    expected = parts_by_xlsxwriter(frame, ["文本", "同"])
    for plan_min_rows in (0, 10**9):  # columns looked at first, or every column escaped
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(workbook_rows, "PLAN_MIN_ROWS", plan_min_rows)
            assert parts_by_columns(frame, ["文本", "同"], tmp_path) == expected


def test_text_past_excels_limit_is_cut_and_the_rest_of_its_row_kept(tmp_path: Path) -> None:
    """xlsxwriter cuts such text the same way, but its write_row then drops the row's
    remaining cells; the workbook never held such text, and now would lose nothing."""
    frame = pl.DataFrame({"long": ["a" * 40_000, "𠮷" * 20_000], "after": ["x", "y"]})
    sheet = parts_by_columns(frame, ["长", "后"], tmp_path)[SHEET].decode()
    assert f"<t>{'a' * 32_767}</t>" in sheet
    assert f"<t>{'𠮷' * 16_383}</t>" in sheet
    assert '<c r="B2" t="inlineStr"><is><t>x</t>' in sheet
    assert '<c r="B3" t="inlineStr"><is><t>y</t>' in sheet


def test_only_text_and_number_columns_are_built_from_columns() -> None:
    assert can_build_rows(tricky_frame())
    assert not can_build_rows(pl.DataFrame({"flag": [True]}))


def test_rows_for_a_sheet_the_workbook_lacks_are_refused(tmp_path: Path) -> None:
    skeleton = io.BytesIO()
    book = Workbook(skeleton, WORKBOOK_OPTIONS)
    book.add_worksheet("cases").write_row(0, 0, ["案件编号"])
    book.close()
    with pytest.raises(ValueError, match="sheet2.xml"):
        fill_sheet_rows(skeleton, tmp_path / "filled.xlsx",
                        [SheetRows.for_sheet(1, pl.DataFrame({"id": ["CASE-1"]}))])


@pytest.mark.parametrize("plan_min_rows", [
    pytest.param(0, id="each sheet on its own"),
    pytest.param(30, id="small sheets in one batch, a big one on its own"),
    pytest.param(10**9, id="all sheets in one batch"),
])
def test_sheets_of_one_workbook_get_their_own_rows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan_min_rows: int) -> None:
    monkeypatch.setattr(workbook_rows, "PLAN_MIN_ROWS", plan_min_rows)
    sheets = {
        "冲突": pl.DataFrame({"id": ["A-1", "A-2", None], "p": [0.5, None, 1.0]}),
        "空行": pl.DataFrame({"id": [None, ""], "p": [None, None]}, schema={"id": pl.String,
                                                                          "p": pl.Float64}),
        "多": pl.DataFrame({"id": [f"C-{n}" for n in range(45)], "p": [n / 7 for n in range(45)]}),
        "退回": pl.DataFrame({"file": ["f.csv", "g.csv"], "why": ["<坏>", " 空格"]}),
    }

    def package(filled: bool) -> dict[str, bytes]:
        out = io.BytesIO()
        book = Workbook(out, WORKBOOK_OPTIONS)
        book.set_properties({"created": CREATED})
        rows = []
        for name, frame in sheets.items():
            sheet = book.add_worksheet(name)
            sheet.write_row(0, 0, list(frame.columns))
            if filled:
                rows.append(SheetRows.for_sheet(sheet.index, frame))
            else:
                for row_number, row in enumerate(frame.iter_rows(), start=1):
                    sheet.write_row(row_number, 0, row)
        book.close()
        if filled:
            target = tmp_path / "filled.xlsx"
            fill_sheet_rows(out, target, rows)
            out = io.BytesIO(target.read_bytes())
        with ZipFile(out) as zipped:
            return {name: zipped.read(name) for name in zipped.namelist()}

    assert package(filled=True) == package(filled=False)
