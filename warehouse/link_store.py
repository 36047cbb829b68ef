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
    children_in,
    constraint_members,
    link_children,
    relink_children,
    with_member_keys,
)
from transforms.link_keys import (
    BLOCK_KEY_COLUMNS,
    KEY_SCHEME,
    LINK_KEY_COLUMNS,
    NAME_HASH_COLUMNS,
    counted_frequencies,
    name_hash,
    probe_keys,
    record_link_keys,
)
from transforms.link_records import LINK_INPUT_COLUMNS, link_records
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
        # The version linked is kept as its file's number and row (VERSION_COLUMNS).
        """CREATE TABLE IF NOT EXISTS record_person (
  member_key VARCHAR, source VARCHAR, record_id VARCHAR, person_id VARCHAR,
  match_probability DOUBLE, ingest_order BIGINT, row_number BIGINT)""",
        f"""CREATE TABLE IF NOT EXISTS link_pairs (
  key_l VARCHAR, key_r VARCHAR, match_probability DOUBLE, match_weight DOUBLE,
  is_duplicate_candidate BOOLEAN, is_contradiction BOOLEAN, {levels}, {weights})""",
        """CREATE TABLE IF NOT EXISTS person_history (
  retired_id VARCHAR, successor_id VARCHAR, reason VARCHAR, run_id VARCHAR)""",
        """CREATE TABLE IF NOT EXISTS link_model (trained_run_id VARCHAR, model VARCHAR)""",
        # How record_person's key hashes were made (transforms.link_keys.KEY_SCHEME).
        """CREATE TABLE IF NOT EXISTS link_key_scheme (scheme VARCHAR)""",
        # How many children record_person holds, kept by each linking (counting distinct
        # ids took a night ~0.4 s at 1M).
        """CREATE TABLE IF NOT EXISTS link_totals (persons BIGINT)""",
        # A state from before the key hashes: a full link (its scheme is missing) rewrites
        # every row with them.
        *(f"ALTER TABLE record_person ADD COLUMN IF NOT EXISTS {column} {kind}"
          for column, kind in (*((c, "BIGINT") for c in VERSION_COLUMNS),
                               *((c, "UINTEGER") for c in BLOCK_KEY_COLUMNS),
                               *((c, "UBIGINT") for c in NAME_HASH_COLUMNS.values()))),
        "ALTER TABLE record_person DROP COLUMN IF EXISTS version_key",
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


# How linking holds a record's version, and record_person keeps the version it linked: its
# file's number (files.ingest_order) and its row. Sixteen bytes a record instead of a
# 70-character key, and a night finds what changed by a join on two integers.
VERSION_COLUMNS = ("ingest_order", "row_number")


def load_records(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every record in use with the linking columns, its member key and version (file number
    and row), in key order: a full run numbers records so, as EM's random pairs and
    clustering's ties follow the numbering. (A night reads its neighbourhood unsorted:
    relink_children orders what it clusters.)"""
    columns = ", ".join((*LINK_INPUT_COLUMNS, *VERSION_COLUMNS))
    return connection.sql(
        f"SELECT {columns}, source || ':' || record_id AS member_key FROM records_in_use "
        "ORDER BY source, record_id").pl()


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
    """Records in use whose version was not linked yet (new or corrected): member_key and
    the version (file_hash, ingest_order, row_number). A version is one row of one file, so
    the file's number and the row alone say whether it was linked."""
    return """SELECT w.source || ':' || w.record_id AS member_key, w.file_hash, w.ingest_order,
       w.row_number
FROM record_winners w ANTI JOIN record_person p USING (ingest_order, row_number)
ORDER BY member_key"""


def stored_key_scheme(connection: duckdb.DuckDBPyConnection) -> str | None:
    rows = connection.execute("SELECT scheme FROM link_key_scheme").fetchall()
    return rows[-1][0] if rows else None


