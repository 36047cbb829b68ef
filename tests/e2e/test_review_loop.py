"""End to end: officers' decisions dropped into inbox/review/ and applied by the next run.

On a small generated inbox, run once; from the published tables and the truth pick a missed
link (同一人; two children when linking missed none), a false link (非同一人; a conflict's two
records when linking merged no two children), an open case (已核实无误), an invalid row, an
unknown case and a contradiction; write them into an xlsx (openpyxl, the columns of
schemas/review.py) and a GB18030 CSV; run again, and check each was applied or rejected as
it should, and that all of it still holds after a run with nothing new, a run with new data
about the same children, a full rebuild, and that a closed case reopens when its data change.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import polars as pl
import pytest

from schemas.review import REVIEW_FOLDER, Effect, Rejection, ReviewColumn, Standing, Verdict
from schemas.sources import SOURCES
from tests.e2e.cli_runs import published, run_cli
from transforms.normalise_ids import is_id_number_check_digit_valid
from warehouse.demo_inbox import write_demo

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.xdist_group("review_loop")]

LOOP_BIRTHS = 300
LOOP_SEED = 20131105
HEADERS = [c.value for c in ReviewColumn]  # 案件编号 记录 对应记录 核查结论 备注 核查人 核查日期
CSV_SOURCES = ("weisheng", "gongan")
UNKNOWN_CASE = "Dffffffffffffffff"






def key(source: str, record_id: str) -> str:
    return f"{source}:{record_id}"


@dataclass(frozen=True)
class Picked:
    """The cases and records the officers decide on."""

    a: str  # missed link: a and b are one child in two persons
    b: str
    c: str  # a third record of that child's persons, for the contradiction
    missed_case: str
    r: str  # the false link: r and s in one person, split by the officer
    s: str
    false_case: str
    verified_case: str
    verified_record: str
    invalid_case: str


def persons_of(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    return tables["person_source"].select(
        (pl.col("source") + ":" + pl.col("record_id")).alias("key"), "person_id")


def pick_cases(tables: dict[str, pl.DataFrame], truth: Path) -> Picked:
    """Choose the decisions from the first run's tables and the generator's truth."""
    members = persons_of(tables)
    children = pl.read_csv(truth / "records.csv", infer_schema=False).select(
        (pl.col("source") + ":" + pl.col("record_id")).alias("key"), "child_key")
    joined = members.join(children, on="key").sort("key")
    split_child = joined.filter(pl.col("person_id").n_unique().over("child_key") > 1)
    cases = tables["discrepancy"].sort("discrepancy_id")
    if split_child.height:  # a child linking left as two persons
        first_child = split_child.filter(pl.col("child_key") == split_child["child_key"][0])
        two = first_child.unique("person_id", keep="first", maintain_order=True).head(2)
        a, b = two.get_column("key").to_list()
        missed_persons = two.get_column("person_id").to_list()
        c = members.filter(pl.col("person_id").is_in(missed_persons)
                           & ~pl.col("key").is_in([a, b])).sort("key").get_column("key")[0]
    else:  # linking made no such mistake: the officer joins two children all the same
        sizes = members.group_by("person_id").agg(pl.col("key").sort()).sort("person_id")
        with_case = sizes.filter(pl.col("key").list.len() >= 2
                                 & pl.col("person_id").is_in(cases["person_id"].implode()))
        first, other = with_case.row(0, named=True), with_case.row(1, named=True)
        a, c, b = first["key"][0], first["key"][1], other["key"][0]
        missed_persons = [first["person_id"], other["person_id"]]
    missed_case = cases.filter(pl.col("person_id").is_in(missed_persons))["discrepancy_id"][0]
    # False link: the truth's if linking made one, else an open conflict the officer splits.
    merged = joined.filter((pl.col("child_key").n_unique().over("person_id") > 1)
                           & ~pl.col("person_id").is_in(missed_persons))
    conflicts = cases.filter(pl.col("kind").str.ends_with("_conflict")
                             & (pl.col("status") == "open") & pl.col("record_id").is_not_null()
                             & ~pl.col("person_id").is_in(missed_persons))
    if merged.height:
        person = merged["person_id"][0]
        r, s = merged.filter(pl.col("person_id") == person).unique(
            "child_key", keep="first", maintain_order=True).get_column("key").head(2).to_list()
        own = cases.filter(pl.col("person_id") == person)["discrepancy_id"]
        false_case = own[0] if own.len() else missed_case
    else:
        chosen = conflicts.row(0, named=True)
        person, r = chosen["person_id"], key(chosen["source"], chosen["record_id"])
        s = members.filter((pl.col("person_id") == person) & (pl.col("key") != r)
                           & ~pl.col("key").str.starts_with(chosen["source"] + ":")
                           ).sort("key")["key"][0]
        false_case = chosen["discrepancy_id"]
    taken = [*missed_persons, person]
    open_cases = cases.filter((pl.col("status") == "open") & pl.col("record_id").is_not_null()
                              & ~pl.col("person_id").is_in(taken))
    verified = open_cases.filter(pl.col("source").is_in(CSV_SOURCES)).row(0, named=True)
    invalid = open_cases.filter(pl.col("discrepancy_id") != verified["discrepancy_id"]).row(
        0, named=True)
    return Picked(a, b, c, missed_case, r, s, false_case, verified["discrepancy_id"],
                  key(verified["source"], verified["record_id"]), invalid["discrepancy_id"])


def write_decisions(review: Path, picked: Picked) -> None:
    """The workbook (three sheets, the summary without decision columns) and the CSV."""
    review.mkdir(parents=True, exist_ok=True)
    book = openpyxl.Workbook()
    summary = book.active
    summary.title = "汇总"
    summary.append(["项目", "数值"])
    summary.append(["出生", LOOP_BIRTHS])
    missing = book.create_sheet("未落户")
    missing.append(HEADERS)
    missing.append([picked.missed_case, picked.a, picked.b, "同一人", "入户时重复", "张三",
                    "2014-03-01"])
    missing.append([picked.missed_case, picked.b, picked.c, "同一人", None, "张三", "2014-03-01"])
    conflicts = book.create_sheet("不一致")
    conflicts.append(HEADERS)
    conflicts.append([picked.false_case, picked.r, picked.s, "非同一人", "双胞胎", "李四",
                      "2014-03-01"])
    conflicts.append([picked.verified_case, picked.verified_record, None, "已核实无误",
                      "医院记录无误", "李四", "2014-03-01"])
    conflicts.append([picked.invalid_case, None, None, "同意", None, "李四", "2014-03-01"])
    book.save(review / "review_20140301.xlsx")
    rows = [HEADERS,
            [picked.missed_case, picked.a, picked.c, "非同一人", "", "王五", "2014/3/2"],
            [UNKNOWN_CASE, "", "", "已更正", "", "王五", "2014/3/2"]]
    (review / "review_20140302.csv").write_bytes(
        "\r\n".join(",".join(row) for row in rows).encode("gb18030"))


# A field each CSV department sends that neither linking nor any discrepancy reads.
HARMLESS_FIELD = {"weisheng": "助产机构", "gongan": "民族"}


def with_field_changed(header: str, line: str, source: str) -> str:
    """The CSV line with its department's harmless field given another value."""
    names = next(csv.reader([header]))
    values = next(csv.reader([line]))
    at = names.index(HARMLESS_FIELD[source])
    values[at] = (values[at] or "") + "（更正）"
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(values)
    return out.getvalue()


