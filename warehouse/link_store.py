"""Linking against the state: which child each record in use belongs to, kept across nights.

State tables: record_person (member -> person id, and the record version it was linked
at), link_pairs (scored candidate pairs that matter for clustering and explanation),
person_history (retired ids and their successors), link_model (the trained weights).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import polars as pl

from transforms.apply_decisions import violated_constraints
from transforms.compare import COMPARISONS
from transforms.link_children import (
    Linkage,
    constraint_members,
    link_children,
    relink_children,
    with_member_keys,
)
from transforms.link_records import LINK_INPUT_COLUMNS
from transforms.person_ids import carry_person_ids
from transforms.score import FellegiSunterModel
from warehouse.pseudonymise import PSEUDONYM_PREFIXES, pseudonym_sql
from warehouse.review_decisions import load_link_constraints
from warehouse.state_store import (
    insert_frame,
    registered,
    release_cached_memory,
    transaction,
)

LEVEL_COLUMNS = [f"{c.name}_level" for c in COMPARISONS]
WEIGHT_COLUMNS = [f"{c.name}_weight" for c in COMPARISONS]
# Pairs worth keeping: links, and contradictions (they forbid merges on later nights).
KEEP_PAIR = (pl.col("match_probability") >= 0.01) | pl.col("is_contradiction")
KEEP_PAIR_SQL = "match_probability >= 0.01 OR is_contradiction"
STORED_PAIR_COLUMNS = ("key_l", "key_r", "match_probability", "match_weight",
                       "is_duplicate_candidate", "is_contradiction", *LEVEL_COLUMNS,
                       *WEIGHT_COLUMNS)


def create_link_state_sql() -> list[str]:
    levels = ", ".join(f"{c} TINYINT" for c in LEVEL_COLUMNS)
    weights = ", ".join(f"{c} DOUBLE" for c in WEIGHT_COLUMNS)
    return [
        """CREATE TABLE IF NOT EXISTS record_person (
  member_key VARCHAR, source VARCHAR, record_id VARCHAR, person_id VARCHAR,
  match_probability DOUBLE, version_key VARCHAR)""",
        f"""CREATE TABLE IF NOT EXISTS link_pairs (
  key_l VARCHAR, key_r VARCHAR, match_probability DOUBLE, match_weight DOUBLE,
  is_duplicate_candidate BOOLEAN, is_contradiction BOOLEAN, {levels}, {weights})""",
        """CREATE TABLE IF NOT EXISTS person_history (
  retired_id VARCHAR, successor_id VARCHAR, reason VARCHAR, run_id VARCHAR)""",
        """CREATE TABLE IF NOT EXISTS link_model (trained_run_id VARCHAR, model VARCHAR)""",
        # Records linked again since the last publish, with the child they belonged to
        # before: a nightly publish redoes exactly these children. Cleared by the publish.
        """CREATE TABLE IF NOT EXISTS unpublished_links (
  member_key VARCHAR, person_before VARCHAR, person_after VARCHAR, run_id VARCHAR)""",
    ]


@dataclass(frozen=True)
class LinkOutcome:
    """Counts for the run summary and logs."""

    mode: str  # full / nightly / unchanged
    records_probed: int
    candidate_pairs: int
    persons: int
    retired_ids: int
    oversized_clusters: int
    blocking: pl.DataFrame


def version_key_sql(file_hash: str, row_number: str) -> str:
    """Which stored version of a record was linked: its file and row."""
    return f"{file_hash} || ':' || {row_number}::VARCHAR"


# How linking holds a record's version: its file's number (files.ingest_order) and its row.
# Sixteen bytes a record instead of the 70-character key, which DuckDB spells out as the rows
# are stored, from the few-row `files` table (store_linkage).
VERSION_COLUMNS = ("ingest_order", "row_number")


def load_records(connection: duckdb.DuckDBPyConnection, in_key_order: bool) -> pl.DataFrame:
    """Records in use with the linking columns, their member key and version (file number
    and row).

    A full run numbers records in key order (`in_key_order`): EM's random pairs and
    clustering's ties follow the numbering. A night does not need it (relink_children orders
    what it clusters), and DuckDB's sort was ~40% of the read (1M: 2.5-3.1 s against 1.6 s).
    """
    columns = ", ".join((*LINK_INPUT_COLUMNS, *VERSION_COLUMNS))
    order = " ORDER BY source, record_id" if in_key_order else ""
    return connection.sql(
        f"SELECT {columns}, source || ':' || record_id AS member_key FROM records_in_use"
        f"{order}").pl()


def load_model(connection: duckdb.DuckDBPyConnection) -> FellegiSunterModel | None:
    rows = connection.execute("SELECT model FROM link_model").fetchall()
    return FellegiSunterModel.from_json(rows[-1][0]) if rows else None


def constraint_recs(records: pl.DataFrame, constraints: pl.DataFrame
                    ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(must_link, cannot_link) as rec_l, rec_r: officers' pairs of record keys, numbered as
    link_records numbers `records` (their row order). A key not in use links nothing."""
    if constraints.height == 0:
        empty = pl.DataFrame(schema={"rec_l": pl.Int64, "rec_r": pl.Int64})
        return empty, empty
    index = with_member_keys(records.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("rec"), "source", "record_id"), records)
    recs = constraints.join(index.rename({"rec": "rec_l", "member_key": "key_l"}), on="key_l"
                            ).join(index.rename({"rec": "rec_r", "member_key": "key_r"}),
                                   on="key_r")
    return (recs.filter(pl.col("is_must_link")).select("rec_l", "rec_r"),
            recs.filter(~pl.col("is_must_link")).select("rec_l", "rec_r"))


