"""Reconciled tables from the state: persons, discrepancies, sex ratios and indicators.

Records are read with their person ids and masked (never raw) ID numbers; the polars stages
in transforms do the work; discrepancy ids and first-seen runs are kept in the state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import polars as pl

from transforms.indicators import (
    cells_from_monthly,
    jisheng_record_facts,
    kpi_from_facts,
    monthly_births,
)
from transforms.normalise_ids import mask_id_number
from transforms.reconcile import find_discrepancies, reconcile_persons, with_keys
from warehouse import published_queries as queries
from warehouse.review_decisions import apply_review_decisions
from warehouse.run_state import last_publish
from warehouse.state_store import (
    insert_frame,
    registered,
    release_cached_memory,
    transaction,
)

RECONCILED = "reconciled"
RECORD_COLUMNS = (
    "source", "record_id", "sex", "birth_date", "township_code", "birth_order", "child_name",
    "mother_name", "mother_name_pinyin", "child_id_number_problem",
    "child_id_number_birth_date", "child_id_number_sex", "child_id_pseudonym",
    "mother_id_number_problem", "declared_date", "event_type", "event_date", "is_within_policy",
    # Only for person_source, read here so that a whole publish scans the records once.
    "file", "row_number", "extract_date",
)


# Rows per Arrow batch when reading the records: each batch becomes polars columns and is let
# go, so the read never holds the whole result twice.
READ_BATCH_ROWS = 262_144
GATHER_COLUMNS = 4  # columns reordered at once (load_linked_records)
# Reconcile's order of the records (transforms.reconcile.with_keys).
RECORD_ORDER = ("person_id", "record_id", "source")
LINKED_RECORD_COLUMNS = (*RECORD_COLUMNS, "person_id", "match_probability", "version_key",
                         "mother_pseudonym", "person_key", "record_rank", "child_id_masked")


def load_linked_records(connection: duckdb.DuckDBPyConnection,
                        persons: str | None = None) -> pl.DataFrame:
    """Records in use with person ids; ID numbers only as pseudonyms and masked text; sorted
    by person_id and record_id, with the keys reconcile takes (person_key, record_rank).

    `persons`: a table of person_id; only those children's records are read (a nightly run).

    The rows stream out of DuckDB unsorted, in Arrow batches, and polars orders them by the
    narrow keys (RECORD_ORDER), then one column at a time. DuckDB's ORDER BY of the
    wide rows, fetched whole, held them two to three times over: a 1M whole publish peaked
    ~3 GB above where it started, for a frame that keeps ~1.7 GB.
    """
    linked = f"({linked_versions_sql()})"
    if persons is not None:
        connection.execute("CREATE OR REPLACE TEMP TABLE wanted_versions AS "
                           + linked_versions_sql(persons))
        linked = "wanted_versions"
    records = read_in_batches(connection, f"""
SELECT {", ".join(f"r.{c}" for c in RECORD_COLUMNS)}, p.person_id, p.match_probability,
       r.child_id_number AS child_id_text, r.content_key AS version_key,
       {queries.valid_pseudonym_sql('r.mother_pseudonym', 'r.mother_id_number_problem')}
         AS mother_pseudonym