def redeliver(inbox: Path, truth: Path, keys: list[str], extract_date: str,
              changed: bool = False) -> list[str]:
    """Send the latest rows of these records again in new files of their departments (a new
    version of each record, same values unless `changed`); returns the keys sent (CSV
    departments only)."""
    records = pl.read_csv(truth / "records.csv", infer_schema=False).with_columns(
        (pl.col("source") + ":" + pl.col("record_id")).alias("key")).filter(
        pl.col("key").is_in(keys) & pl.col("source").is_in(CSV_SOURCES))
    for source, rows in records.partition_by("source", as_dict=True).items():
        encoding = SOURCES[str(source[0])].csv_encoding
        lines: list[str] = []
        for file, row_number in rows.select("file", "row_number").iter_rows():
            text = (inbox / file).read_bytes().decode(
                "utf-8-sig" if encoding == "utf-8" else encoding).splitlines()
            lines = lines or [text[0]]
            line = text[int(row_number) - 1]
            lines.append(with_field_changed(text[0], line, str(source[0])) if changed else line)
        (inbox / str(source[0]) / f"{source[0]}_{extract_date}.csv").write_bytes(
            "\r\n".join(lines).encode(encoding))
    return records.get_column("key").to_list()


@dataclass(frozen=True)
class Loop:
    picked: Picked
    first: dict[str, pl.DataFrame]
    summaries: dict[str, dict[str, object]]
    tables: dict[str, dict[str, pl.DataFrame]]
    redelivered: list[str]


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Loop:
    out = tmp_path_factory.mktemp("review_loop")
    write_demo(out, births=LOOP_BIRTHS, seed=LOOP_SEED)
    inbox, truth, warehouse = out / "inbox", out / "truth", out / "warehouse.duckdb"
    summaries: dict[str, dict[str, object]] = {"first": run_cli(inbox, warehouse)}
    first = published(warehouse)
    picked = pick_cases(first, truth)
    write_decisions(inbox / REVIEW_FOLDER, picked)
    tables: dict[str, dict[str, pl.DataFrame]] = {}
    summaries["decided"] = run_cli(inbox, warehouse)
    tables["decided"] = published(warehouse)
    summaries["nothing_new"] = run_cli(inbox, warehouse)
    tables["nothing_new"] = published(warehouse)
    redelivered = redeliver(inbox, truth, [picked.a, picked.b, picked.c, picked.r, picked.s],
                            "20140301")
    summaries["new_data"] = run_cli(inbox, warehouse)
    tables["new_data"] = published(warehouse)
    summaries["rebuilt"] = run_cli(inbox, warehouse, "rebuild")
    tables["rebuilt"] = published(warehouse)
    redeliver(inbox, truth, [picked.verified_record], "20140304")
    summaries["case_resent"] = run_cli(inbox, warehouse)
    tables["case_resent"] = published(warehouse)
    redeliver(inbox, truth, [picked.verified_record], "20140305", changed=True)
    summaries["case_changed"] = run_cli(inbox, warehouse)
    tables["case_changed"] = published(warehouse)
    return Loop(picked, first, summaries, tables, redelivered)


