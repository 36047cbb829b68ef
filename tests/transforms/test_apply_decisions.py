"""The review loop's rules on small frames: reading decisions, references, contradictions,
revocation, link constraints, fingerprints, closing cases and what each decision changed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

import polars as pl
import pytest

from schemas.review import Decision, Effect, Rejection, Standing, Verdict
from transforms.apply_decisions import (
    DECISION_SCHEMA,
    case_fingerprint_material,
    check_references,
    close_cases,
    conform,
    decision_code,
    decision_effects,
    decision_standing,
    judge_pair_decisions,
    link_constraints,
    masked_text,
    read_decisions,
    record_key,
    violated_constraints,
)

SAME, NOT_SAME = Decision.SAME_PERSON.value, Decision.NOT_SAME_PERSON.value
VERIFIED, CORRECTED = Decision.VERIFIED.value, Decision.CORRECTED.value


def cells(rows: Sequence[Mapping[str, object]], file: str = "review/review_20140301.csv",
          sheet: str | None = None) -> pl.DataFrame:
    """Decision cells as a reader gives them: every given column as text, one row each."""
    frame = pl.DataFrame([dict(row) for row in rows]).cast(pl.String)
    return frame.with_row_index("row_number", offset=2).with_columns(
        pl.col("row_number").cast(pl.Int64),
        pl.concat_str([pl.lit("h-0-"), pl.col("row_number").cast(pl.String)]).alias(
            "decision_key"),
        pl.lit("h" * 64).alias("file_hash"), pl.lit(file).alias("file"),
        pl.lit(date(2014, 3, 1)).alias("file_date"), pl.lit(0, dtype=pl.Int64).alias("file_seq"),
        pl.lit(sheet, dtype=pl.String).alias("sheet"),
        pl.lit(0, dtype=pl.Int64).alias("sheet_index"))


def row(decision: str, a: str | None = None, b: str | None = None, case: str = "D1",
        reviewer: str = "张三", **extra: object) -> dict[str, object]:
    return {"case_id": case, "record_key": a, "other_record_key": b, "decision_text": decision,
            "reviewer": reviewer, **extra}


def decisions(specs: Sequence[tuple[str, str | None, str | None, str]], day: int = 1,
              verdict: str | None = None, prefix: str = "k") -> pl.DataFrame:
    """Decision rows (decision code, record, other record, case), one file, rows in order."""
    return conform(pl.DataFrame({
        "decision_key": [f"{prefix}{day}-{i}" for i in range(len(specs))],
        "file_hash": [f"{prefix}{day}"] * len(specs),
        "file": [f"review/review_201403{day:02d}.csv"] * len(specs),
        "file_date": [date(2014, 3, day)] * len(specs),
        "file_seq": [0] * len(specs), "sheet_index": [0] * len(specs),
        "row_number": list(range(2, len(specs) + 2)),
        "decision": [s[0] for s in specs], "record_key": [s[1] for s in specs],
        "other_record_key": [s[2] for s in specs], "case_id": [s[3] for s in specs],
        "verdict": [verdict] * len(specs),
    }, schema_overrides={"file_date": pl.Date, "verdict": pl.String,
                         "record_key": pl.String, "other_record_key": pl.String}))


def verdicts(frame: pl.DataFrame) -> list[tuple[str, str | None]]:
    return list(frame.sort("row_number").select("verdict", "reason").iter_rows())


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param(" 母亲 ４５０１０２１９９００１０１１２３Ｘ 已核 ", "母亲 4501************3X 已核",
                 id="full-width ID in a note"),
    pytest.param("身份证110105491231002", "身份证1101************02", id="15-digit ID"),
    pytest.param("证号 P450812345", "证号 P450812345", id="certificate number kept"),
    pytest.param("   ", None, id="blank is null"),
])
def test_free_text_never_keeps_an_id_number(text: str, expected: str | None) -> None:
    assert pl.select(masked_text(pl.lit(text))).item() == expected


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("gongan:G0012", "gongan:G0012", id="code"),
    pytest.param(" 公安 ： G0012 ", "gongan:G0012", id="Chinese label, full-width colon"),
    pytest.param("Weisheng:P450812345", "weisheng:P450812345", id="upper-case source"),
    pytest.param("G0012", None, id="no source"),
    pytest.param("police:G0012", None, id="unknown source"),
    pytest.param("gongan:", None, id="no record id"),
])
def test_record_keys_read_as_source_colon_record_id(text: str, expected: str | None) -> None:
    assert pl.select(record_key(pl.lit(text))).item() == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("同一人", SAME), (" 非同一人 ", NOT_SAME), ("已核实无误", VERIFIED), ("已更正", CORRECTED),
    ("verified", VERIFIED), ("同意", None), ("已核实", None),
])
def test_decisions_read_by_label_or_code(text: str, expected: str | None) -> None:
    assert pl.select(decision_code(pl.lit(text))).item() == expected


def test_valid_rows_wait_for_judgement_and_blank_decisions_are_no_decision() -> None:
    read = read_decisions(cells([
        row("同一人", "gongan:G1", "jisheng:J1", reviewed_on="2014年3月2日"),
        row("", "gongan:G2", "jisheng:J2"),
        row("已核实无误", case="D2", note="母亲身份证 45010219900101123X 无误"),
    ]))
    assert read.height == 2
    first, second = read.sort("row_number").iter_rows(named=True)
    assert (first["verdict"], first["decision"], first["reviewed_on"]) == (
        None, SAME, date(2014, 3, 2))
    assert second["row_number"] == 4 and second["verdict"] is None
    assert second["note"] == "母亲身份证 4501************3X 无误"


@pytest.mark.parametrize(("given", "reason", "column"), [
    pytest.param(row("同意", "gongan:G1", "jisheng:J1"), Rejection.INVALID_DECISION, "核查结论",
                 id="invalid value"),
    pytest.param(row("已更正", case=""), Rejection.MISSING_VALUE, "案件编号", id="no case"),
    pytest.param(row("已更正", reviewer=" "), Rejection.MISSING_VALUE, "核查人",
                 id="no reviewer"),
    pytest.param(row("同一人", "gongan:G1"), Rejection.MISSING_RECORD, "对应记录",
                 id="pair with one record"),
    pytest.param(row("非同一人", None, "gongan:G1"), Rejection.MISSING_RECORD, "记录",
                 id="pair without 记录"),
    pytest.param(row("同一人", "G1", "jisheng:J1"), Rejection.BAD_RECORD_KEY, "记录",
                 id="record without source"),
    pytest.param(row("非同一人", "gongan:G1", " gongan : G1"), Rejection.MISSING_RECORD,
                 "对应记录", id="same record twice"),
])
def test_malformed_rows_are_rejected_naming_file_sheet_row_and_column(
    given: dict[str, object], reason: Rejection, column: str
) -> None:
    read = read_decisions(cells([given], file="review/x_20140301.xlsx", sheet="未落户"))
    assert verdicts(read) == [(Verdict.REJECTED.value, reason.value)]
    message = read.get_column("message").item()
    assert message.startswith(f"review/x_20140301.xlsx sheet 未落户 row 2 ({column}): ")
    assert "decision rejected" in message


def test_an_invalid_value_is_quoted_masked() -> None:
    read = read_decisions(cells([row("同意 45010219900101123X")]))
    assert "'同意 4501************3X' is not a decision" in read.get_column("message").item()


def test_the_first_failing_rule_gives_the_reason() -> None:
    read = read_decisions(cells([row("同意", case="", reviewer="")]))
    assert verdicts(read) == [(Verdict.REJECTED.value, Rejection.INVALID_DECISION.value)]


CASES_EVER = pl.DataFrame({"discrepancy_id": ["D1", "D2", "D3"]})
CASES_PUBLISHED = pl.DataFrame({"discrepancy_id": ["D1", "D2"], "fingerprint": ["f1", "f2"]})
RECORDS = pl.DataFrame({"member_key": ["gongan:G1", "jisheng:J1", "weisheng:W1", "gongan:G9"],
                        "person_id": ["P1", "P1", "P2", None]})


def test_references_to_unknown_cases_records_and_changed_cases_are_rejected() -> None:
    given = decisions([
        (SAME, "gongan:G1", "weisheng:W1", "D1"),
        (SAME, "gongan:G1", "weisheng:W404", "D1"),
        (NOT_SAME, "jisheng:J404", "gongan:G1", "D1"),
        (VERIFIED, None, None, "D404"),
        (VERIFIED, None, None, "D3"),
        (CORRECTED, None, None, "D2"),
        (SAME, "gongan:G9", "weisheng:W1", "D1"),
    ])
    checked = check_references(given, CASES_EVER, CASES_PUBLISHED, RECORDS)
    assert verdicts(checked) == [
        (None, None),
        (Verdict.REJECTED.value, Rejection.UNKNOWN_RECORD.value),
        (Verdict.REJECTED.value, Rejection.UNKNOWN_RECORD.value),
        (Verdict.REJECTED.value, Rejection.UNKNOWN_CASE.value),
        (Verdict.REJECTED.value, Rejection.CHANGED_CASE.value),
        (None, None),
        (None, None),
    ]
    rows = checked.sort("row_number").to_dicts()
    assert (rows[0]["person_before"], rows[0]["other_person_before"]) == ("P1", "P2")
    assert rows[5]["case_fingerprint"] == "f2" and rows[0]["case_fingerprint"] is None
    assert rows[6]["person_before"] is None  # a record not linked yet
    assert "weisheng:W404" in rows[1]["message"] and "(对应记录)" in rows[1]["message"]
    assert "D3 is no longer in the latest publish" in rows[4]["message"]


def test_rows_already_rejected_keep_their_reason() -> None:
    given = decisions([(SAME, "gongan:G1", "gongan:G1", "D404")]).with_columns(
        pl.lit(Verdict.REJECTED.value).alias("verdict"),
        pl.lit(Rejection.MISSING_RECORD.value).alias("reason"))
    checked = check_references(given, CASES_EVER, CASES_PUBLISHED, RECORDS)
    assert verdicts(checked) == [(Verdict.REJECTED.value, Rejection.MISSING_RECORD.value)]


def test_a_cannot_link_inside_must_links_is_a_contradiction() -> None:
    judged = judge_pair_decisions(decisions([
        (SAME, "a:1", "b:1", "D1"), (SAME, "b:1", "c:1", "D1"), (NOT_SAME, "a:1", "c:1", "D1"),
    ]), decisions([]))
    assert verdicts(judged) == [(Verdict.ACCEPTED.value, None), (Verdict.ACCEPTED.value, None),
                                (Verdict.REJECTED.value, Rejection.CONTRADICTION.value)]
    message = judged.sort("row_number").get_column("message")[2]
    assert message.startswith(
        "review/review_20140301.csv row 4 (核查结论): 非同一人 on a:1 and c:1 contradicts ")
    assert "同一人 on a:1 and b:1 (review/review_20140301.csv row 2)" in message
    assert "同一人 on b:1 and c:1 (review/review_20140301.csv row 3)" in message


def test_the_later_decision_is_the_one_rejected() -> None:
    judged = judge_pair_decisions(decisions([
        (NOT_SAME, "a:1", "c:1", "D1"), (SAME, "a:1", "b:1", "D1"), (SAME, "b:1", "c:1", "D1"),
    ]), decisions([]))
    assert verdicts(judged)[2] == (Verdict.REJECTED.value, Rejection.CONTRADICTION.value)
    assert "contradicts 非同一人 on a:1 and c:1" in judged.sort("row_number")["message"][2]


def test_decisions_accepted_on_earlier_nights_count() -> None:
    earlier = decisions([(SAME, "a:1", "b:1", "D1"), (SAME, "b:1", "c:1", "D1")], day=1,
                        verdict=Verdict.ACCEPTED.value)
    judged = judge_pair_decisions(decisions([(NOT_SAME, "c:1", "a:1", "D1")], day=2), earlier)
    assert verdicts(judged) == [(Verdict.REJECTED.value, Rejection.CONTRADICTION.value)]


def test_a_later_decision_on_the_same_pair_replaces_it_without_contradiction() -> None:
    earlier = decisions([(SAME, "a:1", "b:1", "D1")], day=1, verdict=Verdict.ACCEPTED.value)
    judged = judge_pair_decisions(decisions([(NOT_SAME, "b:1", "a:1", "D1"),
                                             (SAME, "a:1", "b:1", "D1")], day=2), earlier)
    assert verdicts(judged) == [(Verdict.ACCEPTED.value, None), (Verdict.ACCEPTED.value, None)]


def test_replacing_a_must_link_still_contradicts_when_others_join_the_pair() -> None:
    judged = judge_pair_decisions(decisions([
        (SAME, "a:1", "b:1", "D1"), (SAME, "b:1", "c:1", "D1"), (SAME, "a:1", "c:1", "D1"),
        (NOT_SAME, "a:1", "c:1", "D1"), (NOT_SAME, "a:1", "b:1", "D1"),
    ]), decisions([]))
    assert [v for v, _ in verdicts(judged)] == [Verdict.ACCEPTED.value] * 3 + [
        Verdict.REJECTED.value, Verdict.REJECTED.value]


def test_withdrawing_a_must_link_lets_a_cannot_link_hold_again() -> None:
    judged = judge_pair_decisions(decisions([
        (SAME, "a:1", "b:1", "D1"), (SAME, "b:1", "c:1", "D1"), (NOT_SAME, "b:1", "c:1", "D1"),
        (NOT_SAME, "a:1", "c:1", "D1"),
    ]), decisions([]))
    assert [v for v, _ in verdicts(judged)] == [Verdict.ACCEPTED.value] * 4


def test_an_older_file_read_late_changes_nothing_a_later_decision_decided() -> None:
    later = decisions([(NOT_SAME, "a:1", "b:1", "D1")], day=5, verdict=Verdict.ACCEPTED.value)
    judged = judge_pair_decisions(decisions([(SAME, "a:1", "b:1", "D1")], day=1), later)
    assert verdicts(judged) == [(Verdict.ACCEPTED.value, None)]
    every = pl.concat([later, judged])
    assert link_constraints(every).rows() == [("a:1", "b:1", False)]
    standing = decision_standing(every).sort("file_date")
    assert standing.get_column("standing").to_list() == [Standing.REVOKED.value,
                                                         Standing.IN_FORCE.value]


def test_closing_decisions_are_not_judged_for_contradiction() -> None:
    judged = judge_pair_decisions(decisions([(VERIFIED, None, None, "D1")]), decisions([]))
    assert verdicts(judged) == [(Verdict.ACCEPTED.value, None)]


def test_standing_later_decisions_revoke_earlier_ones() -> None:
    every = pl.concat([
        decisions([(SAME, "a:1", "b:1", "D1"), (VERIFIED, None, None, "D2"),
                   (VERIFIED, None, None, "D3"), (SAME, "c:1", "d:1", "D4")], day=1,
                  verdict=Verdict.ACCEPTED.value),
        decisions([(NOT_SAME, "b:1", "a:1", "D9"), (CORRECTED, None, None, "D2"),
                   (SAME, "e:1", "f:1", "D3"), (VERIFIED, None, None, "D4")], day=2,
                  verdict=Verdict.ACCEPTED.value),
        decisions([(VERIFIED, None, None, "D2")], day=3, verdict=Verdict.REJECTED.value),
    ])
    standing = {r["decision_key"]: (r["standing"], r["revoked_by"])
                for r in decision_standing(every).iter_rows(named=True)}
    assert standing == {
        "k1-0": (Standing.REVOKED.value, "k2-0"),  # the pair's later decision
        "k1-1": (Standing.REVOKED.value, "k2-1"),  # a later closing on the same case
        "k1-2": (Standing.REVOKED.value, "k2-2"),  # a later pair decision naming the case
        "k1-3": (Standing.IN_FORCE.value, None),  # a closing decision leaves pairs alone
        "k2-0": (Standing.IN_FORCE.value, None), "k2-1": (Standing.IN_FORCE.value, None),
        "k2-2": (Standing.IN_FORCE.value, None), "k2-3": (Standing.IN_FORCE.value, None),
        "k3-0": (Standing.REJECTED.value, None),  # rejected: revokes nothing
    }
    assert link_constraints(every).rows() == [
        ("a:1", "b:1", False), ("c:1", "d:1", True), ("e:1", "f:1", True)]


def test_violated_constraints_name_the_children_to_cluster_again() -> None:
    constraints = pl.DataFrame({"key_l": ["a:1", "c:1", "e:1", "g:1"],
                                "key_r": ["b:1", "d:1", "f:1", "new:1"],
                                "is_must_link": [True, False, False, True]})
    assignments = pl.DataFrame({"member_key": ["a:1", "b:1", "c:1", "d:1", "e:1", "f:1", "g:1"],
                                "person_id": ["P1", "P2", "P3", "P3", "P4", "P5", "P6"]})
    assert violated_constraints(constraints, assignments).to_list() == [
        "a:1", "b:1", "c:1", "d:1", "g:1", "new:1"]


DISCREPANCIES = pl.DataFrame({
    "discrepancy_id": ["D1", "D2"], "person_id": ["P1", "P1"],
    "kind": ["sex_conflict", "missing_in_gongan"], "source": ["weisheng", "gongan"],
    "record_id": ["W1", None], "detail": ["sex 1 ≠ 2", "born 2013-05-04"],
    "status": ["open", "open"]})
VERSIONED = pl.DataFrame({"source": ["weisheng", "jisheng"], "record_id": ["W1", "J1"],
                          "person_id": ["P1", "P1"], "version_key": ["h1:2", "h2:5"]})


def test_fingerprints_follow_the_record_or_the_whole_child() -> None:
    material = dict(case_fingerprint_material(DISCREPANCIES, VERSIONED).iter_rows())
    assert material == {"D1": "sex_conflict|weisheng|sex 1 ≠ 2|h1:2",
                        "D2": "missing_in_gongan|gongan|born 2013-05-04|h1:2,h2:5"}
    corrected_j1 = VERSIONED.with_columns(
        pl.when(pl.col("record_id") == "J1").then(pl.lit("h3:2")).otherwise("version_key")
        .alias("version_key"))
    after = dict(case_fingerprint_material(DISCREPANCIES, corrected_j1).iter_rows())
    assert after["D1"] == material["D1"] and after["D2"] != material["D2"]


def closing(case: str, fingerprint: str, day: int = 1) -> pl.DataFrame:
    return decisions([(VERIFIED, None, None, case)], day=day, prefix=case,
                     verdict=Verdict.ACCEPTED.value).with_columns(
        pl.lit(fingerprint).alias("case_fingerprint"))


def test_a_closed_case_is_resolved_until_its_data_change() -> None:
    every = pl.concat([closing("D1", "f1"), closing("D2", "old")])
    resolved, standing = close_cases(
        DISCREPANCIES, pl.DataFrame({"discrepancy_id": ["D1", "D2"], "fingerprint": ["f1", "f2"]}),
        every)
    assert resolved.select("discrepancy_id", "status", "resolved_by").rows() == [
        ("D1", "resolved", "D11-0"), ("D2", "open", None)]
    assert dict(standing.select("case_id", "standing").iter_rows()) == {
        "D1": Standing.IN_FORCE.value, "D2": Standing.LAPSED.value}


def test_a_closing_decision_on_a_case_no_longer_found_has_lapsed() -> None:
    _, standing = close_cases(DISCREPANCIES.head(0), pl.DataFrame(
        schema={"discrepancy_id": pl.String, "fingerprint": pl.String}), closing("D1", "f1"))
    assert standing.get_column("standing").to_list() == [Standing.LAPSED.value]


def test_effects_say_what_each_new_decision_changed() -> None:
    every = pl.concat([
        decisions([(SAME, "a:1", "b:1", "D1"), (SAME, "c:1", "d:1", "D1"),
                   (NOT_SAME, "e:1", "f:1", "D1"), (NOT_SAME, "g:1", "h:1", "D1"),
                   (VERIFIED, None, None, "D2"), (VERIFIED, None, None, "D3"),
                   (SAME, "i:1", "j:1", "D1")], verdict=Verdict.ACCEPTED.value),
        decisions([(SAME, "k:1", "l:1", "D1")], day=2, verdict=Verdict.ACCEPTED.value),
        decisions([(SAME, "x:1", "y:1", "D1")], day=3, verdict=Verdict.REJECTED.value),
    ]).with_columns(
        pl.Series("person_before", ["P1", "P3", "P5", "P7", None, None, "P9", "P11", None]),
        pl.Series("other_person_before", ["P2", "P3", "P5", "P8", None, None, "P10", "P12",
                                          None]),
        pl.when(pl.col("file_date") == date(2014, 3, 2)).then(pl.lit("run-1"))
        .alias("applied_run_id"),
        pl.when(pl.col("file_date") == date(2014, 3, 2)).then(pl.lit(Effect.MERGED.value))
        .alias("effect"),
        pl.when(pl.col("decision").is_in([VERIFIED])).then(pl.lit("f")).alias(
            "case_fingerprint"))
    _, standing = close_cases(
        pl.DataFrame({"discrepancy_id": ["D2", "D3"], "status": ["open", "open"]}),
        pl.DataFrame({"discrepancy_id": ["D2", "D3"], "fingerprint": ["f", "changed"]}), every)
    assignments = pl.DataFrame({
        "member_key": ["a:1", "b:1", "c:1", "d:1", "e:1", "f:1", "g:1", "h:1", "i:1", "j:1",
                       "k:1", "l:1"],
        "person_id": ["P1", "P1", "P3", "P3", "P5", "P6", "P7", "P8", "P9", "P10", "P9", "P9"]})
    applied = decision_effects(standing, assignments, "run-2").sort("file_date", "row_number")
    assert applied.get_column("effect").to_list() == [
        Effect.MERGED.value, Effect.ALREADY_LINKED.value, Effect.SPLIT.value,
        Effect.ALREADY_SEPARATE.value, Effect.CLOSED.value, Effect.NOT_APPLIED.value,
        Effect.NOT_APPLIED.value, Effect.MERGED.value, None]
    assert applied.get_column("applied_run_id").to_list() == [
        "run-2"] * 7 + ["run-1", "run-2"]
    assert applied.row(2, named=True)["other_person_after"] == "P6"
    assert applied.row(7, named=True)["person_after"] is None  # kept from when it applied
    assert set(DECISION_SCHEMA) <= set(applied.columns)


def test_a_decision_revoked_before_it_was_applied_is_superseded() -> None:
    every = decisions([(SAME, "a:1", "b:1", "D1"), (NOT_SAME, "a:1", "b:1", "D1")],
                      verdict=Verdict.ACCEPTED.value)
    _, standing = close_cases(pl.DataFrame(schema={"discrepancy_id": pl.String,
                                                   "status": pl.String}),
                              pl.DataFrame(schema={"discrepancy_id": pl.String,
                                                   "fingerprint": pl.String}), every)
    assignments = pl.DataFrame({"member_key": ["a:1", "b:1"], "person_id": ["P1", "P2"]})
    applied = decision_effects(standing, assignments, "run-1").sort("row_number")
    assert applied.get_column("effect").to_list() == [Effect.SUPERSEDED.value,
                                                      Effect.ALREADY_SEPARATE.value]


def test_conform_gives_the_decision_columns_and_no_phantom_row() -> None:
    assert conform(pl.DataFrame()).height == 0
    assert conform(pl.DataFrame({"decision_key": ["k"]})).columns == list(DECISION_SCHEMA)


def test_long_record_ids_in_use_stay_whole_and_unknown_ones_are_masked() -> None:
    records = pl.DataFrame({"member_key": ["jisheng:2013108000000123", "gongan:G1"],
                            "person_id": ["P1", "P2"]})
    given = decisions([(SAME, "jisheng:2013108000000123", "gongan:G1", "D1"),
                       (SAME, "gongan:G1", "gongan:45010219900101123X", "D1"),
                       (VERIFIED, None, None, "D450102199001011234")])
    checked = check_references(given, CASES_EVER, CASES_PUBLISHED, records).sort("row_number")
    assert checked.get_column("record_key")[0] == "jisheng:2013108000000123"
    assert checked.get_column("other_record_key")[1] == "gongan:4501************3X"
    assert "4501************3X" in checked.get_column("message")[1]
    assert checked.get_column("case_id")[2] == "D4501************34"
    assert "D4501************34" in checked.get_column("message")[2]
