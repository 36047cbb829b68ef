"""End to end: a night links by reading its neighbourhood (the records sharing a blocking key
with its new ones, and their children), and that gives exactly what linking against every
record in use gives."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

import warehouse.link_store as link_store
from tests.e2e.cli_runs import run_cli
from tests.e2e.test_patched_publish import inbox_without_latest_files
from warehouse.state_paths import StatePaths

pytestmark = pytest.mark.usefixtures("prefect_harness")


def every_record(connection: duckdb.DuckDBPyConnection, constrained: pl.Series
                 ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """load_neighbourhood's stand-in: every record in use, and every child linked before."""
    del constrained
    return (link_store.load_records(connection),
            connection.sql("SELECT member_key, person_id FROM record_person").pl())


def linked(warehouse: Path) -> dict[str, pl.DataFrame]:
    with duckdb.connect(str(StatePaths(warehouse).state_db), read_only=True) as state:
        return {
            "record_person": state.sql(
                "SELECT member_key, person_id, match_probability, ingest_order, row_number "
                "FROM record_person ORDER BY member_key").pl(),
            "link_pairs": state.sql(
                "SELECT * FROM link_pairs ORDER BY key_l, key_r").pl(),
            "person_history": state.sql(
                "SELECT retired_id, successor_id, reason FROM person_history ORDER BY ALL").pl(),
            "scheme": state.sql("SELECT scheme FROM link_key_scheme").pl(),
            "trained_run_id": state.sql("SELECT trained_run_id FROM link_model").pl(),
        }


def assert_same_pairs(ours: pl.DataFrame, theirs: pl.DataFrame) -> None:
    """The same pairs with the same levels and flags; weights and probabilities equal to
    1e-9. (CI once saw the two nights' link_pairs differ with the same candidate pairs and
    the same children; the cause was not found, so the rows that differ are printed.)"""
    joined = ours.join(theirs, on=["key_l", "key_r"], how="full", suffix="_theirs",
                       nulls_equal=True)
    floats = [c for c, kind in ours.schema.items() if kind == pl.Float64]
    exact = [c for c in ours.columns if c not in (*floats, "key_l", "key_r")]
    differs = pl.any_horizontal(
        pl.col("key_l").is_null() | pl.col("key_l_theirs").is_null(),
        *(pl.col(c).ne_missing(pl.col(f"{c}_theirs")) for c in exact),
        *(((pl.col(c) - pl.col(f"{c}_theirs")).abs() > 1e-9).fill_null(
            pl.col(c).is_null() != pl.col(f"{c}_theirs").is_null()) for c in floats))
    different = joined.filter(differs)
    assert different.height == 0, different.head(5).to_dicts()
    assert ours.height == theirs.height


def copy_state(warehouse: Path, target: Path) -> Path:
    target.mkdir()
    for path in warehouse.parent.iterdir():
        if path.name.startswith(warehouse.name) and not path.name.endswith(".reports"):
            (shutil.copytree if path.is_dir() else shutil.copy2)(path, target / path.name)
    return target / warehouse.name


def test_a_night_linked_from_its_neighbourhood_equals_one_linked_against_every_record(
        generated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inbox = generated / "inbox"
    inbox_without_latest_files(inbox, tmp_path / "first-inbox")
    first = tmp_path / "first" / "warehouse.duckdb"
    first.parent.mkdir()
    first_run = run_cli(tmp_path / "first-inbox", first)
    against_all = copy_state(first, tmp_path / "all")
    rehashed = copy_state(first, tmp_path / "rehashed")

    night = run_cli(inbox, first)
    with monkeypatch.context() as patched:
        patched.setattr(link_store, "load_neighbourhood", every_record)
        reference = run_cli(inbox, against_all)

    assert night["persons"] == reference["persons"]
    with duckdb.connect(str(StatePaths(first).state_db), read_only=True) as state:
        assert night["persons"] == state.execute(  # kept by arithmetic, as counted
            "SELECT count(DISTINCT person_id) FROM record_person").fetchall()[0][0]
    ours, theirs = linked(first), linked(against_all)
    # Linked as a night (the model trained by the first run), not in full.
    assert ours["trained_run_id"].item() == first_run["run_id"]
    for table, frame in ours.items():
        assert frame.height > 0 or table == "person_history"
        if table == "link_pairs":
            assert_same_pairs(frame, theirs[table])
        else:
            assert frame.equals(theirs[table]), table

    # A state whose key hashes were made otherwise (another polars, other rules) cannot be
    # probed: it links in full once, retraining as a first run does, and keeps the ids.
    with duckdb.connect(str(StatePaths(rehashed).state_db)) as state:
        state.execute("UPDATE link_key_scheme SET scheme = 'made-otherwise'")
    full = run_cli(inbox, rehashed)
    relinked = linked(rehashed)
    assert relinked["trained_run_id"].item() == full["run_id"] != first_run["run_id"]
    assert relinked["scheme"].item() == ours["scheme"].item() != "made-otherwise"
    kept = relinked["record_person"].join(ours["record_person"], on="member_key")
    assert (kept["person_id"] == kept["person_id_right"]).mean() > 0.99  # type: ignore[operator]