def person(tables: dict[str, pl.DataFrame], record: str) -> str:
    found = persons_of(tables).filter(pl.col("key") == record)
    return str(found["person_id"].item())


def decision_rows(tables: dict[str, pl.DataFrame]) -> dict[tuple[str | None, int | None], dict]:
    return {(r["sheet"], r["row_number"]): r
            for r in tables["review_decision"].iter_rows(named=True)}


def test_the_picked_decisions_say_what_the_first_run_got_wrong(loop: Loop) -> None:
    first, picked = loop.first, loop.picked
    assert person(first, picked.a) != person(first, picked.b)
    assert person(first, picked.r) == person(first, picked.s)
    status = dict(first["discrepancy"].select("discrepancy_id", "status").iter_rows())
    assert status[picked.verified_case] == "open"
    assert first["review_decision"].height == 0


def test_each_decision_is_applied_or_rejected_as_it_should(loop: Loop) -> None:
    tables, picked = loop.tables["decided"], loop.picked
    summary = loop.summaries["decided"]
    assert summary["status"] == "published"
    decisions = summary["decisions"]
    assert isinstance(decisions, dict)
    assert (decisions["files_in"], decisions["accepted"], decisions["rejected"]) == (2, 4, 3)
    rows = decision_rows(tables)
    c_was_with_b = person(loop.first, picked.b) == person(loop.first, picked.c)
    expected = {
        ("未落户", 2): (Verdict.ACCEPTED, None, Effect.MERGED),
        ("未落户", 3): (Verdict.ACCEPTED, None,
                       Effect.ALREADY_LINKED if c_was_with_b else Effect.MERGED),
        ("不一致", 2): (Verdict.ACCEPTED, None, Effect.SPLIT),
        ("不一致", 3): (Verdict.ACCEPTED, None, Effect.CLOSED),
        ("不一致", 4): (Verdict.REJECTED, Rejection.INVALID_DECISION, None),
        (None, 2): (Verdict.REJECTED, Rejection.CONTRADICTION, None),
        (None, 3): (Verdict.REJECTED, Rejection.UNKNOWN_CASE, None),
    }
    assert set(rows) == set(expected)
    for place, (verdict, reason, effect) in expected.items():
        row = rows[place]
        assert (row["verdict"], row["reason"], row["effect"]) == (
            verdict.value, reason.value if reason else None, effect.value if effect else None), \
            place
    # Merged and split as decided; the closed case is resolved by its decision.
    assert person(tables, picked.a) == person(tables, picked.b) == person(tables, picked.c)
    assert person(tables, picked.r) != person(tables, picked.s)
    closed = tables["discrepancy"].filter(pl.col("discrepancy_id") == picked.verified_case)
    assert closed.select("status", "resolved_by").row(0) == (
        "resolved", rows[("不一致", 3)]["decision_key"])
    # The split child's new id says where it came from.
    assert (person(loop.first, picked.r), "split") in tables["person_history"].select(
        "retired_id", "reason").rows()


