"""Ingest: read each new inbox file, normalise and triage its rows, and store them in the state.

Each file is stored in its own transaction together with its manifest entry and its archived
copy, so a run that dies half-way keeps the files it finished and never half of one.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from schemas.codes import QuarantineReason
from schemas.sources import SOURCES
from transforms.normalise_ids import id_number_as_integer
from transforms.normalise_records import normalise_records
from transforms.triage_rows import triage_rows
from warehouse.errors import BadFileError
from warehouse.inbox_files import InboxFile, RejectedFile
from warehouse.pseudonymise import PSEUDONYM_PREFIXES, pseudonym_sql
from warehouse.state_paths import StatePaths
from warehouse.state_store import (
    insert_frame,
    next_ingest_order,
    registered,
    transaction,
    with_content_keys,
    write_record_versions,
)


@dataclass(frozen=True)
class StagedFile:
    """One file's rows after reading, normalising and triage, ready to store."""

    inbox_file: InboxFile
    records: pl.DataFrame
    quarantined: pl.DataFrame
    rows_read: int


@dataclass(frozen=True)
class FileOutcome:
    """What one file contributed to the night, for the run summary (no raw values)."""

    file: str
    source: str | None
    status: str  # ingested / rejected / duplicate
    rows_read: int
    rows_used: int
    rows_quarantined: int
    reason: str | None = None
    detail: str | None = None


def stage_file(
    inbox_file: InboxFile, divisions: pl.DataFrame,
    scratch: duckdb.DuckDBPyConnection | None = None,
) -> StagedFile:
    """Read, normalise and triage one file; a BadFileError means the file is rejected whole.

    `scratch` is a cursor of an in-memory DuckDB (open_scratch) for the content keys; without
    one the file opens its own (~17 ms of CPU each)."""
    from warehouse.read_source_file import read_source_file

    spec = SOURCES[inbox_file.source]
    staged = read_source_file(inbox_file, spec)
    records = normalise_records(staged, spec, divisions)
    usable, quarantined = triage_rows(staged, records)
    return StagedFile(inbox_file, with_content_keys(usable, scratch), quarantined,
                      staged.height)


def quarantined_row_frame(staged: StagedFile, run_id: str) -> pl.DataFrame:
    """Quarantine rows for the state: raw cell values kept as JSON, restricted store only."""
    frame = staged.quarantined
    raw_columns = [c for c in frame.columns if c.endswith("_raw") or c == "record_id"]
    return frame.select(
        pl.col("source"),
        pl.col("file"),
        pl.col("file_hash"),
        pl.col("row_number"),
        pl.col("reason"),
        pl.lit(None, dtype=pl.String).alias("detail"),
        pl.col("record_id"),
        pl.struct(raw_columns).struct.json_encode().alias("raw_values"),
        pl.lit(run_id).alias("run_id"),
    )


def manifest_frame(
    inbox_file: InboxFile | RejectedFile,
    *,
    status: str,
    run_id: str,
    rows_read: int | None,
    reason: str | None = None,
    detail: str | None = None,
    seen_at: datetime,
) -> pl.DataFrame:
    """One row of the file manifest."""
    accepted = inbox_file if isinstance(inbox_file, InboxFile) else None
    return pl.DataFrame(
        {
            "content_hash": [inbox_file.content_hash],
            "file": [inbox_file.relative],
            "source": [inbox_file.source],
            "extract_date": [accepted.extract_date if accepted else None],
            "file_seq": [accepted.file_seq if accepted else None],
            "size_bytes": [accepted.size_bytes if accepted else None],
            "status": [status],
            "reason": [reason],
            "detail": [detail],
            "rows_read": [rows_read],
            "run_id": [run_id],
            "seen_at": [seen_at],
        },
        schema={
            "content_hash": pl.String, "file": pl.String, "source": pl.String,
            "extract_date": pl.Date, "file_seq": pl.Int64, "size_bytes": pl.Int64,
            "status": pl.String, "reason": pl.String, "detail": pl.String,
            "rows_read": pl.Int64, "run_id": pl.String, "seen_at": pl.Datetime("us"),
        },
    )


