"""The run's bookkeeping in the state: lock, run ids, content key, run log, publish record."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path

import duckdb

from schemas.codes import RunStatus
from schemas.published import PUBLISHED_SCHEMA_VERSION
from warehouse.errors import RunLockedError

CODE_VERSION = "0.1.0"


# Lock files this process holds: the command line takes the lock before Prefect starts (so a
# second run is refused in a second, with no flow run), and the flow inside takes it again.
HELD_LOCKS: set[Path] = set()


@contextmanager
def run_lock(lock_file: Path) -> Iterator[None]:
    """Only one run at a time per warehouse: a second start is refused at once.

    The lock file names its holder (pid, start time), for the refusal and `birthrec status`.
    """
    lock_file = lock_file.resolve()
    if lock_file in HELD_LOCKS:  # taken already by this process's command line
        yield
        return
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    handle = lock_file.open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            holder = read_lock_holder(lock_file)
            since = f" (pid {holder.get('pid')}, since {holder.get('started_at')})" if holder \
                else ""
            raise RunLockedError(
                f"another birthrec run is active on this warehouse{since}; lock {lock_file} — "
                "this start did nothing; wait for that run to finish"
            ) from error
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({
            "pid": os.getpid(),
            "started_at": datetime.now().isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:2]]),
        }))
        handle.flush()
        HELD_LOCKS.add(lock_file)
        try:
            yield
        finally:
            HELD_LOCKS.discard(lock_file)
    finally:
        handle.close()


def read_lock_holder(lock_file: Path) -> dict[str, object] | None:
    """Who took the lock last (it is not cleared on release: pair it with is_lock_held)."""
    try:
        text = lock_file.read_text().strip()
    except FileNotFoundError:
        return None
    if not text:
        return None
    try:
        holder = json.loads(text)
    except json.JSONDecodeError:
        return {"pid": text}  # the older format: the pid alone
    return holder if isinstance(holder, dict) else {"pid": holder}


def is_lock_held(lock_file: Path) -> bool:
    """Whether a live process holds the run lock, without ever taking it.

    /proc/locks lists every flock by inode; taking the lock to test it could refuse a run
    that starts at that moment.
    """
    try:
        inode = lock_file.stat().st_ino
        locks = Path("/proc/locks").read_text()
    except OSError:
        return False
    return any(line.split()[1] == "FLOCK" and line.split()[5].endswith(f":{inode}")
               for line in locks.splitlines() if len(line.split()) > 5)


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
    connection.execute("DELETE FROM runs WHERE run_id = ?", [run_id])
    connection.execute(
        "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
        [run_id, started_at, finished_at, status, as_of,
         json.dumps(summary, ensure_ascii=False, default=str), CODE_VERSION],
    )


def start_run_log(connection: duckdb.DuckDBPyConnection, run_id: str, started_at: datetime
                  ) -> list[str]:
    """Mark attempts that never finished as crashed, then log this one as running.

    Called under the run lock, so a `running` row left from before is a killed attempt.
    """
    crashed = [row[0] for row in connection.execute(
        "UPDATE runs SET status = ? WHERE status = ? RETURNING run_id",
        [RunStatus.CRASHED.value, RunStatus.RUNNING.value]).fetchall()]
    log_run(connection, run_id, started_at, None, RunStatus.RUNNING.value, None, {})
    return crashed


def mark_attempt_failed(connection: duckdb.DuckDBPyConnection, pid: int, finished_at: datetime,
                        error: str) -> None:
    """The failed attempt of process `pid` (attempt ids end in the pid) says why it failed."""
    connection.execute(
        "UPDATE runs SET status = ?, finished_at = ?, summary = ? "
        "WHERE status = ? AND run_id LIKE ?",
        [RunStatus.FAILED.value, finished_at, json.dumps({"error": error}, ensure_ascii=False),
         RunStatus.RUNNING.value, f"attempt-%-{pid}"])
