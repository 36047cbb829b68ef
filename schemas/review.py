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