def file_quarantine_frame(
    relative: str,
    source: str | None,
    content_hash: str | None,
    reason: QuarantineReason,
    detail: str,
    run_id: str,
) -> pl.DataFrame:
    """The quarantine row of a file rejected whole (row_number null)."""
    return pl.DataFrame(
        {"source": [source], "file": [relative], "file_hash": [content_hash],
         "row_number": [None], "reason": [reason.value],
         "detail": [detail], "record_id": [None], "raw_values": [None], "run_id": [run_id]},
        schema={"source": pl.String, "file": pl.String, "file_hash": pl.String,
                "row_number": pl.Int64,
                "reason": pl.String, "detail": pl.String, "record_id": pl.String,
                "raw_values": pl.String, "run_id": pl.String},
    )


def store_staged_file(
    connection: duckdb.DuckDBPyConnection,
    staged: StagedFile,
    paths: StatePaths,
    run_id: str,
    seen_at: datetime,
    pseudonyms: PseudonymCache,
) -> FileOutcome:
    """Archive the file and store its rows and manifest entry in one transaction."""
    inbox_file = staged.inbox_file
    archive_copy(inbox_file.path, paths.archive, inbox_file.content_hash, inbox_file.extension)
    ingest_order = next_ingest_order(connection)
    versions = with_pseudonyms(connection, staged.records, pseudonyms).with_columns(
        pl.lit(run_id).alias("ingest_run_id"),
        pl.lit(ingest_order, dtype=pl.Int64).alias("ingest_order"),
    )
    write_record_versions(versions, paths.state_db, inbox_file.content_hash)
    with transaction(connection):
        insert_frame(connection, "quarantine_rows", quarantined_row_frame(staged, run_id))
        insert_frame(connection, "files", manifest_frame(
            inbox_file, status="ingested", run_id=run_id, rows_read=staged.rows_read,
            seen_at=seen_at).with_columns(pl.lit(ingest_order, dtype=pl.Int64).alias(
                "ingest_order")))
        insert_frame(connection, "file_names", name_frame(inbox_file, run_id))
    return FileOutcome(inbox_file.relative, inbox_file.source, "ingested", staged.rows_read,
                       staged.records.height, staged.quarantined.height)


def store_rejected_file(
    connection: duckdb.DuckDBPyConnection,
    rejected: InboxFile | RejectedFile,
    error: BadFileError,
    run_id: str,
    seen_at: datetime,
) -> FileOutcome:
    """Record a file rejected whole: manifest entry plus one quarantine row."""
    with transaction(connection):
        insert_frame(connection, "files", manifest_frame(
            rejected, status="rejected", run_id=run_id, rows_read=None,
            reason=error.reason.value, detail=error.detail, seen_at=seen_at))
        insert_frame(connection, "file_names", name_frame(rejected, run_id))
        insert_frame(connection, "quarantine_rows", file_quarantine_frame(
            rejected.relative, rejected.source, rejected.content_hash, error.reason,
            error.detail, run_id))
    return FileOutcome(rejected.relative, rejected.source, "rejected", 0, 0, 0,
                       error.reason.value, str(error))


def store_duplicate_name(
    connection: duckdb.DuckDBPyConnection, inbox_file: InboxFile | RejectedFile, run_id: str
) -> FileOutcome:
    """Bytes already seen under another name: remember the name, change nothing else."""
    connection.execute(
        "INSERT OR IGNORE INTO file_names VALUES (?, ?, ?)",
        [inbox_file.content_hash, inbox_file.relative, run_id],
    )
    return FileOutcome(inbox_file.relative, inbox_file.source, "duplicate", 0, 0, 0)


PSEUDONYM_COLUMNS = (
    ("child_id_number", "child_id_pseudonym"),
    ("mother_id_number", "mother_pseudonym"),
)


# The cache's key column: the ID number as an integer (id_number_as_integer).
PSEUDONYM_CACHE_KEY = "id_number_key"


@dataclass(frozen=True, eq=False)
class PseudonymCache:
    """The night's pseudonyms by ID number, so each distinct number is hashed once per run:
    a mother's number recurs in three departments' files and a child's in two or three, and
    the keyed hash was 13 s of a 1M ingest when paid once per file. Each file's numbers are
    looked up in the whole cache, so it is keyed by the number as an integer: a join on
    text cost ~3x more. Raw values, kept in memory for the run only, and never shown in a
    repr (so never in a log)."""

    key: bytes = field(repr=False)
    known: dict[str, pl.DataFrame] = field(default_factory=dict, repr=False)


