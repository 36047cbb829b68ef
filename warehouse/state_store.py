"""The restricted state kept between nights: file manifest, record versions, quarantined rows.

Record versions live in one Parquet file per ingested file (restricted/records/<sha256>.parquet,
written whole before its manifest row commits), read through the view `record_versions`:
a 60-column DuckDB insert was 15 s per million rows, a Parquet write 3 s. SQL is built by
pure *_sql() functions and run by the functions beside them, which take the connection.
Everything here holds raw values and lives only under FILE.state/restricted/.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from schemas.canonical import CANONICAL, STAGED_META
from warehouse.errors import StateLockedError

STATE_SCHEMA_VERSION = 1
# Latest version wins: later extract date, then n, then name, then a later delivery of the
# same name, then the last row of the file.
RECORD_ORDER = (
    "extract_date DESC, file_seq DESC, file DESC, ingest_order DESC, row_number DESC"
)


# Columns stored beside the canonical ones in each record-version file.
RECORD_EXTRA: dict[str, pl.DataType] = {
    "child_id_pseudonym": pl.String(), "mother_pseudonym": pl.String(),
    "ingest_order": pl.Int64(), "ingest_run_id": pl.String(),
    "content_key": pl.String(),  # content_key_sql, computed at ingest
}
EMPTY_RECORDS_FILE = "_empty.parquet"
# zstd level 1 wrote a 1M ingest's record files in 70% of the CPU time of polars' default
# level, and they came out a little smaller (measured on the 1M benchmark inbox).
RECORD_FILE_ZSTD_LEVEL = 1
# A reader (`birthrec status`, an analyst) holding the state open blocks the writer; such
# holds are short, so opening is retried with backoff for about half a minute.
OPEN_RETRY_DELAYS_S = (0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0)
# The memory limit set for a moment to make DuckDB flush its allocator (release_cached_memory).
RELEASE_LIMIT = "256MB"
# DuckDB's allocator keeps freed memory until a background thread returns it: without one, a
# 1M run's process held ~1.5 GB more after reading every record for linking (measured RSS).
STATE_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "allocator_background_threads": True}


def create_state_sql(records_folder: Path) -> list[str]:
    """DDL of the state database; idempotent. Views are re-created on every open, so the
    state folder may be moved or restored from a backup."""
    versions = f"{records_folder.as_posix()}/*.parquet"
    return [
        """CREATE TABLE IF NOT EXISTS files (
  content_hash VARCHAR PRIMARY KEY, file VARCHAR NOT NULL, source VARCHAR,
  extract_date DATE, file_seq BIGINT, size_bytes BIGINT, status VARCHAR NOT NULL,
  reason VARCHAR, detail VARCHAR, rows_read BIGINT, ingest_order BIGINT,
  run_id VARCHAR NOT NULL,
  seen_at TIMESTAMP NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS file_names (
  content_hash VARCHAR NOT NULL, file VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
  PRIMARY KEY (content_hash, file))""",
        f"""CREATE OR REPLACE VIEW record_versions AS
  SELECT * FROM read_parquet('{versions}', union_by_name = true)
  WHERE file_hash IN (SELECT content_hash FROM files WHERE status = 'ingested')""",
        """CREATE TABLE IF NOT EXISTS quarantine_rows (
  source VARCHAR, file VARCHAR NOT NULL, file_hash VARCHAR, row_number BIGINT,
  reason VARCHAR NOT NULL,
  detail VARCHAR, record_id VARCHAR, raw_values VARCHAR, run_id VARCHAR NOT NULL)""",
        """CREATE TABLE IF NOT EXISTS runs (
  run_id VARCHAR NOT NULL, started_at TIMESTAMP NOT NULL, finished_at TIMESTAMP,
  status VARCHAR NOT NULL, as_of DATE, summary VARCHAR, code_version VARCHAR)""",
        """CREATE TABLE IF NOT EXISTS published_runs (
  run_id VARCHAR PRIMARY KEY, as_of DATE, started_at TIMESTAMP, finished_at TIMESTAMP,
  status VARCHAR, files_ingested BIGINT, files_rejected BIGINT, rows_read BIGINT,
  rows_in_use BIGINT, rows_superseded BIGINT, rows_quarantined BIGINT, persons BIGINT,
  discrepancies BIGINT, code_version VARCHAR, schema_version BIGINT)""",
        """CREATE TABLE IF NOT EXISTS publishes (
  run_id VARCHAR PRIMARY KEY, content_key VARCHAR NOT NULL, published_at TIMESTAMP NOT NULL)""",
        # Which version of each record is in use, kept up to date as files are stored
        # (refresh_record_winners): reading the records in use is then a semi-join, not a
        # ranking of every version ever stored.
        """CREATE TABLE IF NOT EXISTS record_winners (
  source VARCHAR, record_id VARCHAR, file_hash VARCHAR, row_number BIGINT,
  extract_date DATE, file_seq BIGINT, file VARCHAR, ingest_order BIGINT)""",
        """CREATE TABLE IF NOT EXISTS winner_files (content_hash VARCHAR PRIMARY KEY)""",
        """CREATE OR REPLACE VIEW records_in_use AS
  SELECT * FROM record_versions SEMI JOIN record_winners USING (file_hash, row_number)""",
    ]


WINNER_COLUMNS = ("source", "record_id", "file_hash", "row_number", "extract_date",
                  "file_seq", "file", "ingest_order")


def ranked_sql(versions: str, columns: str = "*") -> str:
    """The latest version of each record among `versions` (RECORD_ORDER)."""
    return f"""SELECT {columns} FROM (
    SELECT *, row_number() OVER (PARTITION BY source, record_id ORDER BY {RECORD_ORDER})
      AS version_rank
    FROM {versions}) WHERE version_rank = 1"""


def unmerged_files_sql() -> str:
    return """SELECT content_hash FROM files WHERE status = 'ingested'
  AND content_hash NOT IN (SELECT content_hash FROM winner_files) ORDER BY content_hash"""


def refresh_record_winners(connection: duckdb.DuckDBPyConnection, state_db: Path) -> int:
    """Merge the versions of files stored since the last refresh into record_winners, in one
    transaction; returns how many files were merged. Runs when the state is opened for
    writing and after each night's ingest, so a killed run is caught up by the next."""
    hashes = [row[0] for row in connection.execute(unmerged_files_sql()).fetchall()]
    if not hashes:
        return 0
    folder = records_folder(state_db)
    paths = ", ".join(f"'{(folder / f'{h}.parquet').as_posix()}'" for h in hashes)
    columns = ", ".join(WINNER_COLUMNS)
    versions = f"(SELECT {columns} FROM read_parquet([{paths}], union_by_name = true))"
    if not connection.execute("SELECT EXISTS (SELECT 1 FROM record_winners)").fetchall()[0][0]:
        # The first merge (a first run or a rebuilt state): nothing to displace, so the files'
        # versions are ranked as they are read, without the two copies below (-30% of the
        # merge's CPU at 1M: 5.6 -> 4.0 s on the benchmark inbox's 2.87M versions).
        with transaction(connection):
            connection.execute(f"INSERT INTO record_winners {ranked_sql(versions, columns)}")
            connection.execute("INSERT INTO winner_files SELECT unnest(?)", [hashes])
        release_cached_memory(connection)
        return len(hashes)
    try:
        with transaction(connection):
            connection.execute(f"CREATE OR REPLACE TEMP TABLE arriving AS SELECT * FROM {versions}")
            connection.execute(f"""CREATE OR REPLACE TEMP TABLE contenders AS
SELECT {columns} FROM record_winners SEMI JOIN arriving USING (source, record_id)
UNION ALL SELECT {columns} FROM arriving""")
            connection.execute("""DELETE FROM record_winners WHERE (source, record_id) IN
  (SELECT (source, record_id) FROM contenders)""")
            connection.execute(
                f"INSERT INTO record_winners {ranked_sql('contenders', columns)}")
            connection.execute("INSERT INTO winner_files SELECT unnest(?)", [hashes])
    finally:
        connection.execute("DROP TABLE IF EXISTS arriving")
        connection.execute("DROP TABLE IF EXISTS contenders")
    release_cached_memory(connection)
    return len(hashes)


def read_current_records(connection: duckdb.DuckDBPyConnection) -> None:
    """On a read-only connection: when a run was killed between storing files and merging
    them into record_winners, rank the versions instead (a temporary view shadows the
    state's), so a reader never sees a superseded version."""
    if connection.execute(unmerged_files_sql()).fetchall():
        connection.execute("CREATE OR REPLACE TEMP VIEW records_in_use AS "
                           + ranked_sql("record_versions", "* EXCLUDE (version_rank)"))


def content_key_sql(alias: str) -> str:
    """md5 of what a record version says (every canonical value, not which file or row it
    came in): a department re-sending a record unchanged does not change it, so a case an
    officer closed stays closed until the data really change. Computed once at ingest."""
    values = ", ".join(f"coalesce(CAST({alias}.{c} AS VARCHAR), '')"
                       for c in CANONICAL if c not in STAGED_META)
    return f"md5(concat_ws('|', {values}))"


def open_scratch() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB for staging's computations (content keys), one per run:
    each staging thread takes its own cursor(), far cheaper than a database per file."""
    return duckdb.connect(config={"threads": 1})


def arrow_view(frame: pl.DataFrame) -> object:
    """`frame` as Arrow for DuckDB to scan without copying its text: polars' own string views
    (the newest Arrow compat level) instead of the large strings a plain registration
    converts every text column into (~20% of the content keys' CPU at 1M, polars 2.1)."""
    return frame.to_arrow(compat_level=pl.CompatLevel.newest())


def with_content_keys(
    records: pl.DataFrame, scratch: duckdb.DuckDBPyConnection | None = None
) -> pl.DataFrame:
    """`records` with their content_key, by DuckDB's md5 on a private in-memory database
    (staging threads run this side by side, away from the state's connection). `scratch`,
    a cursor of such a database, saves opening one per file."""
    if scratch is None:
        with open_scratch() as own:
            return with_content_keys(records, own)
    versions = arrow_view(records.select([c for c in CANONICAL if c not in STAGED_META]))
    with registered(scratch, "versions", versions):
        keys = scratch.sql(f"SELECT {content_key_sql('v')} AS content_key FROM versions v"
                           ).pl().get_column("content_key")
    return records.with_columns(keys)


def add_content_keys(folder: Path) -> list[str]:
    """Give record files written before content keys existed their content_key column,
    each rewritten whole (temporary name, then rename). Returns the files changed."""
    changed = []
    for path in sorted(folder.glob("*.parquet")):
        if "content_key" in pl.read_parquet_schema(path):
            continue
        partial = path.with_suffix(".partial")
        with duckdb.connect(config={"threads": 1}) as scratch:
            scratch.execute(
                f"COPY (SELECT *, {content_key_sql('v')} AS content_key "
                f"FROM read_parquet('{path.as_posix()}') v) TO '{partial.as_posix()}' "
                "(FORMAT parquet)")
        partial.replace(path)
        changed.append(path.name)
    return changed


@contextmanager
def transaction(connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """All of the block's statements or none of them."""
    connection.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


@contextmanager
def registered(connection: duckdb.DuckDBPyConnection, name: str,
               frame: pl.DataFrame | object) -> Iterator[None]:
    """`frame` (a polars frame, or Arrow such as arrow_view gives) readable by SQL as table
    `name` for the block's statements only."""
    connection.register(name, frame)
    try:
        yield
    finally:
        connection.unregister(name)


def records_folder(state_db: Path) -> Path:
    return state_db.parent / "records"


def open_state(path: Path) -> duckdb.DuckDBPyConnection:
    """Open (and create if new) the state database and its record-version folder."""
    folder = records_folder(path)
    folder.mkdir(exist_ok=True)
    empty = folder / EMPTY_RECORDS_FILE
    if not empty.exists():  # so the view's glob always matches, and knows every column
        pl.DataFrame(schema={**CANONICAL, **RECORD_EXTRA}).write_parquet(empty)
    connection = connect_with_retry(path)  # under the run lock, or the state's own lock
    add_content_keys(folder)
    for statement in create_state_sql(folder):
        connection.execute(statement)
    refresh_record_winners(connection, path)
    return connection


def release_cached_memory(connection: duckdb.DuckDBPyConnection) -> None:
    """Make DuckDB hand back the memory its allocator keeps after a big query.

    After merging a 1M night's record winners the process held ~1.1 GB more than DuckDB
    reports in use (duckdb_memory()); that stayed through linking and publishing and raised
    their peaks. Lowering the memory limit for a moment makes DuckDB flush it (measured: 2.1
    -> 1.0 GB RSS). The state never sets its own limit, so the default comes back.
    """
    try:
        connection.execute(f"SET memory_limit = '{RELEASE_LIMIT}'")
    except duckdb.Error:  # more than that is pinned right now: nothing to gain
        return
    finally:
        connection.execute("RESET memory_limit")


def connect_with_retry(
    path: Path, read_only: bool = False, delays_s: tuple[float, ...] = OPEN_RETRY_DELAYS_S
) -> duckdb.DuckDBPyConnection:
    """Open a DuckDB file, waiting with backoff while another process holds its lock."""
    for delay in (*delays_s, None):
        try:
            return duckdb.connect(str(path), read_only=read_only, config=STATE_CONFIG)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise
            if delay is None:
                raise StateLockedError(
                    f"{path}: still locked by another process after "
                    f"{sum(delays_s):.0f} s ({error}) — is a run active, or a reader holding "
                    "the state open? `birthrec status` shows which") from error
            time.sleep(delay)
    raise AssertionError("unreachable")


def remove_unfinished_record_files(
    connection: duckdb.DuckDBPyConnection, state_db: Path
) -> list[str]:
    """Delete record-version files that no manifest row owns: a run killed between writing a
    file's Parquet and committing its manifest row left them. The view already ignores them;
    removing them keeps the folder equal to the manifest, and the next store redoes the file."""
    owned = {row[0] for row in connection.execute(
        "SELECT content_hash FROM files WHERE status = 'ingested'").fetchall()}
    removed: list[str] = []
    for path in sorted(records_folder(state_db).iterdir()):
        if path.name == EMPTY_RECORDS_FILE:
            continue
        if path.suffix == ".partial" or (path.suffix == ".parquet" and path.stem not in owned):
            path.unlink()
            removed.append(path.name)
    return removed


def write_record_versions(frame: pl.DataFrame, state_db: Path, content_hash: str) -> Path:
    """Write one file's record versions whole (temp name, then rename): a crash never leaves
    half a file, and a file without a manifest row is ignored by the view."""
    target = records_folder(state_db) / f"{content_hash}.parquet"
    partial = target.with_suffix(".partial")
    frame.select({**CANONICAL, **RECORD_EXTRA}.keys()).write_parquet(
        partial, compression="zstd", compression_level=RECORD_FILE_ZSTD_LEVEL)
    partial.replace(target)
    return target


def known_hashes(connection: duckdb.DuckDBPyConnection) -> set[str]:
    """Content hashes already ingested or rejected: those bytes change nothing again."""
    rows = connection.execute("SELECT content_hash FROM files").fetchall()
    return {row[0] for row in rows}


def next_ingest_order(connection: duckdb.DuckDBPyConnection) -> int:
    """Files are numbered in the order they were stored; it breaks ties between versions."""
    row = connection.execute("SELECT coalesce(max(ingest_order), 0) + 1 FROM files").fetchall()
    return int(row[0][0])


def insert_frame(
    connection: duckdb.DuckDBPyConnection,
    table: str,
    frame: pl.DataFrame,
    extra_columns_sql: str = "",
    where_sql: str = "",
) -> None:
    """Append a frame by column name, plus computed columns, of the rows `where_sql` keeps
    (filtered by DuckDB, so a big frame is not copied); the caller holds the transaction."""
    if frame.height == 0:
        return
    extra = f", {extra_columns_sql}" if extra_columns_sql else ""
    where = f" WHERE {where_sql}" if where_sql else ""
    with registered(connection, "incoming_frame", frame):
        try:
            connection.execute(
                f"INSERT INTO {table} BY NAME SELECT *{extra} FROM incoming_frame{where}")
        except duckdb.Error as error:
            raise RuntimeError(f"insert into {table} failed: {error}") from error


def file_count_check_sql() -> str:
    """Per ingested file: rows read vs rows in use + superseded + quarantined."""
    return """
WITH stored AS (SELECT file_hash, count(*) AS stored FROM record_versions GROUP BY file_hash),
in_use AS (SELECT file_hash, count(*) AS in_use FROM record_winners GROUP BY file_hash),
quarantined AS (
  SELECT file_hash, count(*) AS quarantined FROM quarantine_rows
  WHERE row_number IS NOT NULL GROUP BY file_hash)
SELECT f.file, f.rows_read,
       coalesce(u.in_use, 0) AS in_use,
       coalesce(s.stored, 0) - coalesce(u.in_use, 0) AS superseded,
       coalesce(q.quarantined, 0) AS quarantined
FROM files f
LEFT JOIN stored s ON s.file_hash = f.content_hash
LEFT JOIN in_use u ON u.file_hash = f.content_hash
LEFT JOIN quarantined q ON q.file_hash = f.content_hash
WHERE f.status = 'ingested'
ORDER BY f.file"""


def file_row_counts(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Counts per ingested file; the run fails when any file's do not add up."""
    return connection.sql(file_count_check_sql()).pl()


def record_published_run(connection: duckdb.DuckDBPyConnection, run_row: dict[str, object]) -> None:
    """Keep the published run's row; the `run` table shows every publish so far."""
    columns = ", ".join(run_row)
    marks = ", ".join("?" for _ in run_row)
    connection.execute(
        f"INSERT OR REPLACE INTO published_runs ({columns}) VALUES ({marks})",
        list(run_row.values()),
    )
