"""Reading the linked records for reconcile: narrow keys sorted, wide rows read in batches."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from transforms.normalise_ids import mask_id_number
from warehouse import published_queries as queries
from warehouse import reconciled_tables
from warehouse.reconciled_tables import RECORD_COLUMNS, load_linked_records
from warehouse.state_paths import StatePaths
from warehouse.state_store import open_state

pytestmark = pytest.mark.xdist_group("officer_warehouse")


def read_in_one_sort(connection: duckdb.DuckDBPyConnection,
                     persons: str | None = None) -> pl.DataFrame:
    """The records as one DuckDB sort of the wide rows fetched whole would give them: the
    reference the batched read must match."""
    columns = ", ".join(f"r.{c}" for c in RECORD_COLUMNS)
    only = f"WHERE p.person_id IN (SELECT person_id FROM {persons})" if persons else ""
    linked = f"""SELECT w.file_hash, w.row_number, p.person_id, p.match_probability
FROM record_winners w JOIN record_person p USING (source, record_id) {only}"""
    records = connection.sql(f"""
SELECT {columns}, p.person_id, p.match_probability, r.child_id_number AS child_id_text,
       r.content_key AS version_key,
       {queries.valid_pseudonym_sql('r.mother_pseudonym', 'r.mother_id_number_problem')}
         AS mother_pseudonym
FROM record_versions r JOIN ({linked}) p USING (file_hash, row_number)
ORDER BY p.person_id, r.record_id, r.source""").pl()
    return records.with_columns(
        pl.col("person_id").ne_missing(pl.col("person_id").shift()).cum_sum().cast(pl.UInt32)
        .alias("person_key"),
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("record_rank"),
        mask_id_number(pl.col("child_id_text")).alias("child_id_masked")).drop("child_id_text")


@pytest.fixture
def state(officer_warehouse: Path, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """A copy of a small published run's state (linked, as the publish reads it)."""
    copy = StatePaths(tmp_path / "warehouse.duckdb").create()
    shutil.rmtree(copy.restricted)
    shutil.copytree(StatePaths(officer_warehouse).restricted, copy.restricted)
    return open_state(copy.state_db)


@pytest.mark.parametrize("batch_rows", [7, 100_000], ids=["many batches", "one batch"])
def test_batched_read_gives_the_frame_one_sort_gives(
        state: duckdb.DuckDBPyConnection, batch_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reconciled_tables, "READ_BATCH_ROWS", batch_rows)
    records = load_linked_records(state)
    assert records.height > 100
    assert records.equals(read_in_one_sort(state))
    assert records.get_column("person_key").flags["SORTED_ASC"]
    assert records.get_column("record_rank").flags["SORTED_ASC"]


def test_some_childrens_records_read_alone_as_one_sort_gives_them(
        state: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reconciled_tables, "READ_BATCH_ROWS", 5)
    state.execute("CREATE TEMP TABLE some_children AS SELECT DISTINCT person_id "
                  "FROM record_person ORDER BY person_id LIMIT 40")
    records = load_linked_records(state, persons="some_children")
    assert records.get_column("person_id").n_unique() == 40
    assert records.equals(read_in_one_sort(state, persons="some_children"))


def test_no_children_give_an_empty_frame_of_the_same_columns(
        state: duckdb.DuckDBPyConnection) -> None:
    state.execute("CREATE TEMP TABLE no_children (person_id VARCHAR)")
    records = load_linked_records(state, persons="no_children")
    assert records.height == 0
    assert records.schema == read_in_one_sort(state, persons="no_children").schema
