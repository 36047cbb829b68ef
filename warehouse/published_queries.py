"""The SELECTs that fill the published tables from the restricted state.

Each returns exactly the published columns (schemas/published.py) and never an ID number:
only pseudonyms computed at ingest with the key.
"""

from __future__ import annotations

from schemas.codes import IdProblem
from schemas.labels import QUARANTINE_REASON_LABELS

VALID_ID_PROBLEMS = f"(NULL, '{IdProblem.UPGRADED_15.value}')"
# Which department's value a reconciled child takes first, field by field (survivorship):
# the hospital certificate for sex and birth date, then hukou, then family planning.
SOURCE_PRIORITY_SQL = (
    "CASE source WHEN 'weisheng' THEN 1 WHEN 'gongan' THEN 2 WHEN 'jisheng' THEN 3 ELSE 4 END"
)


def valid_pseudonym_sql(pseudonym: str, problem: str) -> str:
    """A pseudonym only where the ID number behind it is valid: damaged ones must not join."""
    return (f"CASE WHEN {problem} IS NULL OR {problem} = '{IdProblem.UPGRADED_15.value}' "
            f"THEN {pseudonym} END")


def person_source_sql(run_id: str, records: str = "records_in_use") -> str:
    """`records`: the records in use, or a subquery narrowing them (a nightly patch)."""
    return f"""
SELECT r.source, r.record_id, p.person_id, p.match_probability, r.file, r.row_number,
       r.extract_date, r.township_code, r.sex, r.birth_date, r.birth_order,
       r.child_name IS NOT NULL AS has_child_name,
       r.child_id_pseudonym, r.child_id_number_problem AS child_id_problem,
       {valid_pseudonym_sql('r.mother_pseudonym', 'r.mother_id_number_problem')}
         AS mother_pseudonym,
       r.mother_id_number_problem AS mother_id_problem, r.event_type,
       '{run_id}' AS run_id
FROM {records} r JOIN record_person p USING (source, record_id)"""


def person_sql(run_id: str) -> str:
    def best(column: str) -> str:
        return (f"arg_min({column}, {SOURCE_PRIORITY_SQL}) FILTER "
                f"(WHERE {column} IS NOT NULL)")

    return f"""
SELECT p.person_id,
       {best('r.sex')} AS sex,
       {best('r.birth_date')} AS birth_date,
       {best('r.township_code')} AS township_code,
       arg_min(r.birth_order, r.record_id) FILTER (WHERE r.birth_order IS NOT NULL)
         AS birth_order,
       count(*) AS record_count,
       bool_or(r.source = 'jisheng') AS in_jisheng,
       bool_or(r.source = 'weisheng') AS in_weisheng,
       bool_or(r.source = 'gongan') AS in_gongan,
       bool_or(r.source = 'minzheng') AS in_minzheng,
       {best(valid_pseudonym_sql('r.mother_pseudonym', 'r.mother_id_number_problem'))}
         AS mother_pseudonym,
       '{run_id}' AS run_id
FROM records_in_use r JOIN record_person p USING (source, record_id)
GROUP BY p.person_id"""


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


def discrepancy_sql(run_id: str) -> str:
    """Discrepancies come with reconciliation; until then the table is published empty."""
    return f"""
SELECT NULL::VARCHAR AS discrepancy_id, NULL::VARCHAR AS person_id, NULL::VARCHAR AS kind,
       NULL::VARCHAR AS source, NULL::VARCHAR AS status, NULL::VARCHAR AS record_id,
       NULL::VARCHAR AS detail, '{run_id}' AS run_id
WHERE false"""
