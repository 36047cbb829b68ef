"""Publish: build every published table into a new DuckDB file, then swap it in atomically.

Readers hold the old file open undisturbed (DuckDB snapshot); new connections see the new
file. A run that fails before the swap leaves the previous publish exactly as it was.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import duckdb
import polars as pl

from schemas.published import PUBLISHED_TABLES, PublishedTable
from warehouse.state_store import registered

PUBLISHED_BY_NAME = {t.name: t for t in PUBLISHED_TABLES}


def create_table_sql(table: PublishedTable, schema: str = "pub") -> str:
    """DDL of one published table, typed as declared."""
    columns = ",\n  ".join(f"{c.name} {c.sql_type}" for c in table.columns)
    return f"CREATE TABLE {schema}.{table.name} (\n  {columns})"


def comment_sql(table: PublishedTable, schema: str = "pub") -> list[str]:
    """COMMENTs on the table and each column, from the declaration."""

    def quoted(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    statements = [f"COMMENT ON TABLE {schema}.{table.name} IS {quoted(table.description)}"]
    statements += [
        f"COMMENT ON COLUMN {schema}.{table.name}.{c.name} IS {quoted(c.description)}"
        for c in table.columns
    ]
    return statements


def insert_published_sql(table: PublishedTable, query: str, schema: str = "pub") -> str:
    """Fill a published table from a query that yields its columns by name."""
    return f"INSERT INTO {schema}.{table.name} BY NAME {query}"


def building_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".building")


def publish_tables(
    connection: duckdb.DuckDBPyConnection,
    warehouse: Path,
    queries: Mapping[str, str],
    frames: Mapping[str, pl.DataFrame],
) -> None:
    """Write all published tables to a fresh file, then replace the warehouse in one rename.

    `queries` maps a table name to a SELECT over the state connection; `frames` maps a table
    name to a polars frame computed in transforms. Every declared table must be given.
    """
    missing = {t.name for t in PUBLISHED_TABLES} - set(queries) - set(frames)
    if missing:
        raise ValueError(f"publish: no content given for table(s) {sorted(missing)}")
    target = building_path(warehouse)
    target.unlink(missing_ok=True)
    target.with_name(target.name + ".wal").unlink(missing_ok=True)
    connection.execute(f"ATTACH '{target}' AS pub")
    try:
        for table in PUBLISHED_TABLES:
            connection.execute(create_table_sql(table))
            for statement in comment_sql(table):
                connection.execute(statement)
            fill_published_table(connection, table.name, frame=frames.get(table.name),
                                 query=queries.get(table.name))
        connection.execute("CHECKPOINT pub")
    finally:
        connection.execute("DETACH pub")
    swap_in(target, warehouse)


def fill_published_table(connection: duckdb.DuckDBPyConnection, name: str,
                         frame: pl.DataFrame | None = None, query: str | None = None) -> None:
    """Insert a polars frame, or the rows of a query over the state, into table pub.<name>."""
    table = PUBLISHED_BY_NAME[name]
    if frame is not None:
        with registered(connection, "published_frame", frame):
            fill_published_table(connection, name, query=(
                f"SELECT {', '.join(table.column_names)} FROM published_frame"))
        return
    if query is None:
        raise ValueError(f"publish: no content given for table {name}")
    try:
        connection.execute(insert_published_sql(table, query))
    except duckdb.Error as error:
        raise RuntimeError(f"publishing table {name} failed: {error}\nSQL: {query}") from error


def swap_in(target: Path, warehouse: Path) -> None:
    """Make the finished file durable, then replace the warehouse with it in one rename."""
    with target.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(target, warehouse)
    directory = os.open(warehouse.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def published_run_id(warehouse: Path) -> str | None:
    """The run_id of what readers see now, or None when nothing was published yet."""
    if not warehouse.exists():
        return None
    with duckdb.connect(str(warehouse), read_only=True) as reader:
        rows = reader.execute("SELECT max(run_id) FROM run").fetchall()
    return rows[0][0] if rows else None
