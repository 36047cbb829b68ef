"""The SELECTs that fill the published tables from the restricted state.

Each returns exactly the published columns (schemas/published.py) and never an ID number:
only pseudonyms computed at ingest with the key.
"""

from __future__ import annotations

from schemas.codes import IdProblem
from schemas.labels import QUARANTINE_REASON_LABELS


def valid_pseudonym_sql(pseudonym: str, problem: str) -> str:
    """A pseudonym only where the ID number behind it is valid: damaged ones must not join."""
    return (f"CASE WHEN {problem} IS NULL OR {problem} = '{IdProblem.UPGRADED_15.value}' "
            f"THEN {pseudonym} END")


def reason_label_sql() -> str:
    """CASE mapping a quarantine reason code to its Chinese label."""
    cases = " ".join(f"WHEN '{code.value}' THEN '{label}'"
                     for code, label in QUARANTINE_REASON_LABELS.items())
    return f"CASE reason {cases} END"


def person_history_sql(run_id: str) -> str:
    return f"""
SELECT DISTINCT ON (retired_id, successor_id) retired_id, successor_id, reason,
       run_id AS retired_run_id, '{run_id}' AS run_id
FROM person_history ORDER BY retired_id, successor_id, run_id"""


def quarantine_sql(run_id: str) -> str:
    return f"""
SELECT DISTINCT ON (file, file_hash, row_number, reason)
       source, file, row_number, reason, coalesce(detail, {reason_label_sql()}) AS detail,
       '{run_id}' AS run_id
FROM quarantine_rows
ORDER BY file, row_number NULLS FIRST, reason"""


def department_children_sql() -> str:
    """One row per (department, child): the department's own values, its latest record."""
    return """
SELECT DISTINCT ON (r.source, p.person_id)
       r.source, p.person_id, r.sex, r.township_code, r.birth_date, r.birth_order
FROM records_in_use r JOIN record_person p USING (source, record_id)
WHERE r.source <> 'minzheng'
ORDER BY r.source, p.person_id, r.extract_date DESC, r.record_id"""
