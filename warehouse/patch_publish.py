"""A nightly publish that redoes only the children the night touched, by patching a copy of
the previous publish.

A child's golden record and its cases depend on its own records, on its mother's other
children (birth order is inferred from them) and on whoever else holds its child ID (一号多人).
So the children linked again since the last publish (state table unpublished_links), those
whose hukou deadline passed since the last as-of date and those named by officers' new
decisions are "touched"; with their mothers' other children and the other holders of their
child IDs they are "affected" and reconciled again; those children's own mothers' children
and ID holders are read as well, as context, so that every affected child is computed
exactly as a whole run would. Everything else is carried from the previous publish, whose
copy is patched and swapped in at once: readers see one run or the next, never a mix.
Aggregates are recomputed: indicators from the patched tables, sex ratios from the monthly
counts the previous publish kept (state table monthly_births), less the affected children's
as published, plus theirs tonight.

The whole path (warehouse.publish.publish_tables) runs instead whenever the patch cannot be
trusted: no previous publish, a rebuild or full relink, another code basis, an earlier as-of.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl

from schemas.published import PUBLISHED_SCHEMA_VERSION, PUBLISHED_TABLES, PublishedTable
from transforms.indicators import (
    UNKNOWN_BIRTH_ORDER,
    UNKNOWN_TOWNSHIP,
    cells_from_monthly,
    kpi_from_counts,
    patch_monthly_births,
)
from transforms.reconcile import HUKOU_GRACE_MONTHS
from warehouse import published_queries as queries
from warehouse.publish import (
    PUBLISHED_BY_NAME,
    building_path,
    comment_sql,
    fill_published_table,
    swap_in,
)
from warehouse.reconciled_tables import (
    RECONCILED,
    ReconciledChildren,
    kpi_history,
    load_linked_records,
    person_source_rows,
    reconcile_children,
    record_kpi_history,
    store_jisheng_facts,
    store_monthly_births,
    stored_monthly_births,
    versions_in_use_sql,
    versions_of_sql,
)
from warehouse.review_decisions import table_exists
from warehouse.run_state import last_publish, record_publish
from warehouse.state_store import record_published_run, transaction

# Bump when what the reconciled tables hold, or how, changes: the next run publishes whole.
# 2: a case among one department's two records of a child names the smaller record id
# (integer record ranks); a patch over a publish made before kept the other choice for
# children it did not redo (133 cases at 1M).
BASIS_VERSION = 2
PREVIOUS = "prev"
# A month is at most 31 days: children born this long before the last as-of date may have
# passed their hukou deadline since.
DEADLINE_DAYS = 31 * HUKOU_GRACE_MONTHS + 1
# Tables carried row by row; every other published table is rebuilt whole (all are small).
CARRIED = ("person_source", "person", "discrepancy")


def create_basis_sql() -> str:
    return """CREATE TABLE IF NOT EXISTS reconciled_basis (
  run_id VARCHAR, basis_version INTEGER, schema_version INTEGER)"""


def mark_published(connection: duckdb.DuckDBPyConnection, run_id: str, content_key: str,
                   at: datetime) -> None:
    """The publish is in place: remember it, and that tonight's links are in it."""
    connection.execute(create_basis_sql())
    with transaction(connection):
        record_publish(connection, run_id, content_key, at)
        if table_exists(connection, "unpublished_links"):
            connection.execute("DELETE FROM unpublished_links")
        connection.execute("DELETE FROM reconciled_basis")
        connection.execute("INSERT INTO reconciled_basis VALUES (?, ?, ?)",
                           [run_id, BASIS_VERSION, PUBLISHED_SCHEMA_VERSION])


def patch_basis(connection: duckdb.DuckDBPyConnection, warehouse: Path, as_of: date | None
                ) -> tuple[str, date | None] | None:
    """(run_id, as_of) of the previous publish when tonight may patch it, else None."""
    latest = last_publish(connection)
    if latest is None or not warehouse.exists():
        return None
    connection.execute(create_basis_sql())
    basis = connection.execute(
        "SELECT run_id FROM reconciled_basis WHERE basis_version = ? AND schema_version = ?",
        [BASIS_VERSION, PUBLISHED_SCHEMA_VERSION]).fetchall()
    if not basis or basis[0][0] != latest[0]:
        return None
    if not table_exists(connection, "unpublished_links") or connection.execute(
            "SELECT count(*) FROM unpublished_links WHERE member_key IS NULL").fetchall()[0][0]:
        return None  # a full relink since: every child may have changed
    previous_as_of = connection.execute(
        "SELECT as_of FROM published_runs WHERE run_id = ?", [latest[0]]).fetchall()
    before = previous_as_of[0][0] if previous_as_of else None
    if (before is None) != (as_of is None) or (before and as_of and as_of < before):
        return None
    with duckdb.connect(str(warehouse), read_only=True) as reader:
        shown = reader.execute("SELECT DISTINCT run_id FROM label_source").fetchall()
    return (latest[0], before) if shown == [(latest[0],)] else None


