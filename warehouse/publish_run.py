"""Publish one run: patch the previous publish where that can be trusted, else build whole.

Both ways end the same: every published table as a whole reconciliation of the state would
give it (tests/e2e/test_patched_publish.py compares them table by table), swapped in at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from warehouse import published_queries as queries
from warehouse.patch_publish import patch_basis, patch_published
from warehouse.publish import publish_tables
from warehouse.published_frames import label_frames
from warehouse.reconciled_tables import reconciled_frames
from warehouse.state_store import record_published_run


@dataclass(frozen=True)
class PublishOutcome:
    mode: str  # patched / whole
    discrepancies: int
    patched_run_id: str | None = None  # the publish that was patched
    children_reconciled: int | None = None  # when patched: the affected children
    records_read: int | None = None  # when patched: their records and their context's

    def describe(self, run_id: str, warehouse: Path) -> str:
        """The run log's line about this publish."""
        if self.mode == "patched":
            return (f"published {run_id} to {warehouse} by patching {self.patched_run_id}: "
                    f"{self.children_reconciled} children reconciled again "
                    f"({self.records_read} records read)")
        return f"published {run_id} to {warehouse} (every table built whole)"


def whole_queries(run_id: str) -> dict[str, str]:
    """The published tables filled by a query over the state, not from polars frames
    (person_source comes with the records reconciled_frames reads)."""
    return {
        "person_history": queries.person_history_sql(run_id),
        "quarantine": queries.quarantine_sql(run_id),
        "run": "SELECT * FROM published_runs",
    }


def publish_run(
    connection: duckdb.DuckDBPyConnection,
    warehouse: Path,
    run_id: str,
    run_row: dict[str, object],
    divisions: pl.DataFrame,
    as_of: date | None,
    may_patch: bool = True,
) -> PublishOutcome:
    """Reconcile and publish `run_id`; `run_row` is its row of the run table."""
    basis = patch_basis(connection, warehouse, as_of) if may_patch else None
    if basis is not None:
        counts = patch_published(connection, warehouse, run_id, as_of, basis, run_row,
                                 whole_queries(run_id), label_frames(divisions, run_id))
        return PublishOutcome("patched", counts["discrepancy"], basis[0],
                              counts["affected_children"], counts["context_records"])
    frames = {
        **reconciled_frames(connection, run_id, as_of),
        **label_frames(divisions, run_id),
    }
    record_published_run(connection, {**run_row,
                                      "discrepancies": frames["discrepancy"].height})
    publish_tables(connection, warehouse, queries=whole_queries(run_id), frames=frames)
    return PublishOutcome("whole", frames["discrepancy"].height)
