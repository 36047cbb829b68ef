"""Every published warehouse table: columns, DuckDB types, key, and what each holds.

docs/tables.md is generated from this declaration and DuckDB COMMENTs are set from it, so a
published column without a description here is a failing test.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PublishedColumn:
    name: str
    sql_type: str
    description: str


@dataclass(frozen=True)
class PublishedTable:
    name: str
    description: str
    key: tuple[str, ...]
    columns: tuple[PublishedColumn, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


C = PublishedColumn
RUN_ID = C("run_id", "VARCHAR", "The run that published this row (see table run)")

PERSON_SOURCE = PublishedTable(
    "person_source",
    "One row per source record in use (its latest version): which child it describes.",
    ("source", "record_id"),
    (
        C("source", "VARCHAR", "Department code: jisheng, weisheng, gongan, minzheng"),
        C("record_id", "VARCHAR", "The department's record id, as displayed, trimmed"),
        C("person_id", "VARCHAR", "The reconciled child this record belongs to"),
        C("match_probability", "DOUBLE",
          "Probability of the link that placed the record with its child; null when alone"),
        C("file", "VARCHAR", "Inbox-relative path of the file that delivered this version"),
        C("row_number", "BIGINT", "Spreadsheet row of this version in that file (header = 1)"),
        C("extract_date", "DATE", "Extract date of that file"),
        C("township_code", "VARCHAR", "Township as this department records it, 9-digit code"),
        C("sex", "TINYINT", "Sex as this department records it: 1 male, 2 female, null unknown"),
        C("birth_date", "DATE", "Birth date as this department records it"),
        C("birth_order", "TINYINT", "Birth order as this department records it (计生 only)"),
        C("has_child_name", "BOOLEAN", "The record carries a real child name (not a placeholder)"),
        C("child_id_pseudonym", "VARCHAR", "Keyed pseudonym of the child's ID number, if any"),
        C("child_id_problem", "VARCHAR", "Problem with the child's ID number (codes in docs)"),
        C("mother_pseudonym", "VARCHAR", "Keyed pseudonym of the mother's ID number, if valid"),
        C("mother_id_problem", "VARCHAR", "Problem with the mother's ID number"),
        C("event_type", "VARCHAR", "民政 event: infant_death, adoption, foundling"),
        RUN_ID,
    ),
)

PERSON = PublishedTable(
    "person",
    "One row per reconciled child.",
    ("person_id",),
    (
        C("person_id", "VARCHAR", "Stable id of the reconciled child"),
        C("sex", "TINYINT", "1 male, 2 female, null unknown (GB/T 2261.1)"),
        C("birth_date", "DATE", "Reconciled birth date"),
        C("township_code", "VARCHAR", "9-digit township code, null when unmapped"),
        C("birth_order", "TINYINT", "1, 2, 3 (third or later), null unknown"),
        C("record_count", "BIGINT", "Source records linked to this child"),
        C("in_jisheng", "BOOLEAN", "计生 holds the child"),
        C("in_weisheng", "BOOLEAN", "卫生 (birth certificate) holds the child"),
        C("in_gongan", "BOOLEAN", "公安 (hukou) holds the child"),
        C("in_minzheng", "BOOLEAN", "民政 recorded an event about the child"),
        C("mother_pseudonym", "VARCHAR", "Keyed pseudonym of the mother's ID number"),
        C("has_conflict", "BOOLEAN", "Departments disagree on sex, birth date, name or mother"),
        RUN_ID,
    ),
)

DISCREPANCY = PublishedTable(
    "discrepancy",
    "One row per (person, kind, source) discrepancy found.",
    ("discrepancy_id",),
    (
        C("discrepancy_id", "VARCHAR", "Stable id: the same case keeps it across runs"),
        C("person_id", "VARCHAR", "The child involved, null where none is"),
        C("kind", "VARCHAR", "Discrepancy kind code (table label_kind gives Chinese labels)"),
        C("source", "VARCHAR", "The department at fault or missing"),
        C("status", "VARCHAR", "open, explained (a 民政 event accounts for it), resolved"),
        C("record_id", "VARCHAR", "The source record concerned, when there is one"),
        C("severity", "VARCHAR", "high, medium, low, info"),
        C("detail", "VARCHAR", "The values that disagree, ID numbers masked"),
        C("first_run_id", "VARCHAR", "The run that first found this case"),
        C("resolved_by", "VARCHAR",
          "When status is resolved: the officer's decision that closed it (review_decision)"),
        RUN_ID,
    ),
)

SEX_RATIO = PublishedTable(
    "sex_ratio",
    "Sex ratio at birth by source, township, birth order and period, with 95% Wilson bounds.",
    ("source", "township_code", "birth_order", "period"),
    (
        C("source", "VARCHAR", "Department code, or reconciled for the linked children"),
        C("township_code", "VARCHAR", "9-digit code; null all townships; unknown unmapped"),
        C("birth_order", "TINYINT", "1, 2, 3 (third or later); null all; 0 unknown"),
        C("period", "VARCHAR", "all, a year 2013, a quarter 2013-Q2 or a month 2013-05"),
        C("births", "BIGINT", "males + females"),
        C("males", "BIGINT", "Boys"),
        C("females", "BIGINT", "Girls"),
        C("unknown_sex", "BIGINT", "Children of unknown sex, left out of births"),
        C("ratio", "DOUBLE", "Males per 100 females; null when females is 0"),
        C("ci_low", "DOUBLE", "Lower 95% bound of the ratio (Wilson interval on the boys' share)"),
        C("ci_high", "DOUBLE", "Upper 95% bound; null when females is 0"),
        RUN_ID,
    ),
)

QUARANTINE = PublishedTable(
    "quarantine",
    "Every rejected file (row_number null) and rejected row, cumulative over runs.",
    ("file", "row_number"),
    (
        C("source", "VARCHAR", "Department code of the folder, null when unknown"),
        C("file", "VARCHAR", "Path relative to the inbox"),
        C("row_number", "BIGINT", "Spreadsheet row (header = 1); null for a rejected file"),
        C("reason", "VARCHAR", "Reason code (table label_reason gives Chinese labels)"),
        C("detail", "VARCHAR", "What was wrong, values masked"),
        RUN_ID,
    ),
)

RUN = PublishedTable(
    "run",
    "One row per published run: when, as of which date, counts in and out, code version.",
    ("run_id",),
    (
        C("run_id", "VARCHAR", "Deterministic id: as-of date and a hash of everything ingested"),
        C("as_of", "DATE", "Date deadlines are judged by"),
        C("started_at", "TIMESTAMP", "Wall-clock start of the run that published"),
        C("finished_at", "TIMESTAMP", "Wall-clock end of the publish"),
        C("status", "VARCHAR", "published"),
        C("files_ingested", "BIGINT", "Files ingested in all (cumulative)"),
        C("files_rejected", "BIGINT", "Files rejected whole (cumulative)"),
        C("rows_read", "BIGINT", "Rows read from ingested files (cumulative)"),
        C("rows_in_use", "BIGINT", "Source records in use"),
        C("rows_superseded", "BIGINT", "Earlier versions replaced by later ones"),
        C("rows_quarantined", "BIGINT", "Rows quarantined"),
        C("persons", "BIGINT", "Reconciled children"),
        C("discrepancies", "BIGINT", "Rows of table discrepancy"),
        C("code_version", "VARCHAR", "birthrec version that published"),
        C("schema_version", "BIGINT", "Version of these published tables"),
    ),
)

PERSON_HISTORY = PublishedTable(
    "person_history",
    "Person ids retired when evidence or an officer merged two children or split one.",
    ("retired_id", "successor_id"),
    (
        C("retired_id", "VARCHAR", "The person id no longer in use (or split from)"),
        C("successor_id", "VARCHAR", "The person id that now holds its records"),
        C("reason", "VARCHAR", "merged: the child was merged into the successor; "
          "split: some of its records now form the successor"),
        C("retired_run_id", "VARCHAR", "The run in which the change happened"),
        RUN_ID,
    ),
)

KPI_COLUMNS = (
    C("township_code", "VARCHAR", "9-digit township code; null for the whole county"),
    C("children", "BIGINT", "Reconciled children"),
    C("children_in_jisheng", "BIGINT", "Children 计生 holds"),
    C("children_in_weisheng", "BIGINT", "Children 卫生 holds"),
    C("children_in_gongan", "BIGINT", "Children 公安 holds"),
    C("children_in_minzheng", "BIGINT", "Children with a 民政 event"),
    C("jisheng_records", "BIGINT", "计生 records (denominator of accuracy)"),
    C("jisheng_records_with_hukou", "BIGINT",
      "计生 records of children with a hukou (denominator of the ID entry rate)"),
    C("jisheng_records_with_valid_id", "BIGINT", "Of those, records carrying the hukou's ID"),
    C("jisheng_records_accurate", "BIGINT",
      "计生 records agreeing with the child on sex, birth date, mother and name"),
    C("policy_records", "BIGINT", "计生 records with a 政策属性"),
    C("within_policy_records", "BIGINT", "Of those, 政策内"),
    C("coverage", "DOUBLE", "覆盖率: children_in_jisheng / children (target 0.95)"),
    C("id_entry_rate", "DOUBLE",
      "身份证录入率: jisheng_records_with_valid_id / jisheng_records_with_hukou (target 0.95)"),
    C("accuracy", "DOUBLE", "准确率: jisheng_records_accurate / jisheng_records (target 0.90)"),
    C("weisheng_coverage", "DOUBLE", "children_in_weisheng / children"),
    C("gongan_coverage", "DOUBLE", "children_in_gongan / children"),
    C("within_policy_rate", "DOUBLE", "政策内生育率: within_policy_records / policy_records"),
    C("meets_coverage_target", "BOOLEAN", "coverage >= 0.95"),
    C("meets_id_entry_rate_target", "BOOLEAN", "id_entry_rate >= 0.95"),
    C("meets_accuracy_target", "BOOLEAN", "accuracy >= 0.90"),
)
REGISTRATION_KPI = PublishedTable(
    "registration_kpi",
    "Registration indicators of 计生's population database per township and for the county.",
    ("township_code",),
    (*KPI_COLUMNS, RUN_ID),
)
REGISTRATION_KPI_HISTORY = PublishedTable(
    "registration_kpi_history",
    "The three indicators of every published run, for trends.",
    ("kpi_run_id", "township_code"),
    (
        C("kpi_run_id", "VARCHAR", "The run that computed these indicators"),
        C("as_of", "DATE", "That run's as-of date"),
        C("township_code", "VARCHAR", "9-digit township code; null for the whole county"),
        C("children", "BIGINT", "Reconciled children"),
        C("coverage", "DOUBLE", "覆盖率"),
        C("id_entry_rate", "DOUBLE", "身份证录入率"),
        C("accuracy", "DOUBLE", "准确率"),
        RUN_ID,
    ),
)

REVIEW_DECISION = PublishedTable(
    "review_decision",
    "核查结论审计: every officer's decision read from inbox/review/ (同一人, 非同一人, "
    "已核实无误, 已更正) and every decision file or sheet rejected whole; accepted or rejected "
    "and why, what it changed, and whether it is still in force.",
    ("decision_key",),
    (
        C("decision_key", "VARCHAR", "Stable id of the decision: its file's content, sheet, row"),
        C("file", "VARCHAR", "Decision file (文件), path relative to the inbox"),
        C("sheet", "VARCHAR", "Workbook sheet (工作表) the row is on; null for a CSV or a file"),
        C("row_number", "BIGINT", "Spreadsheet row (行号, header = 1); null for a file or "
          "sheet rejected whole"),
        C("file_date", "DATE", "Date in the file's name (…_YYYYMMDD), else the as-of date of "
          "the run that first read it; decisions apply in the order of file date, _<n>, "
          "arrival, name, sheet, row"),
        C("case_id", "VARCHAR", "案件编号: the discrepancy_id the decision is about"),
        C("record_key", "VARCHAR", "记录: source:record_id of the record"),
        C("other_record_key", "VARCHAR", "对应记录: source:record_id of the other record "
          "(同一人 / 非同一人)"),
        C("decision", "VARCHAR", "核查结论 as a code: same_person (同一人), not_same_person "
          "(非同一人), verified (已核实无误), corrected (已更正); null when invalid"),
        C("decision_text", "VARCHAR", "核查结论 as written"),
        C("reviewer", "VARCHAR", "核查人: who checked the case"),
        C("reviewed_on", "DATE", "核查日期, when given"),
        C("note", "VARCHAR", "备注, any ID number in it masked"),
        C("verdict", "VARCHAR", "accepted (采纳) or rejected (不采纳), judged once when the "
          "file was first read"),
        C("reason", "VARCHAR", "Why it was rejected, a code: invalid_decision, missing_value, "
          "missing_record, bad_record_key, unknown_case, unknown_record, changed_case, "
          "contradiction, missing_columns, bad_file_name, bad_encoding, unreadable_file"),
        C("reason_label", "VARCHAR", "The reason in Chinese (不采纳原因)"),
        C("message", "VARCHAR", "For a rejection: the file, sheet, row and column, and why"),
        C("standing", "VARCHAR", "Tonight: in_force (有效), revoked (a later decision on the "
          "same pair or case replaced it), lapsed (the case's data changed: it reopened), "
          "rejected"),
        C("revoked_by", "VARCHAR", "The decision_key of the later decision that replaced it"),
        C("effect", "VARCHAR", "What it changed when applied: merged (合并), split (拆分), "
          "already_linked, already_separate, closed (结案), superseded, not_applied"),
        C("person_before", "VARCHAR", "person_id of 记录 before the decision was applied"),
        C("other_person_before", "VARCHAR", "person_id of 对应记录 before it was applied"),
        C("person_after", "VARCHAR", "person_id of 记录 in the run that applied it"),
        C("other_person_after", "VARCHAR", "person_id of 对应记录 in the run that applied it"),
        C("applied_run_id", "VARCHAR", "The run that first published the decision's verdict"),
        RUN_ID,
    ),
)

LABEL = (
    C("code", "VARCHAR", "The code as it appears in other tables"),
    C("label", "VARCHAR", "Chinese label for reports"),
    RUN_ID,
)
LABEL_SOURCE = PublishedTable("label_source", "Department codes and their Chinese names.",
                              ("code",), LABEL)
LABEL_KIND = PublishedTable("label_kind", "Discrepancy kind codes and their Chinese labels.",
                            ("code",), LABEL)
LABEL_REASON = PublishedTable("label_reason", "Quarantine reason codes and Chinese labels.",
                              ("code",), LABEL)
LABEL_TOWNSHIP = PublishedTable("label_township", "Township codes and official names.",
                                ("code",), LABEL)

PUBLISHED_SCHEMA_VERSION = 2
PUBLISHED_TABLES: tuple[PublishedTable, ...] = (
    PERSON_SOURCE, PERSON, PERSON_HISTORY, DISCREPANCY, SEX_RATIO, REGISTRATION_KPI,
    REGISTRATION_KPI_HISTORY, QUARANTINE, RUN, REVIEW_DECISION,
    LABEL_SOURCE, LABEL_KIND, LABEL_REASON, LABEL_TOWNSHIP,
)
