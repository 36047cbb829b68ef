"""Officers' decisions: the one declaration of the review format.

The officers' workbook writes these columns on every case sheet, and the review loop reads
them back from filled workbooks and CSV files dropped into `inbox/review/`; nothing else
spells them. A case is a published discrepancy (`discrepancy_id`); a decision about two
records names both by their record keys, `source:record_id` (record ids are not ID numbers).
"""

from __future__ import annotations

from enum import StrEnum

REVIEW_FOLDER = "review"


class Decision(StrEnum):
    """What an officer decided about a case."""

    SAME_PERSON = "same_person"  # the two records are one child: a must-link
    NOT_SAME_PERSON = "not_same_person"  # the two records are two children: a cannot-link
    VERIFIED = "verified"  # checked in the field, the data are right as they are: close it
    CORRECTED = "corrected"  # the department corrected its record: close it


DECISION_LABELS: dict[Decision, str] = {
    Decision.SAME_PERSON: "同一人",
    Decision.NOT_SAME_PERSON: "非同一人",
    Decision.VERIFIED: "已核实无误",
    Decision.CORRECTED: "已更正",
}

# The drop-down offers exactly these, in this order.
DECISION_CHOICES: tuple[str, ...] = tuple(DECISION_LABELS.values())

# Decisions that link or separate two records, and so need both of them named.
PAIR_DECISIONS = frozenset({Decision.SAME_PERSON, Decision.NOT_SAME_PERSON})
# Decisions that close the case until the data behind it change.
CLOSING_DECISIONS = frozenset({Decision.VERIFIED, Decision.CORRECTED})


class ReviewColumn(StrEnum):
    """The decision columns, by their Chinese headers (workbook and CSV alike)."""

    CASE_ID = "案件编号"  # discrepancy_id
    RECORD = "记录"  # source:record_id of the record the case is about
    OTHER_RECORD = "对应记录"  # source:record_id of the other record (pair decisions)
    DECISION = "核查结论"  # one of DECISION_CHOICES
    NOTE = "备注"
    REVIEWER = "核查人"
    REVIEWED_ON = "核查日期"  # optional; a date in any form the date normaliser reads


# Columns a decision file must have; the rest are optional.
REQUIRED_REVIEW_COLUMNS = (ReviewColumn.CASE_ID, ReviewColumn.DECISION, ReviewColumn.REVIEWER)


def decision_of(label: str) -> Decision | None:
    """The decision a cell's text names (its Chinese label or its code), else None."""
    text = label.strip()
    for decision, chinese in DECISION_LABELS.items():
        if text in (chinese, decision.value):
            return decision
    return None


# Canonical names of the decision columns once read (the Chinese headers stay above).
REVIEW_COLUMN_NAMES: dict[ReviewColumn, str] = {
    ReviewColumn.CASE_ID: "case_id",
    ReviewColumn.RECORD: "record_key",
    ReviewColumn.OTHER_RECORD: "other_record_key",
    ReviewColumn.DECISION: "decision_text",
    ReviewColumn.NOTE: "note",
    ReviewColumn.REVIEWER: "reviewer",
    ReviewColumn.REVIEWED_ON: "reviewed_on",
}

# Decision files apply in the order of the date in their name (<anything>_<YYYYMMDD>[_<n>]
# .<ext>, e.g. review_20140301.csv); a file without one (a workbook returned as it was
# named, 核查表_长垌乡_451324203.xlsx) is dated by the run that first reads it.
REVIEW_EXTENSIONS = (".xlsx", ".xlsm", ".xls", ".csv")
REVIEW_CSV_ENCODINGS = ("utf-8", "gb18030")  # tried in this order; a BOM is allowed


class Verdict(StrEnum):
    """Whether a decision row was taken, judged once, in the run that first read it."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"


class Rejection(StrEnum):
    """Why a decision (or a whole decision file) was not taken."""

    BAD_FILE_NAME = "bad_file_name"  # not an xlsx, xlsm, xls or csv file
    UNREADABLE_FILE = "unreadable_file"
    BAD_ENCODING = "bad_encoding"  # neither UTF-8 nor GB18030
    MISSING_COLUMNS = "missing_columns"  # a file or case sheet lacks required columns
    INVALID_DECISION = "invalid_decision"  # 核查结论 is not one of DECISION_CHOICES
    MISSING_VALUE = "missing_value"  # blank 案件编号 or 核查人
    MISSING_RECORD = "missing_record"  # a pair decision without both records, or one twice
    BAD_RECORD_KEY = "bad_record_key"  # not source:record_id
    UNKNOWN_CASE = "unknown_case"  # no such case was ever published
    UNKNOWN_RECORD = "unknown_record"  # no such record in use
    CHANGED_CASE = "changed_case"  # the case is no longer as the latest workbook showed it
    CONTRADICTION = "contradiction"  # 同一人 and 非同一人 decisions that cannot all hold


class Standing(StrEnum):
    """Where an accepted decision stands tonight."""

    IN_FORCE = "in_force"
    REVOKED = "revoked"  # a later decision on the same pair or case replaced it
    LAPSED = "lapsed"  # a closing decision whose case's data changed: the case reopened
    REJECTED = "rejected"


class Effect(StrEnum):
    """What a decision changed in the run that applied it."""

    MERGED = "merged"  # two children became one
    SPLIT = "split"  # one child became two
    ALREADY_LINKED = "already_linked"  # 同一人 on records already of one child
    ALREADY_SEPARATE = "already_separate"  # 非同一人 on records already of two children
    CLOSED = "closed"  # the case's status became resolved
    SUPERSEDED = "superseded"  # revoked by a later decision before it was applied
    NOT_APPLIED = "not_applied"  # accepted, but the case's data changed the same night


REJECTION_LABELS: dict[Rejection, str] = {
    Rejection.BAD_FILE_NAME: "核查结论文件须为 xlsx、xls 或 csv",
    Rejection.UNREADABLE_FILE: "文件无法打开或已损坏",
    Rejection.BAD_ENCODING: "CSV 编码须为 UTF-8 或 GB18030",
    Rejection.MISSING_COLUMNS: "缺少必填列（案件编号、核查结论、核查人）",
    Rejection.INVALID_DECISION: "核查结论须为 同一人 / 非同一人 / 已核实无误 / 已更正",
    Rejection.MISSING_VALUE: "案件编号或核查人为空",
    Rejection.MISSING_RECORD: "同一人/非同一人须填写两条不同的记录（记录、对应记录）",
    Rejection.BAD_RECORD_KEY: "记录须写作 来源:记录编号，如 gongan:G0001",
    Rejection.UNKNOWN_CASE: "案件编号不存在",
    Rejection.UNKNOWN_RECORD: "记录不存在或未在使用",
    Rejection.CHANGED_CASE: "案件数据已变化或已不存在，请按新的核查表重新核查",
    Rejection.CONTRADICTION: "与其他核查结论矛盾（同一人与非同一人无法同时成立）",
}