def touched_children_sql(previous_as_of: date | None, as_of: date | None,
                         with_decisions: bool) -> str:
    """Children linked again since the last publish (before and after), those whose hukou
    deadline passed since, and those named by decisions not applied yet."""
    parts = [
        "SELECT person_before AS person_id FROM unpublished_links WHERE person_before NOT NULL",
        "SELECT person_after FROM unpublished_links WHERE person_after NOT NULL",
    ]
    if previous_as_of is not None and as_of is not None and as_of != previous_as_of:
        parts.append(f"SELECT person_id FROM {PREVIOUS}.person "
                     f"WHERE birth_date >= DATE '{previous_as_of}' - {DEADLINE_DAYS} "
                     f"AND birth_date < DATE '{as_of}'")
    if with_decisions:
        parts += [
            """SELECT p.person_id FROM review_decisions d JOIN record_person p
  ON p.member_key IN (d.record_key, d.other_record_key) WHERE d.applied_run_id IS NULL""",
            f"""SELECT s.person_id FROM review_decisions d JOIN {PREVIOUS}.person_source s
  ON s.source || ':' || s.record_id IN (d.record_key, d.other_record_key)
WHERE d.applied_run_id IS NULL""",
            f"""SELECT c.person_id FROM review_decisions d JOIN {PREVIOUS}.discrepancy c
  ON c.discrepancy_id = d.case_id WHERE d.applied_run_id IS NULL AND c.person_id NOT NULL""",
        ]
    return "\nUNION\n".join(parts)


def child_values_sql() -> str:
    """Every child's mothers and valid child IDs tonight: a touched child's from its records
    now and from the previous publish (both, so leaving a family counts too), any other
    child's from the previous publish (unchanged since)."""
    mother = queries.valid_pseudonym_sql("r.mother_pseudonym", "r.mother_id_number_problem")
    return f"""
CREATE OR REPLACE TEMP TABLE touched_records AS
SELECT source, record_id FROM record_person
WHERE person_id IN (SELECT person_id FROM touched_children);
{versions_in_use_sql('touched_records', 'touched_versions')};
CREATE OR REPLACE TEMP TABLE child_values AS
SELECT p.person_id, {mother} AS mother,
       CASE WHEN r.child_id_number_problem IS NULL THEN r.child_id_pseudonym END AS child_id
FROM {versions_of_sql('touched_versions')} r JOIN record_person p
  USING (source, record_id)
UNION ALL
SELECT person_id, mother_pseudonym, NULL FROM {PREVIOUS}.person
WHERE mother_pseudonym NOT NULL
UNION ALL
SELECT person_id, NULL, child_id_pseudonym FROM {PREVIOUS}.person_source
WHERE child_id_pseudonym NOT NULL AND child_id_problem IS NULL;"""


def with_neighbours_sql(children: str, target: str) -> str:
    """`target` := `children` and every child sharing a mother or a child ID with one."""
    return f"""
CREATE OR REPLACE TEMP TABLE {target} AS
WITH own AS (SELECT * FROM child_values WHERE person_id IN (SELECT person_id FROM {children}))
SELECT person_id FROM {children}
UNION SELECT v.person_id FROM child_values v JOIN own o ON v.mother = o.mother
UNION SELECT v.person_id FROM child_values v JOIN own o ON v.child_id = o.child_id"""


def department_children_sql(schema: str, persons: str | None = None) -> str:
    """The sex ratio's input from published tables: each department's own values for each
    child it holds (its record with the smallest id), and each reconciled child; of the
    children in table `persons` only, when given."""
    only = f"person_id IN (SELECT person_id FROM {persons})" if persons else "true"
    values = ("{'sex': sex, 'township_code': township_code, 'birth_date': birth_date, "
              "'birth_order': birth_order}")
    return f"""
SELECT d.source, d.own.sex AS sex, d.own.township_code AS township_code,
       d.own.birth_date AS birth_date,
       CASE WHEN d.source = 'jisheng' THEN d.own.birth_order ELSE p.birth_order END
         AS birth_order
FROM (SELECT source, person_id, arg_min({values}, record_id) AS own
      FROM {schema}.person_source WHERE source <> 'minzheng' AND {only}
      GROUP BY source, person_id) d
JOIN {schema}.person p USING (person_id)
UNION ALL
SELECT '{RECONCILED}', sex, township_code, birth_date, birth_order FROM {schema}.person
WHERE {only}"""


