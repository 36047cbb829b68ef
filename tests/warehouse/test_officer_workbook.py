"""The officers' workbooks of a real run: sheets, headers, drop-downs, every open case once in
the right workbook, nothing but masked ID numbers in any cell."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet
from typer.testing import CliRunner

from flows.cli import app
from schemas.labels import DISCREPANCY_KIND_LABELS, QUARANTINE_REASON_LABELS, SOURCE_LABELS
from schemas.review import DECISION_CHOICES, ReviewColumn
from schemas.workbook import (
    CASE_COLUMNS,
    COUNTY_LABEL,
    LEVEL_QUALIFIER_LABELS,
    SUMMARY_SHEET,
    TOWNSHIPS_SHEET,
    WORKBOOK_TITLE,
)
from transforms.compare import COMPARISONS
from transforms.normalise_ids import is_id_number_check_digit_valid
from warehouse.officer_workbook import write_officer_workbooks
from warehouse.read_only_state import open_state_read_only
from warehouse.run_state import run_lock
from warehouse.state_paths import StatePaths
from warehouse.workbook_frames import PublishedRunMismatchError, masked_text

from .conftest import LEAKY_CHILD_ID, LEAKY_MOTHER_ID_15

pytestmark = pytest.mark.xdist_group("officer_warehouse")

KIND_LABELS = {k.value: label for k, label in DISCREPANCY_KIND_LABELS.items()}
MASKED_ID = re.compile(r"^\d{4}\*+[\dX]{2}$")
DIGIT_RUN = re.compile(r"[0-9Xx]{15,}")


def published(warehouse: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as reader:
        return reader.sql(sql).pl()


@pytest.fixture(scope="module")
def written(officer_warehouse: Path) -> tuple[str, list[Path]]:
    """`birthrec workbook` at its default place: (run id, the workbooks written)."""
    result = CliRunner().invoke(app, ["workbook", "--warehouse", str(officer_warehouse)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    folder = StatePaths(officer_warehouse).reports / summary["run_id"]
    assert Path(summary["folder"]) == folder
    return summary["run_id"], sorted(folder.glob("*.xlsx"))


@pytest.fixture(scope="module")
def books(written: tuple[str, list[Path]]) -> dict[str, Workbook]:
    return {path.name: openpyxl.load_workbook(path) for path in written[1]}


@pytest.fixture(scope="module")
def townships(officer_warehouse: Path) -> dict[str, str]:
    frame = published(officer_warehouse, "SELECT code, label FROM label_township")
    return dict(frame.iter_rows())


@pytest.fixture(scope="module")
def open_cases(officer_warehouse: Path) -> pl.DataFrame:
    return published(officer_warehouse, """
