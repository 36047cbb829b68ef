"""Storing a linkage: a night replaces every stored pair of the records it linked again."""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from tests.transforms.canonical_rows import with_check_digit
from tests.transforms.test_link_children import BACKGROUND, canonical, case, child_id
from transforms.link_children import link_children, relink_children
from warehouse.link_store import (
    children_of_persons,
    create_link_state_sql,
    linkage_rows,
    store_linkage,
    stored_pairs_among,
)

TRIO = [
    case("weisheng", "W-N", child_name="李明", birth_cert_number="Q450000009"),
    case("gongan", "G-N", child_name="李明", child_id_number=child_id("301")),
    case("jisheng", "J-N", child_name="李明", birth_order=1),
]
# 计生 corrects J-N: it was another mother's child, born in another year.
CORRECTED = {"source": "jisheng", "record_id": "J-N", "child_name": "赵小红",
             "mother_name": "孙丽娜", "mother_id_number": with_check_digit("45082119900101112"),
             "birth_date": date(2013, 3, 9), "sex": 2, "birth_order": 1,
             "township_code": "450821106"}
NO_PREVIOUS = pl.DataFrame(schema={"member_key": pl.String, "person_id": pl.String})


def store_versions(connection: duckdb.DuckDBPyConnection, records: pl.DataFrame,
                   file_number: int) -> pl.DataFrame:
    """The records' file as the manifest holds it, and their versions (file number, row)
    by record number, as linkage_rows takes them."""
    connection.execute("CREATE TABLE IF NOT EXISTS files "
                       "(content_hash VARCHAR, ingest_order BIGINT, status VARCHAR)")
    connection.execute("INSERT INTO files VALUES (?, ?, 'ingested')",
                       [f"hash{file_number}", file_number])
    return records.select(pl.lit(file_number, dtype=pl.Int64).alias("ingest_order"),
                          pl.int_range(2, records.height + 2, dtype=pl.Int64).alias("row_number"))


def pairs_of(connection: duckdb.DuckDBPyConnection, key: str) -> set[str]:
    rows = connection.execute(
        "SELECT key_l, key_r FROM link_pairs WHERE ? IN (key_l, key_r)", [key]).fetchall()
    return {other for pair in rows for other in pair if other != key}


def test_a_corrected_record_keeps_no_pair_scored_on_its_old_values() -> None:
    connection = duckdb.connect()
    for statement in create_link_state_sql():
        connection.execute(statement)
    records = canonical([*BACKGROUND, *TRIO])
    first = link_children(records)
    versions = store_versions(connection, records, 1)
    store_linkage(connection, linkage_rows(connection, first, NO_PREVIOUS, versions, b"k"),
                  NO_PREVIOUS, "run-1", changed=None)
    assert {"weisheng:W-N", "gongan:G-N"} <= pairs_of(connection, "jisheng:J-N")

    previous = connection.sql("SELECT member_key, person_id FROM record_person").pl()
    changed = pl.Series(["jisheng:J-N"])
    records = canonical([*BACKGROUND, *TRIO[:2], CORRECTED])
    night = relink_children(records, changed, stored_pairs_among(connection),
                            children_of_persons(connection), first.model)
    versions = store_versions(connection, records, 2)
    _, persons = store_linkage(connection, linkage_rows(connection, night, previous, versions,
                                                        b"k"), previous, "run-2", changed=changed)
    assert persons == connection.execute(  # kept by arithmetic, as counted
        "SELECT count(DISTINCT person_id) FROM record_person").fetchall()[0][0]

    assert not {"weisheng:W-N", "gongan:G-N"} & pairs_of(connection, "jisheng:J-N")
    assert "gongan:G-N" in pairs_of(connection, "weisheng:W-N")  # untouched pairs stay
    ids = dict(connection.execute("SELECT member_key, person_id FROM record_person").fetchall())
    files_linked = dict(connection.execute(
        "SELECT member_key, ingest_order FROM record_person").fetchall())
    assert files_linked["jisheng:J-N"] == 2  # linked again tonight, at tonight's version
    assert set(files_linked.values()) <= {1, 2}
    assert ids["jisheng:J-N"] != ids["gongan:G-N"] == ids["weisheng:W-N"]