FROM record_versions r JOIN {linked} p USING (ingest_order, row_number)""")
    records = records.with_columns(
        mask_id_number(pl.col("child_id_text")).alias("child_id_masked")).drop("child_id_text")
    # Reordered a few columns at a time, here where no other name holds the unordered frame:
    # each gathered group lets its old chunks go, so at most a group is held twice. A group
    # gathers its columns in parallel: one column at a time took 6.2 s at 1M, four 4.0 s.
    order = records.select(pl.arg_sort_by(*RECORD_ORDER)).to_series()
    names = records.columns
    for start in range(0, len(names), GATHER_COLUMNS):
        group = names[start:start + GATHER_COLUMNS]
        records = records.with_columns(records.select(pl.col(group).gather(order)).get_columns())
    del order
    # Only now is no batch of DuckDB's memory held (the numbers were read without copying).
    release_cached_memory(connection)
    return records.with_columns(*reconcile_keys()).select(LINKED_RECORD_COLUMNS)


def read_in_batches(connection: duckdb.DuckDBPyConnection, query: str) -> pl.DataFrame:
    """A query's rows as one polars frame, converted batch by batch (not one Arrow table
    first, then a second copy in polars); the query joins its wide table (the left) to a
    narrow one (the right).

    DuckDB keeps the right side of a join in memory; left to itself it took the record
    files (their row count is misjudged behind the view's filter), so its join order is
    pinned for this query only.
    """
    connection.execute(f"SET disabled_optimizers = '{PINNED_JOIN_ORDER}'")
    try:
        reader = connection.sql(query).to_arrow_reader(READ_BATCH_ROWS)
        batches = [owned_text(pl.DataFrame(pl.from_arrow(batch))) for batch in reader]
        schema = pl.DataFrame(pl.from_arrow(reader.schema.empty_table())).schema
    finally:
        connection.execute("RESET disabled_optimizers")
    return pl.concat(batches, rechunk=False) if batches else pl.DataFrame(schema=schema)


PINNED_JOIN_ORDER = "join_order,build_side_probe_side"


def owned_text(batch: pl.DataFrame) -> pl.DataFrame:
    """The batch with its text copied into polars' own memory.

    polars takes an Arrow batch's text without copying it, so every batch's buffers, which
    DuckDB allocated, lived as long as the frame and DuckDB could not hand them back: ~0.35
    GB RSS at 1M, and the stream's own peak, as DuckDB could not reuse them for the next batch.
    """
    return batch.with_columns(pl.col(pl.String) + pl.lit(""))


def reconcile_keys() -> list[pl.Expr]:
    """person_key (person_id's dense rank) and record_rank (the row's place) of records in
    RECORD_ORDER: reconcile's integer keys follow from the order alone."""
    return [pl.col("person_id").ne_missing(pl.col("person_id").shift()).cum_sum()
            .cast(pl.UInt32).set_sorted().alias("person_key"),
            pl.int_range(pl.len(), dtype=pl.UInt32).set_sorted().alias("record_rank")]


def linked_versions_sql(persons: str | None = None) -> str:
    """The version in use (ingest_order, row_number: its file's number and its row) of every
    linked record, with its person_id and match_probability; of the children in table
    `persons` only, when given.

    record_person keeps the version each record was linked at, and a publish follows its
    run's linking, which links again every record whose version in use changed: so it is
    read alone, without joining record_winners on 2.8M (source, record_id) keys at 1M. The
    record files are then joined once, on two integers (DuckDB holds this side in memory).
    """
    only = f"WHERE person_id IN (SELECT person_id FROM {persons})" if persons else ""
    return f"""SELECT ingest_order, row_number, person_id, match_probability
FROM record_person {only}"""


def versions_in_use_sql(keys: str, target: str) -> str:
    """Temporary table `target` := the version in use (file_hash, row_number) of each record
    in table `keys` (source, record_id).

    Kept apart from the read of the record files (versions_of_sql): in one query with the
    semi-join to record_winners, a 1M night read its 106k records 2-3 times slower.
    """
    return f"""CREATE OR REPLACE TEMP TABLE {target} AS
SELECT file_hash, row_number FROM record_winners SEMI JOIN {keys} USING (source, record_id)"""


def versions_of_sql(versions: str) -> str:
    """The stored record versions listed in table `versions` (versions_in_use_sql)."""
    return f"(SELECT * FROM record_versions SEMI JOIN {versions} USING (file_hash, row_number))"


def person_source_rows(records: pl.DataFrame, run_id: str) -> pl.DataFrame:
    """The person_source rows of the linked records (load_linked_records), one per record:
    a whole publish gives every record, a nightly patch the affected children's."""
    return records.select(
        "source", "record_id", "person_id", "match_probability", "file", "row_number",
        "extract_date", "township_code", "sex", "birth_date", "birth_order",
        pl.col("child_name").is_not_null().alias("has_child_name"), "child_id_pseudonym",
        pl.col("child_id_number_problem").alias("child_id_problem"), "mother_pseudonym",
        pl.col("mother_id_number_problem").alias("mother_id_problem"), "event_type",
        pl.lit(run_id).alias("run_id"))


def create_register_sql() -> str:
    return """CREATE TABLE IF NOT EXISTS discrepancy_register (
  discrepancy_id VARCHAR PRIMARY KEY, first_run_id VARCHAR, last_run_id VARCHAR)"""


def discrepancy_id_sql(frame: str) -> str:
    """Each case's stable id, row for row of `frame` (kind, source, record_id, person_id)."""
    return f"""
SELECT 'D' || substr(md5(kind || '|' || source || '|' || coalesce(record_id, person_id)),
                     1, 16) AS discrepancy_id
FROM {frame}"""


def discrepancy_ids(connection: duckdb.DuckDBPyConnection, found: pl.DataFrame, run_id: str
                    ) -> pl.DataFrame:
    """A stable id per case (kind, source and the record, or the child when no record is
    concerned), and the run that first saw it, kept in the state's register."""
    connection.execute(create_register_sql())
    # Only the id goes back and forth (a projection keeps the frame's row order).
    with registered(connection, "found_frame",
                    found.select("kind", "source", "record_id", "person_id")):
        keyed = found.with_columns(
            connection.sql(discrepancy_id_sql("found_frame")).pl().to_series())
    with registered(connection, "keyed_frame", keyed.select("discrepancy_id")):
        connection.execute(f"""
INSERT INTO discrepancy_register
SELECT DISTINCT discrepancy_id, '{run_id}', '{run_id}' FROM keyed_frame
ON CONFLICT (discrepancy_id) DO UPDATE SET last_run_id = excluded.last_run_id""")
        first = connection.sql("""SELECT discrepancy_id, first_run_id FROM discrepancy_register
SEMI JOIN keyed_frame USING (discrepancy_id)""").pl()
    return keyed.join(first, on="discrepancy_id", how="left", maintain_order="left").unique(
        "discrepancy_id", keep="first", maintain_order=True)


@dataclass(frozen=True)
class ReconciledChildren:
    """The published rows of some children: everything about them that depends only on their
    own records, their mother's other children and the holders of their child IDs."""

    person: pl.DataFrame
    discrepancy: pl.DataFrame
    review_decision: pl.DataFrame
    jisheng_facts: pl.DataFrame


def reconcile_children(
    connection: duckdb.DuckDBPyConnection, records: pl.DataFrame, run_id: str,
    as_of: date | None, keep: pl.Series | None = None, carried_cases: pl.DataFrame | None = None,
) -> ReconciledChildren:
    """Golden records, discrepancies (closed where officers' decisions still hold) and 计生
    record facts of the children in `records`; of those in `keep` only, when given (the others
    were read as context). `carried_cases`: discrepancy ids of the previous publish that stand
    unchanged tonight, so their fingerprints carry over (a nightly patch)."""
    records = with_keys(records)  # once: the stages below take them as they are
    persons = reconcile_persons(records)
    found = find_discrepancies(records, persons, as_of or date.max)
    facts = jisheng_record_facts(records, persons)
    if keep is not None:
        wanted = keep.implode()
        persons = persons.filter(pl.col("person_id").is_in(wanted))
        found = found.filter(pl.col("person_id").is_in(wanted))
        facts = facts.filter(pl.col("person_id").is_in(wanted))
    discrepancies, decisions = apply_review_decisions(
        connection, discrepancy_ids(connection, found, run_id),
        records.select("source", "record_id", "person_id", "version_key"), run_id,
        carried_cases)
    conflicts = discrepancies.filter(pl.col("kind").str.ends_with("_conflict")).select(
        "person_id").unique().with_columns(pl.lit(True).alias("has_conflict"))
    person = persons.join(conflicts, on="person_id", how="left").with_columns(
        pl.col("has_conflict").fill_null(False), pl.lit(run_id).alias("run_id"))
    return ReconciledChildren(person, discrepancies.with_columns(pl.lit(run_id).alias("run_id")),
                              decisions, facts)


def create_facts_sql() -> str:
    return """CREATE TABLE IF NOT EXISTS jisheng_facts (
  person_id VARCHAR, record_id VARCHAR, child_township VARCHAR, in_gongan BOOLEAN,
  has_hukou_id BOOLEAN, is_accurate BOOLEAN, is_within_policy BOOLEAN)"""


def store_jisheng_facts(connection: duckdb.DuckDBPyConnection, facts: pl.DataFrame,
                        persons: str | None = None) -> None:
    """Keep every 计生 record's facts for the indicators, replacing all of them, or those of
    the children in table `persons` (a nightly patch)."""
    connection.execute(create_facts_sql())
    with transaction(connection):
        connection.execute("DELETE FROM jisheng_facts" if persons is None else
                           f"DELETE FROM jisheng_facts WHERE person_id IN "
                           f"(SELECT person_id FROM {persons})")
        insert_frame(connection, "jisheng_facts", facts)


def reconciled_frames(
    connection: duckdb.DuckDBPyConnection, run_id: str, as_of: date | None
) -> dict[str, pl.DataFrame]:
    """person_source, person, discrepancy, sex_ratio, registration_kpi and review_decision for
    this run; cases an officer closed stay resolved while their data stay the same."""
    records = with_keys(load_linked_records(connection))
    children = reconcile_children(connection, records, run_id, as_of)
    store_jisheng_facts(connection, children.jisheng_facts)
    persons = children.person
    departments = first_records(records).join(
        persons.select("person_key", pl.col("birth_order").alias("child_birth_order")),
        on="person_key").with_columns(
        pl.when(pl.col("source") == "jisheng").then(pl.col("birth_order"))
        .otherwise(pl.col("child_birth_order")).alias("birth_order"))
    counted = pl.concat([
        departments.select("source", "sex", "township_code", "birth_date", "birth_order"),
        persons.select(pl.lit(RECONCILED).alias("source"), "sex", "township_code",
                       "birth_date", "birth_order"),
    ], how="vertical_relaxed")
    kpi = kpi_from_facts(persons, children.jisheng_facts)
    record_kpi_history(connection, kpi, run_id, as_of)
    monthly = monthly_births(counted)
    store_monthly_births(connection, monthly, run_id)
    return {
        "person_source": person_source_rows(records, run_id),
        "person": persons,
        "discrepancy": children.discrepancy,
        "sex_ratio": cells_from_monthly(monthly).with_columns(pl.lit(run_id).alias("run_id")),
        "registration_kpi": kpi.with_columns(pl.lit(run_id).alias("run_id")),
        "registration_kpi_history": kpi_history(connection, run_id),
        "review_decision": children.review_decision,
    }


def first_records(records: pl.DataFrame) -> pl.DataFrame:
    """Each department's (but 民政's) record of each child with the smallest record id: its
    own values for the sex ratio by department (integer keys, no sort of the ids)."""
    return records.select(
        "source", "person_key", "record_rank", "sex", "township_code", "birth_date",
        "birth_order").filter(
        (pl.col("source") != "minzheng")
        & (pl.col("record_rank") == pl.col("record_rank").min().over("source", "person_key")))


def create_monthly_sql() -> str:
    return """CREATE TABLE IF NOT EXISTS monthly_births (
  run_id VARCHAR, source VARCHAR, township_code VARCHAR, birth_order TINYINT, month INTEGER,
  males BIGINT, females BIGINT, unknown_sex BIGINT)"""


def store_monthly_births(connection: duckdb.DuckDBPyConnection, monthly: pl.DataFrame,
                         run_id: str) -> None:
    """Keep this run's monthly counts (the sex ratio's input, transforms.indicators
    .monthly_births) beside the latest publish's: the next night patches them with its
    affected children instead of counting every child again."""
    connection.execute(create_monthly_sql())
    latest = last_publish(connection)
    with transaction(connection):
        connection.execute("DELETE FROM monthly_births WHERE run_id IS DISTINCT FROM ? OR "
                           "run_id = ?", [latest[0] if latest else run_id, run_id])
        insert_frame(connection, "monthly_births", monthly.select(
            pl.lit(run_id).alias("run_id"), "source", "township_code", "birth_order", "month",
            "males", "females", "unknown_sex"))


def stored_monthly_births(connection: duckdb.DuckDBPyConnection, run_id: str
                          ) -> pl.DataFrame | None:
    """The monthly counts kept for publish `run_id`, or None when none were kept (a state
    from before they were)."""
    connection.execute(create_monthly_sql())
    monthly = connection.sql("SELECT * EXCLUDE (run_id) FROM monthly_births WHERE run_id = ?",
                             params=[run_id]).pl()
    return monthly if monthly.height else None


def record_kpi_history(connection: duckdb.DuckDBPyConnection, kpi: pl.DataFrame, run_id: str,
                       as_of: date | None) -> None:
    """Keep every run's indicators so trends can be read."""
    connection.execute("""CREATE TABLE IF NOT EXISTS kpi_history (
  kpi_run_id VARCHAR, as_of DATE, township_code VARCHAR, children BIGINT, coverage DOUBLE,
  id_entry_rate DOUBLE, accuracy DOUBLE)""")
    connection.execute("DELETE FROM kpi_history WHERE kpi_run_id = ?", [run_id])
    insert_frame(connection, "kpi_history", kpi.select(
        pl.lit(run_id).alias("kpi_run_id"), pl.lit(as_of, dtype=pl.Date).alias("as_of"),
        "township_code", "children", "coverage", "id_entry_rate", "accuracy"))


def kpi_history(connection: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    return connection.sql(
        f"SELECT *, '{run_id}' AS run_id FROM kpi_history ORDER BY as_of, township_code").pl()
