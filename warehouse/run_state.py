"""The run's bookkeeping in the state: lock, run ids, content key, run log, publish record."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import duckdb

from schemas.published import PUBLISHED_SCHEMA_VERSION
from warehouse.errors import RunLockedError

CODE_VERSION = "0.1.0"


@contextmanager
def run_lock(lock_file: Path) -> Iterator[None]:
    """Only one run at a time per warehouse: a second start is refused at once."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    handle = lock_file.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise RunLockedError(
                f"another birthrec run is active on this warehouse (lock {lock_file}); "
                "wait for it to finish"
            ) from error
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()


def attempt_id(started_at: datetime) -> str:
    """Id of this process's attempt, for the restricted run log (not published)."""
    return f"attempt-{started_at:%Y%m%dT%H%M%S}-{os.getpid()}"


def default_as_of(connection: duckdb.DuckDBPyConnection) -> date | None:
    """The latest extract date ingested: deadlines never depend on the wall clock."""
    rows = connection.execute(
        "SELECT max(extract_date) FROM files WHERE status = 'ingested'").fetchall()
    return rows[0][0] if rows else None


def content_key(
    connection: duckdb.DuckDBPyConnection, as_of: date | None, extra: dict[str, str | None]
) -> str:
    """A hash of everything a publish depends on: same inbox, same key, same tables."""
    hashes = [row[0] for row in connection.execute(
        "SELECT content_hash FROM files ORDER BY content_hash").fetchall()]
    material = json.dumps(
        {"files": hashes, "as_of": str(as_of), "code": CODE_VERSION,
         "schema": PUBLISHED_SCHEMA_VERSION, **extra},
        sort_keys=True,
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def run_id_for(as_of: date | None, key: str) -> str:
    """Deterministic published run id: a rerun or a resumed run publishes the same id."""
    day = as_of.strftime("%Y%m%d") if as_of else "nodate"
    return f"run-{day}-{key[:10]}"


def last_publish(connection: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    """(run_id, content_key) of the latest publish, if any."""
    rows = connection.execute(
        "SELECT run_id, content_key FROM publishes ORDER BY published_at DESC LIMIT 1"
    ).fetchall()
    return (rows[0][0], rows[0][1]) if rows else None


def record_publish(
    connection: duckdb.DuckDBPyConnection, run_id: str, key: str, at: datetime
) -> None:
    connection.execute(
        "INSERT OR REPLACE INTO publishes VALUES (?, ?, ?)", [run_id, key, at])


def log_run(
    connection: duckdb.DuckDBPyConnection,
    run_id: str,
    started_at: datetime,
    finished_at: datetime | None,
    status: str,
    as_of: date | None,
    summary: dict[str, object],
) -> None:
    """Every attempt gets a line in the restricted run log, whatever its outcome."""
    connection.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
        [run_id, started_at, finished_at, status, as_of,
         json.dumps(summary, ensure_ascii=False, default=str), CODE_VERSION],
    )
