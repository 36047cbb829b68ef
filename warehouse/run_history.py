"""What the state remembers about earlier nights: each delivered file's counts (for run
warnings) and the run log (for `birthrec status`). Read-only queries on the state database.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl

from transforms.run_warnings import EXTRACT_HISTORY_SCHEMA
from warehouse.inbox_files import InboxFile, RejectedFile, list_inbox
from warehouse.state_store import connect_with_retry, records_folder


def extract_history_sql() -> str:
    """One row per delivered file with a date: rows read, quarantined, boys and girls used."""
    return """
WITH quarantined AS (
  SELECT file_hash, count(*) AS rows_quarantined FROM quarantine_rows
  WHERE row_number IS NOT NULL GROUP BY file_hash),
sexes AS (
  SELECT file_hash, count(*) FILTER (WHERE sex = 1) AS males,
         count(*) FILTER (WHERE sex = 2) AS females
  FROM record_versions GROUP BY file_hash)
SELECT f.source, f.extract_date, f.rows_read,
       coalesce(q.rows_quarantined, 0) AS rows_quarantined,
       coalesce(s.males, 0) AS males, coalesce(s.females, 0) AS females
FROM files f
LEFT JOIN quarantined q ON q.file_hash = f.content_hash
LEFT JOIN sexes s ON s.file_hash = f.content_hash
WHERE f.extract_date IS NOT NULL
ORDER BY f.source, f.extract_date, f.file_seq"""


def read_extract_history(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return connection.sql(extract_history_sql()).pl().cast(EXTRACT_HISTORY_SCHEMA)  # type: ignore[arg-type]


def recent_runs_sql(limit: int) -> str:
    """The latest attempts in the restricted run log, newest first."""
    return f"""
SELECT run_id AS attempt, started_at, finished_at, status, as_of, summary
FROM runs ORDER BY started_at DESC LIMIT {int(limit)}"""


def read_recent_runs(connection: duckdb.DuckDBPyConnection, limit: int = 5
                     ) -> list[dict[str, object]]:
    """Attempts with their summary parsed: published run id, counts, warnings, error."""
    runs = []
    for row in connection.sql(recent_runs_sql(limit)).pl().iter_rows(named=True):
        summary = json.loads(row.pop("summary") or "{}")
        runs.append({**row, "run_id": summary.get("run_id"), "files": summary.get("files"),
                     "persons": summary.get("persons"),
                     "discrepancies": summary.get("discrepancies"),
                     "warnings": summary.get("warnings") or [],
                     "error": summary.get("error")})
    return runs


def read_state_for_status(state_db: Path, runs: int = 5
                          ) -> tuple[list[dict[str, object]], set[str]]:
    """Recent runs and the content hashes already taken in, read-only and without waiting:
    raises StateLockedError at once when a run holds the state."""
    connection = connect_with_retry(state_db, read_only=True, delays_s=())
    try:
        hashes = {row[0] for row in connection.execute(
            "SELECT content_hash FROM files").fetchall()}
        return read_recent_runs(connection, runs), hashes
    finally:
        connection.close()


def stored_hashes_on_disk(state_db: Path) -> set[str]:
    """Content hashes with a stored record file: what can be known while a run holds the
    database (files rejected whole have no record file, so they look new)."""
    folder = records_folder(state_db)
    return {path.stem for path in folder.glob("*.parquet")} if folder.is_dir() else set()


def inbox_waiting(inbox: Path, taken: set[str]) -> dict[str, list[str]]:
    """Files in the inbox whose bytes were never taken in, by department (names that do not
    fit the contract are listed too: the next run rejects them with a reason)."""
    accepted, rejected = list_inbox(inbox)
    waiting: dict[str, list[str]] = {}
    delivered: list[InboxFile | RejectedFile] = [*accepted, *rejected]
    for found in delivered:
        if found.content_hash not in taken:
            waiting.setdefault(found.source or "unknown", []).append(found.relative)
    return waiting


def read_published_run(warehouse: Path) -> dict[str, object] | None:
    """The run the published file holds now, as any reader sees it."""
    if not warehouse.exists():
        return None
    with duckdb.connect(str(warehouse), read_only=True) as reader:
        rows = reader.sql(
            "SELECT run_id, as_of, finished_at, persons, discrepancies FROM run "
            "WHERE run_id = (SELECT max(run_id) FROM label_source)").pl()
    return rows.row(0, named=True) if rows.height else None