def test_rejections_say_file_row_column_and_why(loop: Loop) -> None:
    decisions = loop.summaries["decided"]["decisions"]
    assert isinstance(decisions, dict)
    messages = decisions["rejections"]
    picked = loop.picked
    assert sorted(messages) == sorted([  # type: ignore[arg-type]
        "review/review_20140301.xlsx sheet 不一致 row 4 (核查结论): '同意' is not a decision — "
        "use one of 同一人 / 非同一人 / 已核实无误 / 已更正 — decision rejected; correct it and "
        "send the row again",
        f"review/review_20140302.csv row 2 (核查结论): 非同一人 on {picked.a} and {picked.c} "
        f"contradicts 同一人 on {picked.a} and {picked.b} (review/review_20140301.xlsx sheet "
        f"未落户 row 2); 同一人 on {picked.b} and {picked.c} (review/review_20140301.xlsx sheet "
        "未落户 row 3) — decision rejected; correct one of them and send it again",
        f"review/review_20140302.csv row 3 (案件编号): no case {UNKNOWN_CASE} was ever "
        "published — copy the 案件编号 from the latest workbook — decision rejected",
    ])


def test_a_run_with_nothing_new_changes_nothing(loop: Loop) -> None:
    assert loop.summaries["nothing_new"]["status"] == "unchanged"
    assert loop.summaries["nothing_new"]["run_id"] == loop.summaries["decided"]["run_id"]
    for name, frame in loop.tables["decided"].items():
        assert loop.tables["nothing_new"][name].equals(frame), name


@pytest.mark.parametrize("stage", ["new_data", "rebuilt"])
def test_decisions_still_hold_after_new_data_and_a_rebuild(loop: Loop, stage: str) -> None:
    tables, picked = loop.tables[stage], loop.picked
    assert loop.summaries[stage]["status"] == "published"
    if stage == "new_data":  # the children decided on were linked again tonight
        assert any(k in loop.redelivered for k in (picked.a, picked.b, picked.c))
        assert any(k in loop.redelivered for k in (picked.r, picked.s))
    assert person(tables, picked.a) == person(tables, picked.b) == person(tables, picked.c)
    assert person(tables, picked.r) != person(tables, picked.s)
    status = dict(tables["discrepancy"].select("discrepancy_id", "status").iter_rows())
    assert status[picked.verified_case] == "resolved"
    before = loop.tables["decided"]["review_decision"].drop("run_id", "standing")
    assert tables["review_decision"].drop("run_id", "standing").equals(before)
    assert set(tables["review_decision"]["standing"]) == {Standing.IN_FORCE.value,
                                                          Standing.REJECTED.value}


def test_a_closed_case_stays_closed_when_its_record_is_sent_again_unchanged(loop: Loop
                                                                           ) -> None:
    tables, picked = loop.tables["case_resent"], loop.picked
    assert loop.summaries["case_resent"]["status"] == "published"
    status = dict(tables["discrepancy"].select("discrepancy_id", "status").iter_rows())
    assert status[picked.verified_case] == "resolved"
    row = decision_rows(tables)[("不一致", 3)]
    assert row["standing"] == Standing.IN_FORCE.value


def test_a_closed_case_reopens_when_its_record_changes(loop: Loop) -> None:
    tables, picked = loop.tables["case_changed"], loop.picked
    status = dict(tables["discrepancy"].select("discrepancy_id", "status").iter_rows())
    assert status[picked.verified_case] == "open"
    row = decision_rows(tables)[("不一致", 3)]
    assert (row["standing"], row["effect"]) == (Standing.LAPSED.value, Effect.CLOSED.value)
    assert person(tables, picked.a) == person(tables, picked.b)
    assert person(tables, picked.r) != person(tables, picked.s)


def test_the_audit_table_holds_no_id_number_and_unique_keys(loop: Loop) -> None:
    for tables in loop.tables.values():
        audit = tables["review_decision"]
        assert audit.get_column("decision_key").is_duplicated().sum() == 0
        assert tables["discrepancy"].get_column("discrepancy_id").is_duplicated().sum() == 0
        for column in audit.select(pl.col(pl.String)).columns:
            text = audit.get_column(column).drop_nulls()
            assert not pl.select(is_id_number_check_digit_valid(pl.lit(text))).to_series().any()
            assert not text.str.contains(r"\d{15}").any(), column
