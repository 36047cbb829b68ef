"""What lets a killed run resume and a second run be refused: the run lock, the run log,
half-stored record files, and opening the state while a reader holds it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path
from unittest.mock import ANY

import polars as pl
import pytest

from schemas.canonical import CANONICAL
from warehouse.errors import RunLockedError, StateLockedError
from warehouse.run_state import (
    is_lock_held,
    log_run,
    mark_attempt_failed,
    read_lock_holder,
    run_lock,
    start_run_log,
)
from warehouse.state_store import (
    RECORD_EXTRA,
    connect_with_retry,
    open_scratch,
    open_state,
    ranked_sql,
    records_folder,
    release_cached_memory,
    remove_unfinished_record_files,
    with_content_keys,
    write_record_versions,
)

HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from warehouse.run_state import run_lock
    with run_lock(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
""")
HOLD_READER = textwrap.dedent("""
    import sys, time, duckdb
    reader = duckdb.connect(sys.argv[1], read_only=True)
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
""")


def hold(script: str, path: Path, seconds: float) -> subprocess.Popen[str]:
    """Another process holding `path` (the lock, or the database read-only) for a while."""
    holder = subprocess.Popen([sys.executable, "-c", script, str(path), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_second_lock_from_another_process_is_refused_naming_the_holder(tmp_path: Path) -> None:
    lock_file = tmp_path / "run.lock"
    holder = hold(HOLD_LOCK, lock_file, 10)
    try:
        assert is_lock_held(lock_file)
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            with run_lock(lock_file):
                pass
    finally:
        holder.kill()
        holder.wait()
    assert not is_lock_held(lock_file)
    with run_lock(lock_file):  # a killed holder's lock is gone with its process
        assert read_lock_holder(lock_file) == {"pid": os.getpid(), "command": ANY,
                                               "started_at": ANY}


def test_lock_is_reentrant_within_the_process_that_holds_it(tmp_path: Path) -> None:
    lock_file = tmp_path / "run.lock"
    with run_lock(lock_file):
        with run_lock(lock_file):  # the command line holds it, the flow takes it again
            assert is_lock_held(lock_file)
        assert is_lock_held(lock_file)
    assert not is_lock_held(lock_file)


def test_unfinished_attempt_is_marked_crashed_by_the_next_start(tmp_path: Path) -> None:
    with open_state(tmp_path / "state.duckdb") as state:
        assert start_run_log(state, "attempt-1-111", datetime(2014, 1, 1, 2)) == []
        crashed = start_run_log(state, "attempt-2-222", datetime(2014, 1, 2, 2))
        log_run(state, "attempt-2-222", datetime(2014, 1, 2, 2), datetime(2014, 1, 2, 3),
                "published", None, {"run_id": "run-x"})
        rows = state.execute("SELECT run_id, status FROM runs ORDER BY run_id").fetchall()
    assert crashed == ["attempt-1-111"]
    assert rows == [("attempt-1-111", "crashed"), ("attempt-2-222", "published")]


def test_failed_attempt_keeps_its_error(tmp_path: Path) -> None:
    with open_state(tmp_path / "state.duckdb") as state:
        start_run_log(state, "attempt-20140101T020000-4242", datetime(2014, 1, 1, 2))
        mark_attempt_failed(state, 4242, datetime(2014, 1, 1, 3), "RowCountMismatchError: x")
        row = state.execute("SELECT status, summary FROM runs").fetchone()
    assert row == ("failed", '{"error": "RowCountMismatchError: x"}')


def empty_versions() -> pl.DataFrame:
    return pl.DataFrame(schema={**CANONICAL, **RECORD_EXTRA})


def test_record_files_without_a_manifest_row_are_removed(tmp_path: Path) -> None:
    state_db = tmp_path / "state.duckdb"
    with open_state(state_db) as state:
        write_record_versions(empty_versions(), state_db, "a" * 64)
        write_record_versions(empty_versions(), state_db, "b" * 64)  # killed before its commit
        (records_folder(state_db) / ("c" * 64 + ".partial")).write_bytes(b"half")
        state.execute("INSERT INTO files (content_hash, file, status, run_id, seen_at) "
                      "VALUES (?, 'x', 'ingested', 'attempt', now())", ["a" * 64])
        removed = remove_unfinished_record_files(state, state_db)
    assert removed == ["b" * 64 + ".parquet", "c" * 64 + ".partial"]
    assert sorted(p.name for p in records_folder(state_db).iterdir()) == [
        "_empty.parquet", "a" * 64 + ".parquet"]


def test_state_opens_once_a_reader_lets_go(tmp_path: Path) -> None:
    state_db = tmp_path / "state.duckdb"
    open_state(state_db).close()
    reader = hold(HOLD_READER, state_db, 1.0)
    try:
        connection = connect_with_retry(state_db, delays_s=(0.2, 0.5, 1.0, 2.0))
        connection.close()
    finally:
        reader.wait()


def test_state_held_too_long_says_so(tmp_path: Path) -> None:
    state_db = tmp_path / "state.duckdb"
    open_state(state_db).close()
    reader = hold(HOLD_READER, state_db, 10)
    try:
        with pytest.raises(StateLockedError, match="birthrec status"):
            connect_with_retry(state_db, delays_s=(0.1,))
    finally:
        reader.kill()
        reader.wait()


def test_record_files_from_before_content_keys_get_them_once(tmp_path: Path) -> None:
    """A state written before records carried their content key is upgraded when opened:
    each file gets the key ingest would have given it, and a file that has one is left."""
    state_db = tmp_path / "state.duckdb"
    open_state(state_db).close()
    old = pl.concat([empty_versions(), pl.DataFrame(
        {"source": ["gongan", "gongan"], "record_id": ["G1", "G2"], "child_name": ["李明", None],
         "birth_date": [datetime(2013, 5, 4).date(), None], "row_number": [2, 3]})],
        how="diagonal_relaxed").drop("content_key")
    old_file = records_folder(state_db) / ("a" * 64 + ".parquet")
    old.write_parquet(old_file)
    open_state(state_db).close()
    upgraded = pl.read_parquet(old_file)
    expected = with_content_keys(old).get_column("content_key")
    assert upgraded.get_column("content_key").to_list() == expected.to_list()
    assert expected.n_unique() == 2 and expected.null_count() == 0
    modified = old_file.stat().st_mtime_ns
    open_state(state_db).close()
    assert old_file.stat().st_mtime_ns == modified


def test_content_keys_are_the_same_with_a_shared_scratch_cursor(tmp_path: Path) -> None:
    """Staging threads share one scratch database through cursors: same keys as a file's
    own database, and the cursor keeps no table behind."""
    versions = pl.concat([empty_versions(), pl.DataFrame(
        {"source": ["gongan"] * 3, "record_id": ["G1", "G2", "G3"],
         "child_name": ["李明", None, "王芳"], "sex": [1, 2, None],
         "birth_date": [datetime(2013, 5, 4).date(), None, datetime(2012, 2, 29).date()],
         "birth_weight_g": [3200.0, None, 2999.5], "is_within_policy": [True, None, False],
         "row_number": [2, 3, 4]})], how="diagonal_relaxed").drop("content_key")
    own = with_content_keys(versions).get_column("content_key")
    with open_scratch() as scratch, scratch.cursor() as cursor:
        shared = with_content_keys(versions, cursor).get_column("content_key")
        again = with_content_keys(versions, cursor).get_column("content_key")
        assert cursor.execute("SELECT count(*) FROM duckdb_views() WHERE NOT internal"
                              ).fetchone() == (0,)
    assert shared.to_list() == own.to_list() == again.to_list()
    assert own.n_unique() == 3


def test_releasing_cached_memory_leaves_the_default_limit_and_the_data(tmp_path: Path) -> None:
    """The memory limit is lowered only for a moment, also on a read-only state, and the
    release never fails a run (a limit below what is pinned is simply not reached)."""
    path = tmp_path / "state.duckdb"
    connection = connect_with_retry(path)
    default = connection.execute("SELECT current_setting('memory_limit')").fetchone()
    connection.execute("CREATE TABLE kept AS SELECT range AS n FROM range(100000)")
    release_cached_memory(connection)
    assert connection.execute("SELECT current_setting('memory_limit')").fetchone() == default
    assert connection.execute("SELECT sum(n) FROM kept").fetchone() == (4999950000,)
    connection.close()
    reader = connect_with_retry(path, read_only=True)
    release_cached_memory(reader)
    assert reader.execute("SELECT count(*) FROM kept").fetchone() == (100000,)


def store_versions(state_db: Path, hash_letter: str, extract_day: int, order: int,
                   rows: list[tuple[str, int]]) -> None:
    """One stored file: its record versions (record_id, row) and its manifest row."""
    content_hash = hash_letter * 64
    versions = pl.concat([empty_versions(), pl.DataFrame(
        {"source": ["gongan"] * len(rows), "record_id": [r for r, _ in rows],
         "row_number": [n for _, n in rows], "file": [f"gongan/gongan_201306{extract_day:02d}.csv"]
         * len(rows), "file_hash": [content_hash] * len(rows),
         "extract_date": [datetime(2013, 6, extract_day).date()] * len(rows),
         "file_seq": [0] * len(rows), "ingest_order": [order] * len(rows)})],
        how="diagonal_relaxed")
    write_record_versions(versions, state_db, content_hash)
    with open_state(state_db) as state:
        state.execute(
            "INSERT INTO files (content_hash, file, source, extract_date, file_seq, status, "
            "ingest_order, run_id, seen_at) VALUES (?, ?, 'gongan', ?, 0, 'ingested', ?, 'r', "
            "now())", [content_hash, versions["file"][0], versions["extract_date"][0], order])


@pytest.mark.parametrize("merges", [pytest.param(1, id="both files in the first merge"),
                                    pytest.param(2, id="the second file merged later")])
def test_record_winners_are_the_latest_versions(tmp_path: Path, merges: int) -> None:
    """The first merge into an empty record_winners ranks the files as read; a later one
    displaces the versions it supersedes; either way the winners are the latest versions
    (later extract, then the file's last row)."""
    state_db = tmp_path / "state.duckdb"
    open_state(state_db).close()
    store_versions(state_db, "a", 1, 1, [("G1", 2), ("G2", 3), ("G1", 4)])
    if merges == 2:
        open_state(state_db).close()  # opening merges what was stored
    store_versions(state_db, "b", 2, 2, [("G2", 2), ("G3", 3)])
    with open_state(state_db) as state:
        winners = state.execute("SELECT record_id, file_hash, row_number FROM record_winners "
                                "ORDER BY record_id").fetchall()
        ranked = state.execute(
            f"SELECT record_id, file_hash, row_number FROM ({ranked_sql('record_versions')}) "
            "ORDER BY record_id").fetchall()
    assert winners == ranked == [("G1", "a" * 64, 4), ("G2", "b" * 64, 2), ("G3", "b" * 64, 3)]