SELECT d.discrepancy_id, d.kind, d.source, d.record_id, d.person_id, p.township_code
FROM discrepancy d LEFT JOIN person p USING (person_id) WHERE d.status = 'open'""")


def county_name() -> str:
    return f"{WORKBOOK_TITLE}_{COUNTY_LABEL}.xlsx"


def rows_of(sheet: Worksheet) -> list[tuple[object, ...]]:
    return list(sheet.iter_rows(values_only=True))


def case_sheets(book: Workbook) -> list[Worksheet]:
    """Sheets the review loop reads: 核查结论 in the header row."""
    return [s for s in book.worksheets
            if ReviewColumn.DECISION.value in (rows_of(s)[0] if s.max_row else ())]


def cases_in(book: Workbook) -> list[tuple[str, dict[str, object]]]:
    """(sheet name, row by header) of every case row in a workbook."""
    found = []
    for sheet in case_sheets(book):
        header, *rows = rows_of(sheet)
        found += [(sheet.title, dict(zip(header, row, strict=True))) for row in rows]
    return found


def test_one_workbook_for_the_county_and_one_per_township(
    written: tuple[str, list[Path]], townships: dict[str, str]
) -> None:
    names = {path.name for path in written[1]}
    expected = {county_name()} | {f"{WORKBOOK_TITLE}_{name}_{code}.xlsx"
                                  for code, name in townships.items()}
    assert names == expected


def test_county_workbook_has_summary_townships_and_a_reject_sheet_per_department(
    books: dict[str, Workbook]
) -> None:
    sheets = books[county_name()].sheetnames
    assert sheets[:2] == [SUMMARY_SHEET, TOWNSHIPS_SHEET]
    for label in SOURCE_LABELS.values():
        assert f"{label}退回数据" in sheets


def test_township_workbooks_have_a_summary_and_a_sheet_per_open_kind(
    books: dict[str, Workbook], townships: dict[str, str], open_cases: pl.DataFrame
) -> None:
    for code, name in townships.items():
        book = books[f"{WORKBOOK_TITLE}_{name}_{code}.xlsx"]
        kinds = open_cases.filter(pl.col("township_code") == code).get_column("kind").unique()
        assert book.sheetnames[0] == SUMMARY_SHEET
        assert set(book.sheetnames[1:]) == {KIND_LABELS[k] for k in kinds}


def test_case_sheets_have_the_header_row_first_frozen_and_filtered(
    books: dict[str, Workbook]
) -> None:
    headers = tuple(c.header for c in CASE_COLUMNS)
    checked = 0
    for book in books.values():
        for sheet in case_sheets(book):
            assert rows_of(sheet)[0] == headers
            assert sheet.freeze_panes == "B2"
            assert sheet.auto_filter.ref is not None and sheet.auto_filter.ref.startswith("A1:")
            checked += 1
    assert checked > 5
    assert {c.value for c in ReviewColumn} <= set(headers)


def test_decision_drop_down_offers_exactly_the_four_decisions_on_every_case_row(
    books: dict[str, Workbook]
) -> None:
    for book in books.values():
        for sheet in case_sheets(book):
            header = rows_of(sheet)[0]
            column = openpyxl.utils.get_column_letter(
                header.index(ReviewColumn.DECISION.value) + 1)
            (validation,) = sheet.data_validations.dataValidation
            assert validation.type == "list"
            assert validation.formula1 == '"' + ",".join(DECISION_CHOICES) + '"'
            rows = f"{column}2" + (f":{column}{sheet.max_row}" if sheet.max_row > 2 else "")
            assert str(validation.sqref) == rows


def test_every_open_case_appears_exactly_once_in_its_kind_sheet(
    books: dict[str, Workbook], open_cases: pl.DataFrame
) -> None:
    seen = Counter()
    kind_of = dict(open_cases.select("discrepancy_id", "kind").iter_rows())
    for book in books.values():
        for sheet, row in cases_in(book):
            case_id = str(row[ReviewColumn.CASE_ID.value])
            seen[case_id] += 1
            assert sheet == KIND_LABELS[kind_of[case_id]]
    assert set(seen) == set(kind_of)
    assert set(seen.values()) == {1}


def test_township_workbooks_hold_only_their_townships_cases(
    books: dict[str, Workbook], townships: dict[str, str], open_cases: pl.DataFrame
) -> None:
    township_of = dict(open_cases.select("discrepancy_id", "township_code").iter_rows())
    for code, name in townships.items():
        for _, row in cases_in(books[f"{WORKBOOK_TITLE}_{name}_{code}.xlsx"]):
            assert township_of[str(row[ReviewColumn.CASE_ID.value])] == code
    for _, row in cases_in(books[county_name()]):
        assert township_of[str(row[ReviewColumn.CASE_ID.value])] not in townships


def test_record_columns_are_prefilled_with_the_case_and_the_record_it_concerns(
    books: dict[str, Workbook], open_cases: pl.DataFrame, officer_warehouse: Path
) -> None:
    person_of = dict(published(officer_warehouse, """
SELECT source || ':' || record_id, person_id FROM person_source""").iter_rows())
    cases = {row[0]: row for row in open_cases.iter_rows()}
    conflicts = shared = 0
    for book in books.values():
        for _, row in cases_in(book):
            case_id, kind, source, record_id, person_id, _ = cases[
                str(row[ReviewColumn.CASE_ID.value])]
            record = row[ReviewColumn.RECORD.value]
            other = row[ReviewColumn.OTHER_RECORD.value]
            if record_id is not None:
                assert record == f"{source}:{record_id}"
            assert person_of[record] == person_id
            assert row[ReviewColumn.DECISION.value] is None
            if kind.endswith("_conflict") or kind == "duplicate_registration":
                assert other is not None and other != record
                assert person_of[other] == person_id
                if kind == "duplicate_registration":
                    assert str(other).split(":")[0] == source
                conflicts += 1
            if kind == "shared_id":  # 一号多人: explained by the other child's record
                assert other is not None and person_of[other] != person_id
                shared += 1
    assert conflicts > 0 and shared > 0


def test_linked_cases_say_which_fields_agreed_and_their_weights(
    books: dict[str, Workbook]
) -> None:
    explained = [row for book in books.values() for _, row in cases_in(book)
                 if row["对应记录"] and row["关联依据（一致的字段及权重）"]]
    assert explained
    for row in explained:
        for part in str(row["关联依据（一致的字段及权重）"]).split("；"):
            assert re.fullmatch(r"\S+ \+\d+\.\d", part), part


def test_every_comparison_level_has_a_chinese_label() -> None:
    for comparison in COMPARISONS:
        for label in comparison.level_labels:
            assert label.partition(" ")[2] in LEVEL_QUALIFIER_LABELS, label


def test_summary_figures_are_the_published_ones(
    books: dict[str, Workbook], officer_warehouse: Path, open_cases: pl.DataFrame
) -> None:
    rows = [row for row in rows_of(books[county_name()][SUMMARY_SHEET]) if row[0]]
    by_label = {row[0]: row for row in rows}
    kpi = published(officer_warehouse,
                    "SELECT * FROM registration_kpi WHERE township_code IS NULL").row(0, named=True)
    for source, label in SOURCE_LABELS.items():
        assert by_label[label][1] == kpi[f"children_in_{source.value}"]
    assert by_label["覆盖率"][1:4] == (pytest.approx(kpi["coverage"]), 0.95,
                                     "是" if kpi["meets_coverage_target"] else "否")
    assert by_label["准确率"][2] == 0.9
    assert by_label["合计"][2] == open_cases.height
    ratio = published(officer_warehouse, """SELECT ratio, ci_low, ci_high FROM sex_ratio
