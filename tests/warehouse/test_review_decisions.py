"""Decision files read from real xlsx / CSV files and judged against a real state database:
every case sheet, every encoding, rejected files and sheets, same bytes twice, revocation
across nights, and cases closed while their fingerprint holds."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from pathlib import Path

import duckdb
import openpyxl
import polars as pl
import pytest

from schemas.canonical import CANONICAL
from schemas.published import REVIEW_DECISION
from schemas.review import REVIEW_FOLDER, Rejection, ReviewColumn, Standing, Verdict
from transforms.link_records import link_records
from warehouse.link_store import constraint_recs, create_link_state_sql
from warehouse.reconciled_tables import create_register_sql
from warehouse.review_decisions import (
    apply_review_decisions,
    file_decisions,
    ingest_review_decisions,
    list_review_files,
    load_link_constraints,
    stored_decisions,
)
from warehouse.state_store import open_state

HEADERS = [c.value for c in ReviewColumn]  # 案件编号 记录 对应记录 核查结论 备注 核查人 核查日期
ROWS = [
    ["D1", "gongan:G1", "weisheng:W2", "同一人", "同一孩子 45010219900101123X", "张三",
     "2014-03-01"],
    ["D2", "jisheng:J3", "", "", "", "", ""],  # not decided: no decision
    ["D2", "jisheng:J3", "", "已核实无误", "", "李四", "2014/3/2"],
]


def write_workbook(path: Path, sheets: dict[str, Sequence[Sequence[object]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append([value if value != "" else None for value in row])
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def write_csv(path: Path, rows: Sequence[Sequence[str]], encoding: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("\r\n".join(",".join(row) for row in rows).encode(encoding))
    return path


def decisions_of(inbox: Path) -> pl.DataFrame:
    return pl.concat([file_decisions(f, i) for i, f in enumerate(list_review_files(inbox))])


def test_every_case_sheet_of_a_workbook_is_read(tmp_path: Path) -> None:
    write_workbook(tmp_path / REVIEW_FOLDER / "核查表_长垌乡_451324203.xlsx", {
        "汇总": [["项目", "数值"], ["出生", 12]],
        "未落户": [HEADERS, *ROWS],
        "性别不一致": [HEADERS[::-1], ["2014-03-03", "王五", "", "已更正", "", "", "D9"]],
        "部门退回": [["文件", "行号", "原因"], ["a.csv", 2, "x"]],
    })
    read = decisions_of(tmp_path).sort("sheet_index", "row_number")
    assert read.select("sheet", "row_number", "case_id", "decision", "reviewed_on").rows() == [
        ("未落户", 2, "D1", "same_person", date(2014, 3, 1)),
        ("未落户", 4, "D2", "verified", date(2014, 3, 2)),
        ("性别不一致", 2, "D9", "corrected", date(2014, 3, 3)),
    ]
    assert read.get_column("note")[0] == "同一孩子 4501************3X"
    assert read.get_column("verdict").to_list() == [None] * 3
    assert read.get_column("decision_key").n_unique() == 3


def test_a_case_sheet_lacking_a_required_column_is_rejected_the_rest_read(tmp_path: Path
                                                                          ) -> None:
    lacking = [h for h in HEADERS if h != ReviewColumn.REVIEWER.value]
    write_workbook(tmp_path / REVIEW_FOLDER / "review_20140301.xlsx", {
        "未落户": [HEADERS, ROWS[0]], "性别不一致": [lacking, ["D9", "", "", "已更正", "", ""]]})
    read = decisions_of(tmp_path).sort("sheet_index")
    assert read.select("sheet", "row_number", "verdict", "reason").rows() == [
        ("未落户", 2, None, None),
        ("性别不一致", None, Verdict.REJECTED.value, Rejection.MISSING_COLUMNS.value)]
    assert read.get_column("message")[1] == (
        "review/review_20140301.xlsx sheet 性别不一致: missing required column(s) 核查人 — "
        "sheet not read; use the workbook's own columns")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_csv_reads_in_utf8_with_or_without_bom_and_gb18030(tmp_path: Path, encoding: str
                                                            ) -> None:
    rare = [*ROWS[0][:5], "䶮 㛃", ROWS[0][6]]  # rare name characters only GB18030 has
    write_csv(tmp_path / REVIEW_FOLDER / "review_20140301.csv",
              [[f" {h} " for h in HEADERS], rare, *ROWS[1:]], encoding)
    read = decisions_of(tmp_path).sort("row_number")
    assert read.select("row_number", "case_id", "reviewer", "file_date").rows() == [
        (2, "D1", "䶮 㛃", date(2014, 3, 1)), (4, "D2", "李四", date(2014, 3, 1))]
    assert read.get_column("sheet").to_list() == [None, None]


@pytest.mark.parametrize(("name", "content", "reason", "says"), [
    pytest.param("review_20140301.csv", b"\xff\xfe\xff\xff,\xff", Rejection.BAD_ENCODING,
                 "neither UTF-8 nor GB18030", id="undecodable"),
    pytest.param("review_20140301.csv", "案件编号,记录,核查结论\nD1,gongan:G1,同一人".encode(),
                 Rejection.MISSING_COLUMNS, "missing required column(s) 核查人", id="no 核查人"),
    pytest.param("review_20140301.csv", "甲,乙\n1,2".encode(), Rejection.MISSING_COLUMNS,
                 "missing the required column(s) 案件编号, 核查结论, 核查人", id="no columns"),
    pytest.param("review_20140301.xlsx", b"not a workbook", Rejection.UNREADABLE_FILE,
                 "cannot be opened as a workbook", id="broken workbook"),
    pytest.param("review_20140301.txt", b"x", Rejection.BAD_FILE_NAME,
                 "decision files must be .xlsx or .xlsm or .xls or .csv", id="extension"),
])
def test_a_file_that_cannot_be_read_is_one_rejected_audit_row(
    tmp_path: Path, name: str, content: bytes, reason: Rejection, says: str
) -> None:
    (tmp_path / REVIEW_FOLDER).mkdir()
    (tmp_path / REVIEW_FOLDER / name).write_bytes(content)
    read = decisions_of(tmp_path)
    assert read.select("row_number", "verdict", "reason").rows() == [
        (None, Verdict.REJECTED.value, reason.value)]
    assert read.get_column("message").item().startswith(f"review/{name}: {says}")


def test_files_are_ordered_by_the_date_in_their_name(tmp_path: Path) -> None:
    for name in ("b_20140302.csv", "a_20140302_2.csv", "z_20140301.csv", "核查表_乡_451324203.csv"):
        write_csv(tmp_path / REVIEW_FOLDER / name, [HEADERS], "utf-8")
    assert [(f.relative, f.file_date) for f in list_review_files(tmp_path)] == [
        ("review/z_20140301.csv", date(2014, 3, 1)),
        ("review/b_20140302.csv", date(2014, 3, 2)),
        ("review/a_20140302_2.csv", date(2014, 3, 2)),
        ("review/核查表_乡_451324203.csv", None),
    ]


# A small state: records in use, their children, the cases published last night.
IN_USE = [("gongan", "G1", "P1", "f1:2"), ("weisheng", "W2", "P2", "f2:2"),
          ("jisheng", "J3", "P3", "f3:2"), ("jisheng", "J4", "P3", "f3:3")]
CASES = pl.DataFrame({
    "discrepancy_id": ["D1", "D2"], "person_id": ["P1", "P3"],
    "kind": ["missing_in_weisheng", "sex_conflict"], "source": ["weisheng", "jisheng"],
    "record_id": [None, "J3"], "detail": ["born 2013-05-04", "sex 2 ≠ 1"],
    "status": ["open", "open"]})


@pytest.fixture
def state(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    (tmp_path / "restricted").mkdir()
    connection = open_state(tmp_path / "restricted" / "state.duckdb")
    values = ", ".join(f"('{s}', '{r}', '{v.split(':')[0]}', {v.split(':')[1]})"
                       for s, r, _, v in IN_USE)
    connection.execute("CREATE OR REPLACE VIEW records_in_use AS SELECT * FROM (VALUES "
                       f"{values}) AS t(source, record_id, file_hash, row_number)")
    for statement in create_link_state_sql():
        connection.execute(statement)
    connection.executemany("INSERT INTO record_person (member_key, source, record_id, person_id)"
                           " VALUES (?, ?, ?, ?)",
                           [[f"{s}:{r}", s, r, p] for s, r, p, _ in IN_USE])
    connection.execute(create_register_sql())
    connection.execute("INSERT INTO files (content_hash, file, status, run_id, seen_at, "
                       "extract_date) VALUES ('f1', 'gongan/gongan_20140208.csv', 'ingested', "
                       "'a', now(), DATE '2014-02-08')")
    yield connection
    connection.close()


def records_frame() -> pl.DataFrame:
    return pl.DataFrame(IN_USE, schema=["source", "record_id", "person_id", "version_key"],
                        orient="row")


def publish(connection: duckdb.DuckDBPyConnection, run_id: str,
            records: pl.DataFrame | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What a publish does with decisions: register the cases, close them, keep the run."""
    connection.register("cases", CASES.select("discrepancy_id"))
    connection.execute("INSERT OR IGNORE INTO discrepancy_register SELECT discrepancy_id, ?, ? "
                       "FROM cases", [run_id, run_id])
    connection.unregister("cases")
    result = apply_review_decisions(connection, CASES, records_frame() if records is None
                                    else records, run_id)
    connection.execute("INSERT INTO publishes VALUES (?, 'k', ?)", [run_id, datetime.now()])
    return result