def monthly_births_sql(children: str) -> str:
    """transforms.indicators.monthly_births as a query over the children's rows."""
    return f"""
SELECT source, coalesce(township_code, '{UNKNOWN_TOWNSHIP}') AS township_code,
       coalesce(birth_order, {UNKNOWN_BIRTH_ORDER})::TINYINT AS birth_order,
       (year(birth_date) * 100 + month(birth_date))::INTEGER AS month,
       count(*) FILTER (WHERE sex = 1) AS males, count(*) FILTER (WHERE sex = 2) AS females,
       count(*) FILTER (WHERE sex IS NULL) AS unknown_sex
FROM ({children}) GROUP BY ALL"""


def township_people_sql(schema: str) -> str:
    """Children per township and how many each department holds (kpi_from_counts)."""
    return f"""
SELECT coalesce(township_code, '{UNKNOWN_TOWNSHIP}') AS township_code, count(*) AS children,
       count(*) FILTER (WHERE in_jisheng) AS children_in_jisheng,
       count(*) FILTER (WHERE in_weisheng) AS children_in_weisheng,
       count(*) FILTER (WHERE in_gongan) AS children_in_gongan,
       count(*) FILTER (WHERE in_minzheng) AS children_in_minzheng
FROM {schema}.person GROUP BY ALL"""


def township_cases_sql() -> str:
    """计生 records per township of their child, from the state's facts (kpi_from_counts)."""
    return f"""
SELECT coalesce(child_township, '{UNKNOWN_TOWNSHIP}') AS township_code,
       count(*) AS jisheng_records,
       count(*) FILTER (WHERE in_gongan) AS jisheng_records_with_hukou,
       count(*) FILTER (WHERE in_gongan AND has_hukou_id) AS jisheng_records_with_valid_id,
       count(*) FILTER (WHERE is_accurate) AS jisheng_records_accurate,
       count(is_within_policy) AS policy_records,
       count(*) FILTER (WHERE is_within_policy) AS within_policy_records
FROM jisheng_facts GROUP BY ALL"""


def patch_published(
    connection: duckdb.DuckDBPyConnection,
    warehouse: Path,
    run_id: str,
    as_of: date | None,
    previous: tuple[str, date | None],
    run_row: dict[str, object],
    whole_queries: Mapping[str, str],
    whole_frames: Mapping[str, pl.DataFrame],
) -> dict[str, int]:
    """Reconcile the affected children, patch a copy of the previous publish and swap it in.

    `previous`: the run_id and as-of date of the publish patched (patch_basis).
    `run_row`: this run's row of the run table (its discrepancy count is filled in here).
    `whole_queries` / `whole_frames`: the small tables rebuilt whole (person_history,
    quarantine, run, labels). Returns counts for the log.
    """
    previous_run_id, previous_as_of = previous
    target = building_path(warehouse)
    target.unlink(missing_ok=True)
    target.with_name(target.name + ".wal").unlink(missing_ok=True)
    connection.execute(f"ATTACH '{warehouse}' AS {PREVIOUS} (READ_ONLY)")
    try:
        connection.execute("CREATE OR REPLACE TEMP TABLE touched_children AS " +
                           touched_children_sql(previous_as_of, as_of,
                                                table_exists(connection, "review_decisions")))
        connection.execute(child_values_sql())
        connection.execute(with_neighbours_sql("touched_children", "affected_children"))
        connection.execute(with_neighbours_sql("affected_children", "context_children"))
        affected = connection.sql("SELECT person_id FROM affected_children").pl().get_column(
            "person_id")
        carried_cases = connection.sql(
            f"SELECT discrepancy_id FROM {PREVIOUS}.discrepancy WHERE person_id IS NULL OR "
            "person_id NOT IN (SELECT person_id FROM affected_children)").pl()
    finally:
        connection.execute(f"DETACH {PREVIOUS}")
    records = load_linked_records(connection, persons="context_children")
    children = reconcile_children(connection, records, run_id, as_of, keep=affected,
                                  carried_cases=carried_cases)
    store_jisheng_facts(connection, children.jisheng_facts, persons="affected_children")
    person_source = person_source_rows(
        records.filter(pl.col("person_id").is_in(affected.implode())), run_id)
    shutil.copyfile(warehouse, target)
    connection.execute(f"ATTACH '{target}' AS pub")
    try:
        # No transaction: one may write a single database, and this copy is thrown away
        # unless every step succeeds.
        counts = patch_tables(connection, run_id, as_of, previous_run_id, children,
                              person_source, run_row, whole_queries, whole_frames)
        connection.execute("CHECKPOINT pub")
    finally:
        connection.execute("DETACH pub")
    swap_in(target, warehouse)
    return {**counts, "affected_children": affected.len(), "context_records": records.height}