def pseudonym_mapping(
    connection: duckdb.DuckDBPyConnection, values: pl.DataFrame, column: str, alias: str,
    key: bytes,
) -> pl.DataFrame:
    """(column, alias): DuckDB's keyed pseudonym of each distinct value of `values`."""
    with registered(connection, "id_values", values):
        return connection.sql(
            f"SELECT {column}, {pseudonym_sql(column, key, PSEUDONYM_PREFIXES[column])} "
            f"AS {alias} FROM id_values").pl()


def cached_pseudonyms(
    connection: duckdb.DuckDBPyConnection, values: pl.DataFrame, column: str, alias: str,
    cache: PseudonymCache,
) -> pl.DataFrame:
    """(column, alias) for `values`: known ones from the run's cache, the rest computed and
    added to it (text that is not a cleaned 18-character number is computed, never cached)."""
    key = pl.col(PSEUDONYM_CACHE_KEY)
    known = cache.known.get(
        column, pl.DataFrame(schema={PSEUDONYM_CACHE_KEY: pl.Int64, alias: pl.String}))
    keyed = values.with_columns(id_number_as_integer(pl.col(column)).alias(PSEUDONYM_CACHE_KEY))
    found = keyed.join(known, on=PSEUDONYM_CACHE_KEY, how="inner").select(column, alias)
    missing = values.join(found.select(column), on=column, how="anti")
    computed = pseudonym_mapping(connection, missing, column, alias, cache.key)
    cache.known[column] = pl.concat([known, computed.select(
        id_number_as_integer(pl.col(column)).alias(PSEUDONYM_CACHE_KEY), alias,
    ).filter(key.is_not_null())])
    return pl.concat([found, computed])


def with_pseudonyms(
    connection: duckdb.DuckDBPyConnection, records: pl.DataFrame, cache: PseudonymCache
) -> pl.DataFrame:
    """The keyed pseudonyms stored beside each record version's ID numbers, each distinct
    number hashed once per run (PseudonymCache)."""
    for column, alias in PSEUDONYM_COLUMNS:
        values = records.select(pl.col(column).drop_nulls().unique())
        mapping = cached_pseudonyms(connection, values, column, alias, cache)
        # Join the ID column alone: joining the wide records would gather all 60 columns.
        pseudonyms = records.select(column).join(
            mapping, on=column, how="left", maintain_order="left").get_column(alias)
        records = records.with_columns(pseudonyms)
    return records


def name_frame(inbox_file: InboxFile | RejectedFile, run_id: str) -> pl.DataFrame:
    return pl.DataFrame({"content_hash": [inbox_file.content_hash],
                         "file": [inbox_file.relative], "run_id": [run_id]})


def archive_copy(path: Path, archive: Path, content_hash: str, extension: str) -> Path:
    """Keep the delivered bytes by content hash, so a full rebuild survives a cleaned inbox."""
    target = archive / f"{content_hash}{extension}"
    if not target.exists():
        partial = target.with_suffix(target.suffix + ".partial")
        shutil.copyfile(path, partial)
        partial.replace(target)
    return target


def release_freed_heap() -> bool:
    """Hand the C heap's free memory back to the system (glibc's malloc_trim); False where
    there is no glibc. Reading workbooks (calamine) and Python allocate through it from the
    staging threads' arenas, and freed blocks stay mapped: after a 1M ingest the process held
    ~120 MB of them into linking (RSS 632 -> 485 MB, measured on the 1M benchmark inbox)."""
    library = ctypes.util.find_library("c")
    if library is None:
        return False
    try:
        malloc_trim = ctypes.CDLL(library).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return False
    malloc_trim(0)
    return True


def summarise_outcomes(outcomes: list[FileOutcome]) -> dict[str, object]:
    """Counts for the one-line JSON summary."""
    return {
        "files_in": sum(o.status == "ingested" for o in outcomes),
        "files_rejected": sum(o.status == "rejected" for o in outcomes),
        "files_duplicate": sum(o.status == "duplicate" for o in outcomes),
        "rows_in": sum(o.rows_read for o in outcomes),
        "rows_quarantined": sum(o.rows_quarantined for o in outcomes),
    }


def describe_outcome(outcome: FileOutcome) -> str:
    return json.dumps(outcome.__dict__, ensure_ascii=False)
