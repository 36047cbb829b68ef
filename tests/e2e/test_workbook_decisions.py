"""End to end: the nightly run writes the officers' workbooks; officers fill them in; the next
run applies what they decided.

A real run writes FILE.reports/<run_id>/ (HTML report and workbooks). Decisions are typed into
the generated township workbooks with openpyxl, the way an officer fills the drop-down:
同一人 on a missed link (from the generator's truth; two children joined when linking missed
none), 非同一人 on a conflict's two records, 已核实无误 on an open case, an invalid value,
and two added rows that contradict (A=B, B=C, then A≠C). The filled files go into
inbox/review/; the next run applies or rejects each, and a full rebuild after it still obeys
them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest

from schemas.review import REVIEW_FOLDER, Rejection, ReviewColumn, Verdict
from tests.e2e.cli_runs import run_cli
from warehouse.demo_inbox import write_demo
from warehouse.run_reports import REPORTS_DONE

pytestmark = [pytest.mark.usefixtures("prefect_harness"),
              pytest.mark.xdist_group("workbook_decisions")]

BIRTHS = 300
SEED = 20140611  # not a seed linking was tuned on




def persons(warehouse: Path) -> dict[str, str]:
    """record key -> person_id, as published."""
    with duckdb.connect(str(warehouse), read_only=True) as reader:
        rows = reader.execute(
            "SELECT source || ':' || record_id, person_id FROM person_source").fetchall()
    return dict(rows)


def table(warehouse: Path, name: str) -> pl.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as reader:
        return reader.sql(f"SELECT * FROM {name}").pl()


@dataclass
class CaseRow:
    """One open case as the workbook shows it."""

    book: Path
    sheet: str
    row: int
    columns: dict[str, int]  # decision header -> column number
    case_id: str
    record: str | None
    other: str | None


def case_rows(folder: Path) -> list[CaseRow]:
    """Every case row of every workbook the run wrote, found by the decision headers."""
    found = []
    for book_path in sorted(folder.glob("*.xlsx")):
        book = openpyxl.load_workbook(book_path, read_only=True)
        for sheet in book.worksheets:
            rows = sheet.iter_rows(values_only=True)
            header = next(rows, ())
            if ReviewColumn.DECISION.value not in header:
                continue
            columns = {str(h): i + 1 for i, h in enumerate(header) if h}
            for number, values in enumerate(rows, start=2):
                value = dict(zip(columns, [values[i - 1] for i in columns.values()],
                                 strict=True))
                found.append(CaseRow(book_path, sheet.title, number, columns,
                                     str(value[ReviewColumn.CASE_ID.value]),
                                     value.get(ReviewColumn.RECORD.value),
                                     value.get(ReviewColumn.OTHER_RECORD.value)))
        book.close()
    return found


@dataclass(frozen=True)
class Decided:
    same: tuple[str, str]  # 同一人
    apart: tuple[str, str]  # 非同一人
    verified_case: str  # 已核实无误
    invalid_case: str  # "同意"
    chained: tuple[str, str]  # b=c, added row
    contradiction: tuple[str, str]  # a≠c, added row, rejected
    review_files: list[Path]


def fill_workbooks(folder: Path, review: Path, members: dict[str, str], truth: Path
                   ) -> Decided:
    """Type the decisions into copies of the generated workbooks, as an officer would."""
    rows = case_rows(folder)
    assert rows, "the run wrote no case rows"
    children = dict(pl.read_csv(truth / "records.csv", infer_schema=False).select(
        pl.col("source") + ":" + pl.col("record_id"), "child_key").iter_rows())
    # 非同一人: a conflict's two records, which linking put in one child.
    apart_row = next(r for r in rows if r.record and r.other and r.record in members
                     and members[r.record] == members.get(r.other))
    used = {members[apart_row.record or ""]}
    # 同一人: a missed link if linking made one, else two children joined all the same.
    by_child: dict[str, set[str]] = {}
    for key, person in members.items():
        by_child.setdefault(children.get(key, key), set()).add(person)
    missed = next((ps for ps in by_child.values() if len(ps) > 1 and not ps & used), None)
    person_rows = [r for r in rows if r.record in members and members[r.record] not in used]
    if missed:
        same_row = next((r for r in person_rows if members[r.record or ""] in missed),
                        person_rows[0])
        second = sorted(missed - {members[same_row.record or ""]})[0]
    else:
        same_row = person_rows[0]
        second = next(members[r.record or ""] for r in person_rows
                      if members[r.record or ""] != members[same_row.record or ""])
    a = same_row.record or ""
    b = sorted(k for k, p in members.items() if p == second)[0]
    used |= {members[a], second}
    c = sorted(k for k, p in members.items() if p not in used)[0]
    rest = [r for r in rows if r.case_id not in {apart_row.case_id, same_row.case_id}
            and r.record in members and members[r.record] not in used]
    verified_row, invalid_row = rest[0], next(r for r in rest if r.case_id != rest[0].case_id)

    def fill(row: CaseRow, record: str | None, other: str | None, decision: str) -> None:
        cells = edits.setdefault(row.book, [])
        cells.append((row.sheet, row.row, row.columns, record, other, decision, row.case_id))

    edits: dict[Path, list[tuple[str, int, dict[str, int], str | None, str | None, str,
                                 str]]] = {}
    fill(same_row, a, b, "同一人")
    fill(apart_row, apart_row.record, apart_row.other, "非同一人")
    fill(verified_row, verified_row.record, verified_row.other, "已核实无误")
    fill(invalid_row, invalid_row.record, invalid_row.other, "同意")
    review.mkdir(parents=True, exist_ok=True)
    written = []
    for book_path, changes in edits.items():
        book = openpyxl.load_workbook(book_path)
        for sheet, number, columns, record, other, decision, case_id in changes:
            cells = book[sheet]
            cells.cell(number, columns[ReviewColumn.RECORD.value], record)
            cells.cell(number, columns[ReviewColumn.OTHER_RECORD.value], other)
            cells.cell(number, columns[ReviewColumn.DECISION.value], decision)
            cells.cell(number, columns[ReviewColumn.REVIEWER.value], "张三")
            cells.cell(number, columns[ReviewColumn.REVIEWED_ON.value], "2014-03-01")
            if case_id == same_row.case_id:  # the officer adds two rows under it
                for left, right, said in ((b, c, "同一人"), (a, c, "非同一人")):
                    cells.cell(cells.max_row + 1, columns[ReviewColumn.CASE_ID.value], case_id)
                    last = cells.max_row
                    cells.cell(last, columns[ReviewColumn.RECORD.value], left)
                    cells.cell(last, columns[ReviewColumn.OTHER_RECORD.value], right)
                    cells.cell(last, columns[ReviewColumn.DECISION.value], said)
                    cells.cell(last, columns[ReviewColumn.REVIEWER.value], "张三")
        target = review / book_path.name
        book.save(target)
        written.append(target)
    return Decided((a, b), (apart_row.record or "", apart_row.other or ""),
                   verified_row.case_id, invalid_row.case_id, (b, c), (a, c), written)


@dataclass(frozen=True)
class Loop:
    reports: Path
    first: dict[str, object]
    decided: Decided
    summaries: dict[str, dict[str, object]]
    persons: dict[str, dict[str, str]]
    warehouse: Path


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Loop:
    out = tmp_path_factory.mktemp("workbook_decisions")
    write_demo(out, births=BIRTHS, seed=SEED)
    inbox, warehouse = out / "inbox", out / "warehouse.duckdb"
    first = run_cli(inbox, warehouse)
    reports = Path(str(first["reports"]))
    decided = fill_workbooks(reports, inbox / REVIEW_FOLDER, persons(warehouse),
                             out / "truth")
    summaries = {"decided": run_cli(inbox, warehouse)}
    after = {"decided": persons(warehouse)}
    summaries["rebuilt"] = run_cli(inbox, warehouse, "rebuild")
    after["rebuilt"] = persons(warehouse)
    return Loop(reports, first, decided, summaries, after, warehouse)


def test_the_run_writes_the_html_report_and_the_workbooks(loop: Loop) -> None:
    assert loop.reports == loop.warehouse.with_name("warehouse.duckdb.reports") / str(
        loop.first["run_id"])
    assert (loop.reports / "report.html").is_file()
    assert (loop.reports / REPORTS_DONE).is_file()
    assert len(list(loop.reports.glob("*.xlsx"))) >= 2  # the county and its townships


def test_the_filled_workbooks_are_applied_or_rejected_as_decided(loop: Loop) -> None:
    decided = loop.decided
    audit = table(loop.warehouse, "review_decision")
    verdicts = {(r["decision"], r["verdict"], r["reason"])
                for r in audit.iter_rows(named=True)}
    assert ("same_person", Verdict.ACCEPTED.value, None) in verdicts
    assert ("not_same_person", Verdict.ACCEPTED.value, None) in verdicts
    assert ("verified", Verdict.ACCEPTED.value, None) in verdicts
    assert any(v == Verdict.REJECTED.value and r == Rejection.INVALID_DECISION.value
               for _, v, r in verdicts)
    assert ("not_same_person", Verdict.REJECTED.value, Rejection.CONTRADICTION.value) in verdicts
    for stage in ("decided", "rebuilt"):
        members = loop.persons[stage]
        a, b = decided.same
        assert members[a] == members[b], stage
        assert members[decided.chained[0]] == members[decided.chained[1]], stage
        r, s = decided.apart
        assert members[r] != members[s], stage
        status = dict(table(loop.warehouse, "discrepancy").select(
            "discrepancy_id", "status").iter_rows())
        assert status[decided.verified_case] == "resolved", stage
    summary = loop.summaries["decided"]["decisions"]
    assert isinstance(summary, dict) and summary["rejected"] == 2


def test_the_next_reports_no_longer_list_the_closed_case(loop: Loop) -> None:
    latest = Path(str(loop.summaries["rebuilt"]["reports"]))
    assert latest != loop.reports
    assert loop.decided.verified_case not in {r.case_id for r in case_rows(latest)}