def restamp_sql(table: PublishedTable, run_id: str, schema: str = "pub") -> list[str]:
    """Give every row of `table` the run_id `run_id`, its last column: dropped and added
    again with that value as its default, then declared as before (default dropped, comment
    back). DuckDB then writes one new column; an UPDATE of every row was 1.5-2x slower at 1M.
    """
    if table.column_names[-1] != "run_id":
        raise ValueError(f"restamp: run_id is not the last column of {table.name}")
    column = table.columns[-1]
    name = f"{schema}.{table.name}"
    quoted = run_id.replace("'", "''")
    return [f"ALTER TABLE {name} DROP COLUMN run_id",
            f"ALTER TABLE {name} ADD COLUMN run_id {column.sql_type} DEFAULT '{quoted}'",
            f"ALTER TABLE {name} ALTER COLUMN run_id DROP DEFAULT",
            *[statement for statement in comment_sql(table, schema)
              if statement.startswith(f"COMMENT ON COLUMN {name}.run_id ")]]


def patch_tables(
    connection: duckdb.DuckDBPyConnection, run_id: str, as_of: date | None,
    previous_run_id: str, children: ReconciledChildren, person_source: pl.DataFrame,
    run_row: dict[str, object],
    whole_queries: Mapping[str, str], whole_frames: Mapping[str, pl.DataFrame],
) -> dict[str, int]:
    """On the copy `pub`: carried tables patched, the rest rebuilt. Returns the carried
    tables' row counts."""
    previous_monthly = stored_monthly_births(connection, previous_run_id)
    departed = (None if previous_monthly is None else connection.sql(
        monthly_births_sql(department_children_sql("pub", "affected_children"))).pl())
    for carried in CARRIED:
        for statement in restamp_sql(PUBLISHED_BY_NAME[carried], run_id):
            connection.execute(statement)
        connection.execute(f"DELETE FROM pub.{carried} WHERE person_id IN "
                           "(SELECT person_id FROM affected_children)")
    fill_published_table(connection, "person_source", frame=person_source)
    fill_published_table(connection, "person", frame=children.person)
    fill_published_table(connection, "discrepancy", frame=children.discrepancy)
    counts = {name: int(connection.execute(f"SELECT count(*) FROM pub.{name}").fetchall()[0][0])
              for name in CARRIED}
    record_published_run(connection, {**run_row, "discrepancies": counts["discrepancy"]})
    monthly = patched_monthly_births(connection, previous_monthly, departed)
    store_monthly_births(connection, monthly, run_id)
    kpi = kpi_from_counts(connection.sql(township_people_sql("pub")).pl(),
                          connection.sql(township_cases_sql()).pl())
    record_kpi_history(connection, kpi, run_id, as_of)
    rebuilt = {
        **whole_frames,
        "sex_ratio": cells_from_monthly(monthly).with_columns(pl.lit(run_id).alias("run_id")),
        "registration_kpi": kpi.with_columns(pl.lit(run_id).alias("run_id")),
        "registration_kpi_history": kpi_history(connection, run_id),
        "review_decision": children.review_decision,
    }
    for table in PUBLISHED_TABLES:
        if table.name not in CARRIED:
            connection.execute(f"DELETE FROM pub.{table.name}")
            fill_published_table(connection, table.name, frame=rebuilt.get(table.name),
                                 query=whole_queries.get(table.name))
    return counts


def patched_monthly_births(connection: duckdb.DuckDBPyConnection,
                           previous: pl.DataFrame | None, departed: pl.DataFrame | None
                           ) -> pl.DataFrame:
    """Tonight's monthly births: the previous publish's kept counts patched with the affected
    children's (before and after), or, when none were kept, every child of `pub` counted."""
    if previous is None or departed is None:
        return connection.sql(monthly_births_sql(department_children_sql("pub"))).pl()
    arrived = connection.sql(
        monthly_births_sql(department_children_sql("pub", "affected_children"))).pl()
    return patch_monthly_births(previous, departed, arrived)