def drop_record_person_key(connection: duckdb.DuckDBPyConnection) -> None:
    """record_person had a PRIMARY KEY: its index cost ~3 s a night at 1M (a nightly commit
    rewrote it), and store_linkage writes each member key once anyway (replaced rows are
    deleted first, in the same transaction)."""
    keyed = connection.execute(
        "SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'record_person' "
        "AND constraint_type = 'PRIMARY KEY'").fetchall()[0][0]
    if keyed:
        with transaction(connection):
            connection.execute("CREATE TABLE record_person_unkeyed AS SELECT * FROM record_person")
            connection.execute("DROP TABLE record_person")
            connection.execute("ALTER TABLE record_person_unkeyed RENAME TO record_person")


def stored_pairs_among(connection: duckdb.DuckDBPyConnection
                       ) -> Callable[[pl.Series], pl.DataFrame]:
    """Earlier nights' pairs with both records among some member keys, read when asked."""

    def among(keys: pl.Series) -> pl.DataFrame:
        with registered(connection, "pair_keys", keys.to_frame("member_key")):
            return connection.sql(
                "SELECT key_l, key_r, match_probability, match_weight, is_duplicate_candidate, "
                "is_contradiction FROM link_pairs "
                "WHERE key_l IN (SELECT member_key FROM pair_keys) "
                "AND key_r IN (SELECT member_key FROM pair_keys)").pl()

    return among


def children_of_persons(connection: duckdb.DuckDBPyConnection
                        ) -> Callable[[pl.Series], pl.DataFrame]:
    """member_key, person_id of every record of the children holding some member keys,
    read from record_person when asked: a night reads its few children, not every record's."""

    def children_of(keys: pl.Series) -> pl.DataFrame:
        with registered(connection, "asked_keys", keys.to_frame("member_key")):
            return connection.sql(
                "SELECT member_key, person_id FROM record_person WHERE person_id IN "
                "(SELECT person_id FROM record_person SEMI JOIN asked_keys USING (member_key))"
            ).pl()

    return children_of


def changed_records_sql() -> str:
    """Member keys of records in use whose version was not linked yet (new or corrected)."""
    return f"""SELECT w.source || ':' || w.record_id AS member_key FROM record_winners w
ANTI JOIN record_person p ON p.member_key = w.source || ':' || w.record_id
  AND p.version_key = {version_key_sql("w.file_hash", "w.row_number")}
ORDER BY member_key"""


def link_persons(
    connection: duckdb.DuckDBPyConnection, key: bytes, run_id: str, rebuild: bool = False
) -> LinkOutcome:
    """Link the records in use, full or nightly, and store person ids for every record.

    A night reads from record_person only the records it changed and the children they touch
    (children_of_persons); a full run reads all of it, to carry every child's id over.
    """
    for statement in create_link_state_sql():
        connection.execute(statement)
    drop_record_person_key(connection)
    model = None if rebuild else load_model(connection)
    # Officers' decisions: a new one that the current children break re-clusters them too.
    constraints = load_link_constraints(connection)
    changed = None
    if model is not None:
        changed = connection.sql(changed_records_sql()).pl().get_column("member_key")
        children_of = children_of_persons(connection)
        if changed.len() == 0 and violated_constraints(
                constraints, children_of(constraint_members(constraints))).len() == 0:
            return LinkOutcome("unchanged", 0, 0, count_persons(connection), 0, 0,
                               pl.DataFrame())
    records = load_records(connection, in_key_order=changed is None)
    release_cached_memory(connection)
    must_link, cannot_link = constraint_recs(records, constraints)
    if changed is None or model is None:
        previous = connection.sql("SELECT member_key, person_id FROM record_person").pl()
        linkage = link_children(records, must_link=must_link, cannot_link=cannot_link)
    else:
        linkage = relink_children(records, changed, stored_pairs_among(connection), children_of,
                                  model, must_link=must_link, cannot_link=cannot_link)
        previous = children_of(linkage.records.get_column("member_key"))
    mode, probed = ("full", linkage.records.height) if changed is None else (
        "nightly", changed.len())
    counts = (linkage.pairs.height, linkage.oversized_clusters.height, linkage.blocking)
    stored = linkage_rows(connection, linkage, previous, records.select(VERSION_COLUMNS), key)
    # Only what is stored stays in memory while DuckDB writes it (~1 GB less at 1M).
    del records, linkage
    retired = store_linkage(connection, stored, previous, run_id, changed)
    del stored, previous
    persons = count_persons(connection)
    # What DuckDB kept from writing millions of rows is handed back (once the rows written are
    # let go) before the publish reads every record.
    release_cached_memory(connection)
    return LinkOutcome(mode, probed, counts[0], persons, retired, counts[1], counts[2])


