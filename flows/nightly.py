"""The nightly reconciliation flow: ingest what is new, link, publish, summarise.

Thin on purpose: each task calls one warehouse or transforms step and logs its counts.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run as current_flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from flows.prefect_runs import crash_stale_flow_runs
from flows.review_loop import ingest_decisions
from flows.run_artifacts import announce_warnings, publish_run_artifacts
from flows.run_progress import RunProgress
from flows.write_reports import write_reports
from schemas.codes import RunStatus
from schemas.published import PUBLISHED_SCHEMA_VERSION
from transforms.run_warnings import run_warnings
from warehouse.errors import BadFileError, RowCountMismatchError
from warehouse.inbox_files import InboxFile, RejectedFile, list_inbox
from warehouse.ingest import (
    FileOutcome,
    PseudonymCache,
    StagedFile,
    release_freed_heap,
    stage_file,
    store_duplicate_name,
    store_rejected_file,
    store_staged_file,
    summarise_outcomes,
)
from warehouse.link_store import LinkOutcome, link_persons
from warehouse.patch_publish import mark_published
from warehouse.publish_run import publish_run
from warehouse.read_reference import read_divisions
from warehouse.run_headlines import read_run_headlines
from warehouse.run_history import read_extract_history
from warehouse.run_state import (
    CODE_VERSION,
    attempt_id,
    content_key,
    default_as_of,
    last_publish,
    log_run,
    mark_attempt_failed,
    run_id_for,
    run_lock,
    start_run_log,
)
from warehouse.state_paths import StatePaths, load_pseudonym_key
from warehouse.state_store import (
    file_row_counts,
    known_hashes,
    open_scratch,
    open_state,
    refresh_record_winners,
    remove_unfinished_record_files,
)

# Files staged ahead of the one being stored: two keep both cores busy, and bound memory.
STAGE_AHEAD = 2
# The run's steps as its progress artifact and terminal bar count them.
RUN_STEPS = ("inbox listed", "ingesting new files",
             "linking: block, compare, score, cluster", "reconciling and publishing", "done")


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
    warnings: list[dict[str, object]] = field(default_factory=list)
    decisions: dict[str, object] = field(default_factory=dict)  # officers' decision files
    reports: str | None = None  # folder of the officers' workbooks and the HTML report
    publish: str | None = None  # patched (the previous publish) or whole


@task(cache_policy=NONE, retries=2, retry_delay_seconds=5)
def list_inbox_files(inbox: Path) -> tuple[list[InboxFile], list[RejectedFile]]:
    """Retried: listing hashes every file, and a network share may fail once."""
    accepted, rejected = list_inbox(inbox)
    get_run_logger().info("inbox: %d files fit the contract, %d do not",
                          len(accepted), len(rejected))
    return accepted, rejected


@task(cache_policy=NONE, retries=2, retry_delay_seconds=5)
def stage_inbox_file(
    inbox_file: InboxFile, divisions: pl.DataFrame, scratch: duckdb.DuckDBPyConnection
) -> StagedFile | BadFileError:
    """Read, normalise and triage one new file; a bad file comes back as its error.

    `scratch` is this task's own cursor of the run's scratch database (closed by the caller).
    Retried: a file on a network share may fail to read once and succeed the next time.
    """
    try:
        return stage_file(inbox_file, divisions, scratch)
    except BadFileError as error:
        return error


@task(cache_policy=NONE)
def store_inbox_file(
    connection: duckdb.DuckDBPyConnection,
    inbox_file: InboxFile,
    staged: StagedFile | BadFileError,
    paths: StatePaths,
    attempt: str,
    pseudonyms: PseudonymCache,
) -> FileOutcome:
    """Store one staged file in the state, or quarantine it whole."""
    logger = get_run_logger()
    if isinstance(staged, BadFileError):
        logger.warning("%s", staged)
        return store_rejected_file(connection, inbox_file, staged, attempt, datetime.now())
    outcome = store_staged_file(connection, staged, paths, attempt, datetime.now(), pseudonyms)
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
    progress: RunProgress | None = None,
) -> list[FileOutcome]:
    """Stage up to STAGE_AHEAD files at once on the task runner's threads (reading a
    workbook is single-threaded), store them one by one in order on this thread, hashing
    each distinct ID number once for the whole night."""
    outcomes: list[FileOutcome] = []
    pseudonyms = PseudonymCache(key)
    pending: deque[tuple[InboxFile, PrefectFuture[StagedFile | BadFileError],
                         duckdb.DuckDBPyConnection]] = deque()

    def store_next() -> None:
        done, future, cursor = pending.popleft()
        staged = future.result()
        cursor.close()
        outcomes.append(store_inbox_file(connection, done, staged, paths, attempt, pseudonyms))
        if progress is not None:
            progress.update("ingest", len(outcomes), len(new_files),
                            f"ingest: {done.relative} stored")

    with open_scratch() as scratch:
        for inbox_file in new_files:
            cursor = scratch.cursor()  # one per task: a connection is not shared by threads
            pending.append((inbox_file, stage_inbox_file.submit(inbox_file, divisions, cursor),
                            cursor))
            if len(pending) >= STAGE_AHEAD:
                store_next()
        while pending:
            store_next()
    release_freed_heap()  # linking starts from less; the staged frames are gone by now
    return outcomes


@task(cache_policy=NONE)
def prepare_resume(
    connection: duckdb.DuckDBPyConnection, paths: StatePaths, warehouse: Path, attempt: str,
    started_at: datetime,
) -> None:
    """Tidy what a killed run left: record files without a manifest row (their file is
    stored again), its run-log line, and its flow run that Prefect still shows RUNNING."""
    logger = get_run_logger()
    removed = remove_unfinished_record_files(connection, paths.state_db)
    crashed = start_run_log(connection, attempt, started_at)
    try:
        stale = crash_stale_flow_runs(warehouse, current_flow_run.get_id())
    except Exception as error:  # Prefect's bookkeeping must not stop the night's work
        logger.warning("could not tidy stale Prefect flow runs: %s", error)
        stale = []
    if removed or crashed or stale:
        logger.warning("resuming after an unfinished run: %d half-stored record files removed, "
                       "attempts %s marked crashed, flow runs %s marked CRASHED",
                       len(removed), crashed or "none", stale or "none")


@task(cache_policy=NONE)
def check_run_warnings(
    connection: duckdb.DuckDBPyConnection, as_of: date | None
) -> list[dict[str, object]]:
    """Departments silent for too long, quarantine shares and sex ratios far off their range."""
    warnings = run_warnings(read_extract_history(connection), as_of)
    logger = get_run_logger()
    for warning in warnings:
        logger.warning("%s", warning.message)
    logger.info("run warnings: %d", len(warnings))
    return [warning.as_dict() for warning in warnings]


@task(cache_policy=NONE)
def summarise_run(summary: RunSummary, warehouse: Path, outcomes: list[FileOutcome]) -> None:
    """Markdown and table artifacts of the run, and the warning event for notifications."""
    files = [{"file": o.file, "source": o.source, "status": o.status, "rows_read": o.rows_read,
              "rows_used": o.rows_used, "rows_quarantined": o.rows_quarantined,
              "reason": o.reason} for o in outcomes if o.status != "duplicate"]
    publish_run_artifacts(summary.__dict__, summary.warnings, read_run_headlines(warehouse),
                          files)
    announce_warnings(warehouse, summary.run_id, summary.warnings)


def record_failed_attempt(flow: object, flow_run: object, state: object) -> None:
    """on_failure hook: the run log says failed, with the error, instead of running."""
    parameters = getattr(flow_run, "parameters", {}) or {}
    if "warehouse" not in parameters:
        return
    paths = StatePaths(Path(str(parameters["warehouse"])).resolve())
    if not paths.state_db.exists():
        return
    with open_state(paths.state_db) as connection:
        mark_attempt_failed(connection, os.getpid(), datetime.now(),
                            str(getattr(state, "message", "") or "failed"))


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


# Reconcile and publish: patch the previous publish where only some children changed, else
# build every table whole; either way the new file is swapped in at once.
publish_warehouse = task(name="publish_warehouse", cache_policy=NONE)(publish_run)


@flow(name="birthrec-nightly", log_prints=False,
      task_runner=ThreadPoolTaskRunner(max_workers=STAGE_AHEAD),  # type: ignore[arg-type]
      on_failure=[record_failed_attempt])  # type: ignore[list-item]
def nightly_reconciliation(
    inbox: Path, warehouse: Path, as_of: date | None = None, rebuild: bool = False
) -> RunSummary:
    """Ingest what is new in the inbox, link, and publish the warehouse all at once."""
    logger = get_run_logger()
    started_at = datetime.now()
    paths = StatePaths(warehouse).create()
    attempt = attempt_id(started_at)
    with run_lock(paths.lock_file), open_state(paths.state_db) as connection:
        prepare_resume(connection, paths, warehouse, attempt, started_at)
        progress = RunProgress()
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
        progress.update("run", 1, len(RUN_STEPS), RUN_STEPS[1])
        outcomes += ingest_new_files(connection, new_files, divisions, paths, attempt, key,
                                     progress)
        refresh_record_winners(connection, paths.state_db)
        counts = check_row_counts(connection)
        review = ingest_decisions(connection, inbox, paths, attempt)
        run_as_of = as_of or default_as_of(connection)
        warnings = check_run_warnings(connection, run_as_of)
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
            warnings=warnings,
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
            summary.reports = write_reports(connection, warehouse, previous[0])
            summarise_run(summary, warehouse, outcomes)
            progress.update("run", len(RUN_STEPS), len(RUN_STEPS), "nothing new: done")
            return summary
        progress.update("run", 2, len(RUN_STEPS), RUN_STEPS[2])
        summary.persons = link_records(connection, key, run_id, rebuild).persons
        progress.update("run", 3, len(RUN_STEPS), RUN_STEPS[3])
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
        published = publish_warehouse(connection, warehouse, run_id, run_row, divisions,
                                      run_as_of, may_patch=not rebuild)
        logger.info("%s", published.describe(run_id, warehouse))
        summary.discrepancies, summary.publish = published.discrepancies, published.mode
        mark_published(connection, run_id, key_of_content, datetime.now())
        summary.status = RunStatus.PUBLISHED.value
        log_run(connection, attempt, started_at, datetime.now(), summary.status, run_as_of,
                summary.__dict__)
        summary.reports = write_reports(connection, warehouse, run_id)
        summarise_run(summary, warehouse, outcomes)
        progress.update("run", len(RUN_STEPS), len(RUN_STEPS), "published: done")
        return summary


def published_counts(connection: duckdb.DuckDBPyConnection, run_id: str) -> tuple[int, int]:
    rows = connection.execute(
        "SELECT persons, discrepancies FROM published_runs WHERE run_id = ?", [run_id]
    ).fetchall()
    return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)
