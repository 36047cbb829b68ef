"""The restricted state opened read-only for officers' commands, never while a run is active.

A run holds the state read-write (DuckDB admits no reader beside a writer) and the run lock;
a reader asks the lock first so it can say clearly why it cannot look now.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import duckdb

from warehouse.errors import BirthrecError
from warehouse.state_paths import StatePaths
from warehouse.state_store import read_current_records


class StateBusyError(BirthrecError):
    """A run holds the state; read it when the run has finished."""


class StateMissingError(BirthrecError):
    """No state (or no published file) beside the warehouse: nothing has run yet."""


def busy_message(paths: StatePaths) -> str:
    return (f"核对任务正在运行，状态库已锁定，请在运行结束后再试。 / A birthrec run holds the "
            f"state of {paths.warehouse} (lock {paths.lock_file}); try again when it finishes.")


def run_is_active(lock_file: Path) -> bool:
    """True while a run holds the lock (run_state.run_lock takes it exclusively)."""
    if not lock_file.exists():
        return False
    with lock_file.open("rb") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def open_state_read_only(warehouse: Path) -> duckdb.DuckDBPyConnection:
    """The state of `warehouse`, read-only; refused with a Chinese and English message while
    a run is active. Close it soon: while it is open the next run cannot start."""
    paths = StatePaths(warehouse)
    if not paths.state_db.exists() or not warehouse.exists():
        raise StateMissingError(
            f"未找到已发布的仓库或其状态库，请先运行 birthrec run。 / No published warehouse "
            f"{warehouse} with its state {paths.state_db}: run `birthrec run` first.")
    if run_is_active(paths.lock_file):
        raise StateBusyError(busy_message(paths))
    try:
        connection = duckdb.connect(str(paths.state_db), read_only=True)
    # a run started between the two checks (another process: IOException; this one:
    # ConnectionException, DuckDB keeps one configuration per file per process)
    except (duckdb.IOException, duckdb.ConnectionException) as error:
        raise StateBusyError(busy_message(paths)) from error
    read_current_records(connection)
    return connection