WHERE source = 'reconciled' AND township_code IS NULL AND birth_order IS NULL
  AND period = 'all'""").row(0)
    assert by_label["核实后（全部婴儿）"][5:8] == pytest.approx(ratio)


def test_reject_sheets_list_each_departments_quarantine_with_chinese_reasons(
    books: dict[str, Workbook], officer_warehouse: Path
) -> None:
    quarantine = published(officer_warehouse, "SELECT source, reason FROM quarantine")
    reasons = {r.value: label for r, label in QUARANTINE_REASON_LABELS.items()}
    for source, label in SOURCE_LABELS.items():
        header, *rows = rows_of(books[county_name()][f"{label}退回数据"])
        expected = quarantine.filter(pl.col("source") == source.value)
        assert len(rows) == expected.height
        assert Counter(row[header.index("原因")] for row in rows) == Counter(
            reasons[r] for r in expected.get_column("reason"))


def test_quarantined_id_numbers_are_shown_masked(books: dict[str, Workbook]) -> None:
    header, *rows = rows_of(books[county_name()]["公安退回数据"])
    leaky = [dict(zip(header, row, strict=True)) for row in rows if row[1] != "整个文件"
             and row[header.index("原因代码")] == "no_record_id"]
    assert any(row["公民身份号码"] == LEAKY_CHILD_ID[:4] + "*" * 12 + LEAKY_CHILD_ID[-2:]
               for row in leaky)
    assert any(row["母亲公民身份号码"] == LEAKY_MOTHER_ID_15[:4] + "*" * 9
               + LEAKY_MOTHER_ID_15[-2:] for row in leaky)


def unmasked_id_numbers(texts: list[str]) -> list[str]:
    """Every 18-character run with a valid check digit, and every 15-digit run holding a real
    date, inside any text (full-width digits folded first)."""
    windows = set()
    for text in texts:
        for run in DIGIT_RUN.findall(unicodedata.normalize("NFKC", text)):
            for width in (15, 18):
                windows |= {run[i:i + width] for i in range(len(run) - width + 1)}
    candidates = pl.Series(sorted(windows), dtype=pl.String)
    eighteen = pl.select(is_id_number_check_digit_valid(pl.lit(candidates))).to_series()
    old_form = pl.select(
        pl.lit(candidates).str.contains(r"^\d{15}$")
        & pl.lit(candidates).str.slice(6, 6).str.to_date("%y%m%d", strict=False).is_not_null()
    ).to_series()
    return candidates.filter(eighteen | old_form).to_list()


def test_no_cell_of_any_workbook_holds_an_id_number(books: dict[str, Workbook]) -> None:
    # text and whole numbers; a float's digits (0.0909...) are not an ID number
    texts = [str(value) for book in books.values() for sheet in book.worksheets
             for row in sheet.iter_rows(values_only=True) for value in row
             if isinstance(value, str | int)]
    assert unmasked_id_numbers(texts) == []
    assert sum(bool(MASKED_ID.match(text)) for text in texts) > 100  # the scan saw IDs
    assert unmasked_id_numbers([LEAKY_CHILD_ID, f"x{LEAKY_MOTHER_ID_15}"]) != []


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("45082120130101123X", "4508************3X", id="18 characters"),
    pytest.param("张三450821199001014561", "张三4508************61", id="inside a name"),
    pytest.param("450821880101123", "4508************23", id="old 15 digits"),
    pytest.param("４５０８２１８８０１０１１２３", "４５０８************２３", id="full-width"),
    pytest.param("P450812345", "P450812345", id="certificate number kept"),
    pytest.param("2013106000001", "2013106000001", id="13-digit record id kept"),
])
def test_masked_text_hides_id_numbers_anywhere_in_text(text: str, expected: str) -> None:
    assert pl.select(masked_text(pl.lit(text))).item() == expected


def test_workbook_is_refused_for_another_run(officer_warehouse: Path, tmp_path: Path) -> None:
    with open_state_read_only(officer_warehouse) as state, pytest.raises(
            PublishedRunMismatchError):
        write_officer_workbooks(state, officer_warehouse, "run-19990101-0000000000", tmp_path)


def test_workbook_command_is_refused_while_a_run_is_active(officer_warehouse: Path) -> None:
    with run_lock(StatePaths(officer_warehouse).lock_file):
        result = CliRunner().invoke(app, ["workbook", "--warehouse", str(officer_warehouse)])
    assert result.exit_code == 1
    assert "核对任务正在运行" in result.stdout and "run holds the state" in result.stdout
