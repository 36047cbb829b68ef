"""Two `birthrec run`s started at once on one warehouse: one is refused. The other is killed
(SIGKILL) once some files are stored, and the next start resumes it: files stored before the
kill are not read again, and the published tables equal a clean run's."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from polars.testing import assert_frame_equal
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import FlowRun

from flows.cli import EXIT_REFUSED
from flows.prefect_runs import same_warehouse
from flows.run_status import collect_status
from tests.flows.conftest import (
    BIRTHREC,
    RUN_WAIT_S,
    SILENT_SOURCE,
    Served,
    birthrec_env,
    kill_group,
    last_json_line,
    published_tables,
    start_birthrec,
    wait_for,
)
from warehouse.state_paths import StatePaths

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("prefect_server")]

KILL_AFTER_FILES = 4
STORED_LINE = re.compile(r"Task run 'store_inbox_file-\w+' - (\S+): (\d+) rows read")


@dataclass(frozen=True)
class KilledAndResumed:
    warehouse: Path
    refused_status: int | None
    refused_summary: dict[str, object]
    killed_pid: int
    status_during_run: dict[str, object]
    stored_before_kill: dict[str, int]  # file -> rows read, from the manifest after the kill
    resumed: subprocess.CompletedProcess[str]


def stored_record_files(warehouse: Path) -> int:
    folder = StatePaths(warehouse).state_db.parent / "records"
    return sum(1 for p in folder.glob("*.parquet") if p.name != "_empty.parquet")


@pytest.fixture(scope="module")
def killed_and_resumed(served: Served, flow_inbox: Path,
                       tmp_path_factory: pytest.TempPathFactory) -> KilledAndResumed:
    root = tmp_path_factory.mktemp("killed")
    warehouse = root / "warehouse.duckdb"
    env = birthrec_env(served.api_url)
    args = ["run", "--inbox", str(flow_inbox), "--warehouse", str(warehouse)]
    runs = {name: start_birthrec(args, env, root / "logs", name) for name in ("one", "two")}
    try:
        refused_name = wait_for(
            lambda: next((n for n, p in runs.items() if p.poll() is not None), None),
            120, "one of two simultaneous runs to be refused")
        assert isinstance(refused_name, str)
        refused = runs.pop(refused_name)
        ((running_name, running),) = runs.items()
        wait_for(lambda: stored_record_files(warehouse) >= 1, RUN_WAIT_S, "a first stored file",
                 0.05)
        status_during_run = collect_status(warehouse, flow_inbox, api_url=served.api_url)
        wait_for(lambda: stored_record_files(warehouse) >= KILL_AFTER_FILES, RUN_WAIT_S,
                 f"{KILL_AFTER_FILES} stored files", 0.05)
        assert running.poll() is None, "the run finished before it could be killed"
        kill_group(running)
        running.wait()
    finally:
        for process in runs.values():
            kill_group(process)
            process.wait()
    with duckdb.connect(str(StatePaths(warehouse).state_db), read_only=True) as state:
        stored = dict(state.execute(
            "SELECT file, rows_read FROM files WHERE status = 'ingested'").fetchall())
    resumed = subprocess.run([str(BIRTHREC), *args], env=env, capture_output=True, text=True,
                             timeout=RUN_WAIT_S, check=False)
    return KilledAndResumed(warehouse, refused.returncode,
                            last_json_line(root / "logs" / f"{refused_name}.out"),
                            running.pid, status_during_run, stored, resumed)


def test_second_run_started_at_once_is_refused(killed_and_resumed: KilledAndResumed,
                                               served: Served) -> None:
    run = killed_and_resumed
    assert run.refused_status == EXIT_REFUSED
    assert run.refused_summary["status"] == "refused"
    assert "another birthrec run is active" in str(run.refused_summary["error"])
    # The holder writes its pid just after taking the lock; a start refused in between
    # cannot name it yet, but any pid it names is the holder's.
    named = re.findall(r"pid (\d+)", str(run.refused_summary["error"]))
    assert named in ([], [str(run.killed_pid)])
    with SyncPrefectClient(served.api_url) as client:
        flow_runs = [r for r in client.read_flow_runs() if same_warehouse(r, run.warehouse)]
    assert len(flow_runs) == 2, "the refused start must leave no flow run: killed + resumed"


def test_status_during_a_run_names_the_running_process(
        killed_and_resumed: KilledAndResumed) -> None:
    status = killed_and_resumed.status_during_run
    assert status["run_active"] is True
    lock = status["lock"]
    assert isinstance(lock, dict) and lock["pid"] == killed_and_resumed.killed_pid
    assert isinstance(status["inbox_waiting"], dict)
    prefect = status["prefect"]
    assert isinstance(prefect, dict)
    (running,) = prefect["running"]  # the run storing files: RUNNING, with its progress
    assert "birthrec-run" in running["progress_percent"]


def test_killed_run_resumes_without_reading_stored_files_again(
        killed_and_resumed: KilledAndResumed, served: Served, clean_run: FlowRun) -> None:
    run = killed_and_resumed
    assert run.resumed.returncode == 0, run.resumed.stderr[-3000:]
    summary = json.loads(run.resumed.stdout.strip().splitlines()[-1])
    stored = run.stored_before_kill
    # The kill may land between a file's Parquet and its manifest row: that file is not
    # stored (the resume removes its orphan Parquet and reads it again), the others are.
    assert KILL_AFTER_FILES - 1 <= len(stored)
    read_again = {m[1] for m in STORED_LINE.finditer(run.resumed.stderr)} & set(stored)
    assert read_again == set(), "files stored before the kill were read again"
    clean = published_tables(served.warehouse)["run"].row(0, named=True)
    files = summary["files"]
    assert isinstance(files, dict)
    assert files["files_in"] + len(stored) == clean["files_ingested"]
    assert files["rows_in"] + sum(stored.values()) == clean["rows_read"]
    assert "resuming after an unfinished run" in run.resumed.stderr
    assert [w["source"] for w in summary["warnings"]] == [SILENT_SOURCE]  # as a clean run warns
    with SyncPrefectClient(served.api_url) as client:
        mine = [r for r in client.read_flow_runs() if same_warehouse(r, run.warehouse)]
    assert sorted(str(r.state_type.value) for r in mine if r.state_type) == [
        "COMPLETED", "CRASHED"]


def test_resumed_run_publishes_exactly_what_a_clean_run_publishes(
        killed_and_resumed: KilledAndResumed, served: Served, clean_run: FlowRun) -> None:
    assert killed_and_resumed.resumed.returncode == 0
    resumed = published_tables(killed_and_resumed.warehouse)
    clean = published_tables(served.warehouse)
    assert sorted(resumed) == sorted(clean)
    for name, frame in clean.items():
        assert_frame_equal(resumed[name], frame, check_row_order=True)
    assert resumed["person"].height > 0 and resumed["run"].height == 1
