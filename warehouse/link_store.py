"""Which child each record in use belongs to: the state table record_person."""

from __future__ import annotations

import duckdb

from warehouse.pseudonymise import PSEUDONYM_PREFIXES, pseudonym_sql


def assign_singleton_persons_sql(key: bytes) -> str:
    """Every record its own child, with an id keyed on (source, record_id).

    The foundation's placeholder for linking: stable across nights because it depends only on
    the record's identity and the key.
    """
    person = pseudonym_sql("source || ':' || record_id", key, PSEUDONYM_PREFIXES["person"])
    return f"""
CREATE OR REPLACE TABLE record_person AS
SELECT source, record_id, {person} AS person_id, NULL::DOUBLE AS match_probability
FROM records_in_use"""


def assign_singleton_persons(connection: duckdb.DuckDBPyConnection, key: bytes) -> int:
    connection.execute(assign_singleton_persons_sql(key))
    return int(connection.execute("SELECT count(*) FROM record_person").fetchall()[0][0])
