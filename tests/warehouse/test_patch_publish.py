"""The nightly patch's SQL, run on a real DuckDB."""

from __future__ import annotations

from pathlib import Path

import duckdb

from warehouse.patch_publish import restamp_sql
from warehouse.publish import PUBLISHED_BY_NAME, comment_sql, create_table_sql

COLUMNS_SQL = """SELECT column_name, data_type, column_default, comment FROM duckdb_columns()
WHERE database_name = ? AND table_name = 'person' ORDER BY column_index"""


def test_restamped_rows_carry_the_new_run_and_the_table_stays_as_declared(
        tmp_path: Path) -> None:
    person = PUBLISHED_BY_NAME["person"]
    connection = duckdb.connect()
    for name in ("pub", "fresh"):
        connection.execute(f"ATTACH '{tmp_path / name}.duckdb' AS {name}")
        connection.execute(create_table_sql(person, name))
        for statement in comment_sql(person, name):
            connection.execute(statement)
    connection.execute("INSERT INTO pub.person BY NAME SELECT 'P' || i AS person_id, "
                       "'run-old' AS run_id FROM range(3) t(i)")
    for statement in restamp_sql(person, "run-new"):
        connection.execute(statement)
    assert connection.execute("SELECT person_id, run_id FROM pub.person ORDER BY 1").fetchall(
        ) == [("P0", "run-new"), ("P1", "run-new"), ("P2", "run-new")]
    assert (connection.execute(COLUMNS_SQL, ["pub"]).fetchall()
            == connection.execute(COLUMNS_SQL, ["fresh"]).fetchall())