def ingest(connection: duckdb.DuckDBPyConnection, inbox: Path, tmp_path: Path
           ) -> dict[str, object]:
    (tmp_path / "archive").mkdir(exist_ok=True)
    outcome = ingest_review_decisions(connection, inbox, tmp_path / "archive", "attempt",
                                      datetime(2014, 3, 5))
    return {**outcome.summary, **outcome.content}


def test_decisions_are_judged_stored_archived_and_same_bytes_change_nothing(
    state: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    publish(state, "run-1")
    inbox = tmp_path / "inbox"
    first = write_csv(inbox / REVIEW_FOLDER / "review_20140301.csv", [HEADERS, *ROWS, [
        "D404", "", "", "已更正", "", "王五", ""]], "gb18030")
    summary = ingest(state, inbox, tmp_path)
    assert (summary["files_in"], summary["accepted"], summary["rejected"]) == (1, 2, 1)
    assert summary["rejections"] == [  # type: ignore[comparison-overlap]
        "review/review_20140301.csv row 5 (案件编号): no case D404 was ever published — copy "
        "the 案件编号 from the latest workbook — decision rejected"]
    assert [p.name for p in (tmp_path / "archive").iterdir()] == [
        f"{summary['review_files']}.csv"]
    (inbox / REVIEW_FOLDER / "again_20140309.csv").write_bytes(first.read_bytes())
    again = ingest(state, inbox, tmp_path)
    assert again == {"review_files": summary["review_files"]}
    assert stored_decisions(state).height == 3
    assert load_link_constraints(state).rows() == [("gongan:G1", "weisheng:W2", True)]


def test_a_case_is_resolved_until_its_data_change(state: duckdb.DuckDBPyConnection,
                                                  tmp_path: Path) -> None:
    publish(state, "run-1")
    write_csv(tmp_path / "inbox" / REVIEW_FOLDER / "review_20140301.csv",
              [HEADERS, ROWS[2]], "utf-8")
    ingest(state, tmp_path / "inbox", tmp_path)
    discrepancies, audit = publish(state, "run-2")
    assert discrepancies.filter(pl.col("discrepancy_id") == "D2").select(
        "status", "resolved_by").row(0) == ("resolved", audit.get_column("decision_key").item())
    assert audit.columns == list(REVIEW_DECISION.column_names)
    assert audit.select("standing", "effect", "applied_run_id").row(0) == (
        Standing.IN_FORCE.value, "closed", "run-2")
    corrected = records_frame().with_columns(
        pl.when(pl.col("record_id") == "J3").then(pl.lit("f9:2")).otherwise("version_key")
        .alias("version_key"))
    reopened, audit = publish(state, "run-3", corrected)
    assert reopened.filter(pl.col("discrepancy_id") == "D2").get_column("status").item() == "open"
    assert audit.select("standing", "effect", "applied_run_id").row(0) == (
        Standing.LAPSED.value, "closed", "run-2")


def test_a_closing_decision_on_a_case_changed_since_the_workbook_is_rejected(
    state: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    publish(state, "run-1")
    state.execute("DELETE FROM case_fingerprints WHERE discrepancy_id = 'D2'")
    write_csv(tmp_path / "inbox" / REVIEW_FOLDER / "review_20140301.csv",
              [HEADERS, ROWS[2]], "utf-8")
    summary = ingest(state, tmp_path / "inbox", tmp_path)
    assert summary["rejected"] == 1
    assert stored_decisions(state).get_column("reason").item() == Rejection.CHANGED_CASE.value


def test_a_later_file_revokes_and_an_undated_file_counts_as_the_run_s_date(
    state: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    publish(state, "run-1")
    inbox = tmp_path / "inbox"
    write_csv(inbox / REVIEW_FOLDER / "review_20140301.csv", [HEADERS, ROWS[0]], "utf-8")
    ingest(state, inbox, tmp_path)
    # Returned under the workbook's own name (no date): dated by tonight's extracts (02-08),
    # so it is older than the dated file and changes nothing that file decided.
    write_workbook(inbox / REVIEW_FOLDER / "核查表_长垌乡_451324203.xlsx", {"未落户": [HEADERS, [
        "D1", "weisheng:W2", "gongan:G1", "非同一人", "", "张三", ""]]})
    ingest(state, inbox, tmp_path)
    assert load_link_constraints(state).rows() == [("gongan:G1", "weisheng:W2", True)]
    write_csv(inbox / REVIEW_FOLDER / "review_20140310.csv", [HEADERS, [
        "D1", "weisheng:W2", "gongan:G1", "非同一人", "", "张三", ""]], "utf-8")
    ingest(state, inbox, tmp_path)
    assert load_link_constraints(state).rows() == [("gongan:G1", "weisheng:W2", False)]
    _, audit = publish(state, "run-2")
    assert audit.select("file", "file_date", "standing").rows() == [
        ("review/核查表_长垌乡_451324203.xlsx", date(2014, 2, 8), Standing.REVOKED.value),
        ("review/review_20140301.csv", date(2014, 3, 1), Standing.REVOKED.value),
        ("review/review_20140310.csv", date(2014, 3, 10), Standing.IN_FORCE.value),
    ]


def test_constraint_recs_number_records_as_link_records_does() -> None:
    records = pl.DataFrame([{"source": s, "record_id": r} for s, r in (
        ("gongan", "G1"), ("jisheng", "J3"), ("weisheng", "W2"))], schema=CANONICAL)
    constraints = pl.DataFrame({"key_l": ["gongan:G1", "jisheng:J3", "gongan:G1"],
                                "key_r": ["weisheng:W2", "weisheng:W2", "gongan:G404"],
                                "is_must_link": [True, False, True]})
    must, cannot = constraint_recs(records, constraints)
    numbered = link_records(records)
    rec_of = dict(numbered.select(pl.col("source") + ":" + pl.col("record_id"),
                                  "rec").iter_rows())
    assert must.rows() == [(rec_of["gongan:G1"], rec_of["weisheng:W2"])]
    assert cannot.rows() == [(rec_of["jisheng:J3"], rec_of["weisheng:W2"])]