def count_persons(connection: duckdb.DuckDBPyConnection) -> int:
    return int(connection.execute(
        "SELECT count(DISTINCT person_id) FROM record_person").fetchall()[0][0])


@dataclass(frozen=True)
class LinkRows:
    """What a linkage stores: each linked record's child, the scored pairs (all of them;
    KEEP_PAIR_SQL filters them on insert), retired ids with their successors, the model."""

    rows: pl.DataFrame  # member_key, source, record_id, person_id, match_probability,
    # ingest_order, row_number
    pairs: pl.DataFrame  # STORED_PAIR_COLUMNS
    history: pl.DataFrame  # retired_id, successor_id, reason
    model_json: str


def linkage_rows(
    connection: duckdb.DuckDBPyConnection,
    linkage: Linkage,
    previous: pl.DataFrame,
    versions: pl.DataFrame,
    key: bytes,
) -> LinkRows:
    """Carry person ids onto the clusters (new ones seeded by pseudonym) and shape the rows.

    `versions`: VERSION_COLUMNS of every record in use, by record number (rec).
    """
    clusters = linkage.clusters.join(
        linkage.records.select("rec", "member_key", "source", "record_id"), on="rec")
    assigned, history = carry_person_ids(
        clusters.select("member_key", "cluster"), previous.select("member_key", "person_id"))
    seeded = pseudonym_sql("id_seed", key, PSEUDONYM_PREFIXES["person"])
    with registered(connection, "assigned_frame", assigned):
        ids = connection.sql(
            f"SELECT cluster, coalesce(person_id, {seeded}) AS person_id FROM assigned_frame"
        ).pl()
    members = clusters.join(ids, on="cluster")
    history = history.join(ids.rename({"cluster": "successor_cluster",
                                       "person_id": "successor_id"}), on="successor_cluster")
    linked = versions[members.get_column("rec")]
    rows = members.select("member_key", "source", "record_id", "person_id", "match_probability",
                          *linked.get_columns())
    return LinkRows(rows, linkage.pairs.select(STORED_PAIR_COLUMNS),
                    history.select("retired_id", "successor_id", "reason"),
                    linkage.model.to_json())


def store_linkage(
    connection: duckdb.DuckDBPyConnection,
    stored: LinkRows,
    previous: pl.DataFrame,
    run_id: str,
    changed: pl.Series | None,
) -> int:
    """Write record_person, link_pairs, history and model in one transaction; returns the
    number of ids retired.

    `changed`: the member keys a night linked again (None: a full relink). Their stored
    pairs are all replaced by tonight's, so a pair scored on a record's old values, or no
    longer a candidate, cannot steer a later night's clustering.
    """
    rows = stored.rows
    with transaction(connection):
        if changed is None:  # all new: the marker row without a key makes the next publish whole
            connection.execute("DELETE FROM record_person")
            connection.execute("DELETE FROM link_pairs")
            connection.execute("DELETE FROM link_model")
            connection.execute("INSERT INTO link_model VALUES (?, ?)", [run_id, stored.model_json])
            connection.execute("INSERT INTO unpublished_links VALUES (NULL, NULL, NULL, ?)",
                               [run_id])
        else:
            with registered(connection, "touched_keys", rows.select("member_key")):
                connection.execute("DELETE FROM record_person WHERE member_key IN "
                                   "(SELECT member_key FROM touched_keys)")
            with registered(connection, "changed_keys", changed.to_frame("member_key")):
                connection.execute(
                    "DELETE FROM link_pairs WHERE key_l IN (SELECT member_key FROM changed_keys) "
                    "OR key_r IN (SELECT member_key FROM changed_keys)")
            insert_frame(connection, "unpublished_links", rows.join(
                previous.select("member_key", pl.col("person_id").alias("person_before")),
                on="member_key", how="left").select(
                "member_key", "person_before", pl.col("person_id").alias("person_after"),
                pl.lit(run_id).alias("run_id")))
        with registered(connection, "linked_rows", rows):
            # The version linked, spelled out as record_winners spells it (changed_records_sql).
            connection.execute(
                "INSERT INTO record_person BY NAME SELECT r.* EXCLUDE (ingest_order, row_number), "
                f"{version_key_sql('f.content_hash', 'r.row_number')} AS version_key "
                "FROM linked_rows r LEFT JOIN files f "
                "ON f.ingest_order = r.ingest_order AND f.status = 'ingested'")
        insert_frame(connection, "link_pairs", stored.pairs, where_sql=KEEP_PAIR_SQL)
        insert_frame(connection, "person_history", stored.history.with_columns(
            pl.lit(run_id).alias("run_id")))
    return stored.history.height

