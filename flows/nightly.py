"""The nightly reconciliation flow: ingest what is new, link, publish, summarise.

Thin on purpose: each task calls one warehouse or transforms step and logs its counts.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from flows.review_loop import ingest_decisions
from schemas.codes import RunStatus
from schemas.published import PUBLISHED_SCHEMA_VERSION
from warehouse import published_queries as queries
from warehouse.errors import BadFileError, RowCountMismatchError
from warehouse.inbox_files import InboxFile, RejectedFile, list_inbox
from warehouse.ingest import (
    FileOutcome,
    StagedFile,
    stage_file,
    store_duplicate_name,
    store_rejected_file,
    store_staged_file,
    summarise_outcomes,
)
from warehouse.link_store import LinkOutcome, link_persons
from warehouse.publish import publish_tables
from warehouse.published_frames import label_frames
from warehouse.read_reference import read_divisions
from warehouse.reconciled_tables import reconciled_frames
from warehouse.run_state import (
    CODE_VERSION,
    attempt_id,
    content_key,
    default_as_of,
    last_publish,
    log_run,
    record_publish,
    run_id_for,
    run_lock,
)
from warehouse.state_paths import StatePaths, load_pseudonym_key
from warehouse.state_store import file_row_counts, known_hashes, open_state, record_published_run

# Files staged ahead of the one being stored: two keep both cores busy, and bound memory.
STAGE_AHEAD = 2


@dataclass
class RunSummary:
    """The one-line JSON summary printed last by `birthrec run`."""

    status: str
    run_id: str | None
    as_of: str | None
    files: dict[str, object] = field(default_factory=dict)
    rows_in_use: int = 0
    rows_superseded: int = 0
    rows_quarantined_total: int = 0
    persons: int = 0
    discrepancies: int = 0
    warehouse: str = ""
    rejected_files: list[str] = field(default_factory=list)
    decisions: dict[str, object] = field(default_factory=dict)  # officers' decision files


@task(cache_policy=NONE)
def list_inbox_files(inbox: Path) -> tuple[list[InboxFile], list[RejectedFile]]:
    accepted, rejected = list_inbox(inbox)
    get_run_logger().info("inbox: %d files fit the contract, %d do not",
                          len(accepted), len(rejected))
    return accepted, rejected


@task(cache_policy=NONE, retries=2, retry_delay_seconds=5)
def stage_inbox_file(inbox_file: InboxFile, divisions: pl.DataFrame) -> StagedFile | BadFileError:
    """Read, normalise and triage one new file; a bad file comes back as its error.

    Retried: a file on a network share may fail to read once and succeed the next time.
    """
    try:
        return stage_file(inbox_file, divisions)
    except BadFileError as error:
        return error


@task(cache_policy=NONE)
def store_inbox_file(
    connection: duckdb.DuckDBPyConnection,
    inbox_file: InboxFile,
    staged: StagedFile | BadFileError,
    paths: StatePaths,
    attempt: str,
    key: bytes,
) -> FileOutcome:
    """Store one staged file in the state, or quarantine it whole."""
    logger = get_run_logger()
    if isinstance(staged, BadFileError):
        logger.warning("%s", staged)
        return store_rejected_file(connection, inbox_file, staged, attempt, datetime.now())
    outcome = store_staged_file(connection, staged, paths, attempt, datetime.now(), key)
    logger.info("%s: %d rows read, %d usable, %d quarantined", outcome.file,
                outcome.rows_read, outcome.rows_used, outcome.rows_quarantined)
    return outcome


def ingest_new_files(
    connection: duckdb.DuckDBPyConnection,
    new_files: list[InboxFile],
    divisions: pl.DataFrame,
    paths: StatePaths,
    attempt: str,
    key: bytes,
) -> list[FileOutcome]:
    """Stage up to STAGE_AHEAD files at once on the task runner's threads (reading a
    workbook is single-threaded), store them one by one in order on this thread."""
    outcomes: list[FileOutcome] = []
    pending: deque[tuple[InboxFile, PrefectFuture[StagedFile | BadFileError]]] = deque()
    for inbox_file in new_files:
        pending.append((inbox_file, stage_inbox_file.submit(inbox_file, divisions)))
        if len(pending) >= STAGE_AHEAD:
            done, future = pending.popleft()
            outcomes.append(store_inbox_file(connection, done, future.result(), paths,
                                             attempt, key))
    while pending:
        done, future = pending.popleft()
        outcomes.append(store_inbox_file(connection, done, future.result(), paths, attempt, key))
    return outcomes


@task(cache_policy=NONE)
def check_row_counts(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows read = in use + superseded + quarantined, for every file; else the run fails."""
    counts = file_row_counts(connection)
    bad = counts.filter(
        pl.col("rows_read") != pl.col("in_use") + pl.col("superseded") + pl.col("quarantined")
    )
    if bad.height:
        raise RowCountMismatchError(
            "row counts do not add up for: "
            + "; ".join(f"{r['file']} read {r['rows_read']}, in use {r['in_use']}, "
                        f"superseded {r['superseded']}, quarantined {r['quarantined']}"
                        for r in bad.iter_rows(named=True))
        )
    return {
        "rows_read": int(counts["rows_read"].sum()),
        "rows_in_use": int(counts["in_use"].sum()),
        "rows_superseded": int(counts["superseded"].sum()),
        "rows_quarantined": int(counts["quarantined"].sum()),
    }