def load_neighbourhood(connection: duckdb.DuckDBPyConnection, constrained: pl.Series
                       ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What a night links, as load_records gives it: its new and changed records (table
    night_changed), every record sharing a blocking key with one of them, the records
    officers' constraints name (`constrained` member keys), and every record of the children
    all these belong to; and member_key, person_id of those children's records as linked
    before (what children_of_persons would read for any of them).

    The records a probe can pair with are found by the key hashes record_person keeps, so
    a night reads its neighbourhood (~0.3M records for a 1% night at 1M), not every record.
    A block's size is still counted whole: every record holding a probe's key is read. A
    record not changed tonight is read at the version record_person says it was linked at,
    which is the version in use.
    """
    columns = ", ".join((*LINK_INPUT_COLUMNS, *VERSION_COLUMNS))
    read = (f"SELECT {columns}, source || ':' || record_id AS member_key FROM record_versions "
            "SEMI JOIN {versions} USING (ingest_order, row_number)")
    files = [row[0] for row in connection.execute(
        "SELECT DISTINCT file_hash FROM night_changed").fetchall()]
    # Tonight's versions sit in a few files: naming them lets DuckDB skip the others.
    in_files = ("WHERE file_hash IN (" + ", ".join(f"'{file}'" for file in files) + ")"
                if files else "WHERE false")
    probes = connection.sql(read.format(versions="night_changed") + f" {in_files}").pl()
    keys = probe_keys(link_records(probes)).rename({"column": "key_column"})
    met = " OR ".join(f"{column} IN (SELECT key FROM night_probe_keys "
                      f"WHERE key_column = '{column}')" for column in BLOCK_KEY_COLUMNS)
    seeds = pl.concat([probes.get_column("member_key"), constrained]).to_frame("member_key")
    with registered(connection, "night_probe_keys", keys), \
            registered(connection, "night_seeds", seeds):
        connection.execute(f"""CREATE OR REPLACE TEMP TABLE night_children AS
WITH seeds AS (SELECT person_id FROM record_person WHERE {met}
               UNION SELECT person_id FROM record_person SEMI JOIN night_seeds USING (member_key))
SELECT member_key, person_id, ingest_order, row_number FROM record_person
WHERE person_id IN (SELECT person_id FROM seeds)""")
    neighbours = connection.sql(read.format(
        versions="(SELECT * FROM night_children ANTI JOIN night_changed USING (member_key))")).pl()
    children = connection.sql("SELECT member_key, person_id FROM night_children").pl()
    return pl.concat([probes, neighbours]), children


def stored_name_frequencies(connection: duckdb.DuckDBPyConnection, changed: pl.Series
                            ) -> Callable[[pl.DataFrame], dict[str, pl.DataFrame]]:
    """Name frequencies over every record in use, for the names of a night's link records:
    the records linked before (their name hashes in record_person, the night's changed ones
    left out) counted in the state, and the night's new versions counted here."""

    def frequencies(links: pl.DataFrame) -> dict[str, pl.DataFrame]:
        fresh = links.filter(pl.col("member_key").is_in(changed.implode()))
        asked = pl.concat([links.select(pl.lit(column).alias("name_column"),
                                        name_hash(column).alias("key")).drop_nulls().unique()
                           for column in NAME_HASH_COLUMNS])
        parts = [f"""SELECT '{column}' AS name_column, {hashed} AS key, count(*) AS n FROM kept
WHERE {hashed} IN (SELECT key FROM asked_names WHERE name_column = '{column}') GROUP BY key
UNION ALL SELECT '{column}', NULL, count({hashed}) FROM kept"""
                 for column, hashed in NAME_HASH_COLUMNS.items()]
        with registered(connection, "asked_names", asked):
            stored = connection.sql(
                f"WITH kept AS (SELECT {', '.join(NAME_HASH_COLUMNS.values())} FROM record_person "
                "ANTI JOIN night_changed USING (member_key)) " + " UNION ALL ".join(parts)).pl()
        counted = {}
        for column in NAME_HASH_COLUMNS:
            new = fresh.select(name_hash(column).alias("key")).drop_nulls().group_by("key").len("n")
            mine = stored.filter(pl.col("name_column") == column)
            total = (int(mine.filter(pl.col("key").is_null()).get_column("n").sum())
                     + int(fresh.get_column(column).is_not_null().sum()))
            counts = pl.concat([mine.filter(pl.col("key").is_not_null()).select(
                "key", pl.col("n").cast(pl.Int64)), new.with_columns(pl.col("n").cast(pl.Int64))]
            ).group_by("key").agg(pl.col("n").sum())
            counted[column] = counted_frequencies(links, column, counts, total)
        return counted

    return frequencies


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
    if model is not None and stored_key_scheme(connection) != KEY_SCHEME:
        model = None  # keys hashed otherwise cannot be looked up: link in full once
    # Officers' decisions: a new one that the current children break re-clusters them too.
    constraints = load_link_constraints(connection)
    changed = None
    if model is not None:
        connection.execute("CREATE OR REPLACE TEMP TABLE night_changed AS "
                           + changed_records_sql())
        changed = connection.sql("SELECT member_key FROM night_changed").pl().get_column(
            "member_key")
        children_of = children_of_persons(connection)
        if changed.len() == 0 and violated_constraints(
                constraints, children_of(constraint_members(constraints))).len() == 0:
            return LinkOutcome("unchanged", 0, 0, stored_persons(connection), 0, 0,
                               pl.DataFrame())
    if changed is None:
        records = load_records(connection)
    else:  # every child a night can touch is among the neighbourhood's
        records, neighbourhood_children = load_neighbourhood(connection,
                                                             constraint_members(constraints))
        children_of = children_in(neighbourhood_children)
    release_cached_memory(connection)
    must_link, cannot_link = constraint_recs(records, constraints)
    if changed is None:
        previous = connection.sql("SELECT member_key, person_id FROM record_person").pl()
        linkage = link_children(records, must_link=must_link, cannot_link=cannot_link)
    else:  # a night: a model was loaded, under which changes were found
        assert model is not None
        linkage = relink_children(records, changed, stored_pairs_among(connection), children_of,
                                  model, must_link=must_link, cannot_link=cannot_link,
                                  frequencies=stored_name_frequencies(connection, changed))
        previous = children_of(linkage.records.get_column("member_key"))
    mode, probed = ("full", linkage.records.height) if changed is None else (
        "nightly", changed.len())
    counts = (linkage.pairs.height, linkage.oversized_clusters.height, linkage.blocking)
    stored = linkage_rows(connection, linkage, previous, records.select(VERSION_COLUMNS), key)
    # Only what is stored stays in memory while DuckDB writes it (~1 GB less at 1M).
    del records, linkage
    retired, persons = store_linkage(connection, stored, previous, run_id, changed)
    del stored, previous
    # What DuckDB kept from writing millions of rows is handed back (once the rows written are
    # let go) before the publish reads every record.
    release_cached_memory(connection)
    return LinkOutcome(mode, probed, counts[0], persons, retired, counts[1], counts[2])


def stored_persons(connection: duckdb.DuckDBPyConnection) -> int:
    """How many children record_person holds: as the last linking kept it, else counted."""
    kept = connection.execute("SELECT persons FROM link_totals").fetchall()
    if kept:
        return int(kept[-1][0])
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

    `versions`: VERSION_COLUMNS of every record in use, by record number (rec). The rows
    come in record order, as the link records do, so their key hashes are set beside them
    without a join (a join copied every row once more: +0.5 GB at 1M).
    """
    clusters = linkage.clusters.sort("rec").join(
        linkage.records.select("rec", "member_key", "source", "record_id"), on="rec",
        maintain_order="left")
    assigned, history = carry_person_ids(
        clusters.select("member_key", "cluster"), previous.select("member_key", "person_id"))
    seeded = pseudonym_sql("id_seed", key, PSEUDONYM_PREFIXES["person"])
    with registered(connection, "assigned_frame", assigned):
        ids = connection.sql(
            f"SELECT cluster, coalesce(person_id, {seeded}) AS person_id FROM assigned_frame"
        ).pl()
    members = clusters.join(ids, on="cluster", maintain_order="left")
    keys = record_link_keys(linkage.records)
    if not members.get_column("rec").equals(keys.get_column("rec")):
        raise ValueError("linkage_rows: every link record must have one cluster")
    history = history.join(ids.rename({"cluster": "successor_cluster",
                                       "person_id": "successor_id"}), on="successor_cluster")
    linked = versions[members.get_column("rec")]
    rows = members.select("member_key", "source", "record_id", "person_id", "match_probability",
                          *keys.select(LINK_KEY_COLUMNS).get_columns(), *linked.get_columns())
    return LinkRows(rows, linkage.pairs.select(STORED_PAIR_COLUMNS),
                    history.select("retired_id", "successor_id", "reason"),
                    linkage.model.to_json())


def store_linkage(
    connection: duckdb.DuckDBPyConnection,
    stored: LinkRows,
    previous: pl.DataFrame,
    run_id: str,
    changed: pl.Series | None,
) -> tuple[int, int]:
    """Write record_person, link_pairs, history and model in one transaction; returns the
    number of ids retired and of children held.

    `changed`: the member keys a night linked again (None: a full relink). Their stored
    pairs are all replaced by tonight's, so a pair scored on a record's old values, or no
    longer a candidate, cannot steer a later night's clustering. A night's rows hold every
    record of the children its records belonged to before (`previous`), so those children's
    ids give way to the rows' ids and every other child stays as counted.
    """
    rows = stored.rows
    persons = rows.get_column("person_id").n_unique()
    if changed is not None:
        before = previous.filter(pl.col("member_key").is_in(rows.get_column("member_key")
                                                            .implode()))
        persons += stored_persons(connection) - before.get_column("person_id").n_unique()
    with transaction(connection):
        connection.execute("DELETE FROM link_totals")
        connection.execute("INSERT INTO link_totals VALUES (?)", [persons])
        if changed is None:  # all new: the marker row without a key makes the next publish whole
            connection.execute("DELETE FROM record_person")
            connection.execute("DELETE FROM link_pairs")
            connection.execute("DELETE FROM link_model")
            connection.execute("INSERT INTO link_model VALUES (?, ?)", [run_id, stored.model_json])
            connection.execute("DELETE FROM link_key_scheme")
            connection.execute("INSERT INTO link_key_scheme VALUES (?)", [KEY_SCHEME])
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
        insert_frame(connection, "record_person", rows)
        insert_frame(connection, "link_pairs", stored.pairs, where_sql=KEEP_PAIR_SQL)
        insert_frame(connection, "person_history", stored.history.with_columns(
            pl.lit(run_id).alias("run_id")))
    return stored.history.height, persons