@task(cache_policy=NONE)
def link_records(
    connection: duckdb.DuckDBPyConnection, key: bytes, run_id: str, rebuild: bool
) -> LinkOutcome:
    """Block, compare, score and cluster; carry person ids over from last night."""
    outcome = link_persons(connection, key, run_id, rebuild)
    logger = get_run_logger()
    logger.info("linking (%s): %d records probed, %d candidate pairs, %d persons, "
                "%d ids retired, %d clusters at the size bound", outcome.mode,
                outcome.records_probed, outcome.candidate_pairs, outcome.persons,
                outcome.retired_ids, outcome.oversized_clusters)
    for row in outcome.blocking.iter_rows(named=True):
        logger.info("blocking %s: %d pairs, %d keys too common to use", row["rule"],
                    row["pairs"], row["oversized_keys"])
    return outcome


@task(cache_policy=NONE)
def publish_warehouse(
    connection: duckdb.DuckDBPyConnection,
    warehouse: Path,
    run_id: str,
    run_row: dict[str, object],
    divisions: pl.DataFrame,
    as_of: date | None,
) -> int:
    """Reconcile, then build all published tables into a new file and swap it in at once."""
    frames = {
        **reconciled_frames(connection, run_id, as_of),
        **label_frames(divisions, run_id),
    }
    record_published_run(connection, {**run_row,
                                      "discrepancies": frames["discrepancy"].height})
    publish_tables(
        connection,
        warehouse,
        queries={
            "person_source": queries.person_source_sql(run_id),
            "person_history": queries.person_history_sql(run_id),
            "quarantine": queries.quarantine_sql(run_id),
            "run": "SELECT * FROM published_runs",
        },
        frames=frames,
    )
    get_run_logger().info("published %s to %s", run_id, warehouse)
    return frames["discrepancy"].height


@flow(name="birthrec-nightly", log_prints=False,
      task_runner=ThreadPoolTaskRunner(max_workers=STAGE_AHEAD))  # type: ignore[arg-type]
def nightly_reconciliation(
    inbox: Path, warehouse: Path, as_of: date | None = None, rebuild: bool = False
) -> RunSummary:
    """Ingest what is new in the inbox, link, and publish the warehouse all at once."""
    logger = get_run_logger()
    started_at = datetime.now()
    paths = StatePaths(warehouse).create()
    attempt = attempt_id(started_at)
    with run_lock(paths.lock_file), open_state(paths.state_db) as connection:
        key = load_pseudonym_key(paths)
        divisions, divisions_hash = read_divisions(inbox)
        accepted, rejected = list_inbox_files(inbox)
        seen = known_hashes(connection)
        outcomes: list[FileOutcome] = []
        for bad in rejected:
            if bad.content_hash in seen:
                outcomes.append(store_duplicate_name(connection, bad, attempt))
            else:
                outcomes.append(store_rejected_file(connection, bad, bad.error, attempt,
                                                    datetime.now()))
            seen.add(bad.content_hash or "")
        new_files: list[InboxFile] = []
        for inbox_file in accepted:
            if inbox_file.content_hash in seen:
                outcomes.append(store_duplicate_name(connection, inbox_file, attempt))
                continue
            new_files.append(inbox_file)
            seen.add(inbox_file.content_hash)
        outcomes += ingest_new_files(connection, new_files, divisions, paths, attempt, key)
        counts = check_row_counts(connection)
        review = ingest_decisions(connection, inbox, paths, attempt)
        run_as_of = as_of or default_as_of(connection)
        key_of_content = content_key(connection, run_as_of, {"divisions": divisions_hash,
                                                                 **review.content})
        run_id = run_id_for(run_as_of, key_of_content)
        summary = RunSummary(
            status=RunStatus.UNCHANGED.value, run_id=run_id,
            as_of=str(run_as_of) if run_as_of else None,
            files=summarise_outcomes(outcomes), rows_in_use=counts["rows_in_use"],
            rows_superseded=counts["rows_superseded"],
            rows_quarantined_total=counts["rows_quarantined"], warehouse=str(warehouse),
            rejected_files=[o.file for o in outcomes if o.status == "rejected"],
            decisions=review.summary,
        )
        previous = last_publish(connection)
        if previous and previous[1] == key_of_content and warehouse.exists() and not rebuild:
            logger.info("nothing new since %s: the published tables stay as they are",
                        previous[0])
            summary.run_id = previous[0]
            summary.persons, summary.discrepancies = published_counts(connection, previous[0])
            log_run(connection, attempt, started_at, datetime.now(), summary.status,
                    run_as_of, summary.__dict__)
            return summary
        summary.persons = link_records(connection, key, run_id, rebuild).persons
        files_row = connection.execute(
            "SELECT count(*) FILTER (WHERE status = 'ingested'), "
            "count(*) FILTER (WHERE status = 'rejected') FROM files").fetchall()[0]
        run_row: dict[str, object] = {
            "run_id": run_id, "as_of": run_as_of, "started_at": started_at,
            "finished_at": datetime.now(), "status": RunStatus.PUBLISHED.value,
            "files_ingested": files_row[0], "files_rejected": files_row[1],
            "rows_read": counts["rows_read"], "rows_in_use": counts["rows_in_use"],
            "rows_superseded": counts["rows_superseded"],
            "rows_quarantined": counts["rows_quarantined"], "persons": summary.persons,
            "discrepancies": 0, "code_version": CODE_VERSION,
            "schema_version": PUBLISHED_SCHEMA_VERSION,
        }
        summary.discrepancies = publish_warehouse(connection, warehouse, run_id, run_row,
                                                  divisions, run_as_of)
        record_publish(connection, run_id, key_of_content, datetime.now())
        summary.status = RunStatus.PUBLISHED.value
        log_run(connection, attempt, started_at, datetime.now(), summary.status, run_as_of,
                summary.__dict__)
        return summary


def published_counts(connection: duckdb.DuckDBPyConnection, run_id: str) -> tuple[int, int]:
    rows = connection.execute(
        "SELECT persons, discrepancies FROM published_runs WHERE run_id = ?", [run_id]
    ).fetchall()
    return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)
