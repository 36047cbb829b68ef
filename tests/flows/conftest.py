"""One real Prefect server for the operation tests: `birthrec serve` starts it (its own local
server, as on a site without PREFECT_API_URL), and every `birthrec run` subprocess here points
at it, so no subprocess pays for a temporary server of its own.

The tests that use it share one xdist group, so one worker starts it once per session.
Subprocesses run in their own process groups and are killed in teardown.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import duckdb
import polars as pl
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import FlowRun
from prefect.exceptions import ObjectNotFound

from schemas.sources import SOURCES
from warehouse.demo_inbox import write_demo
from warehouse.state_paths import StatePaths

BIRTHREC = Path(sys.executable).with_name("birthrec")
TEST_KEY = "birthrec-flow-tests-key"  # the same pseudonyms in every warehouse compared here
FLOW_BIRTHS = 300
FLOW_SEED = 20140301
# Extracts from these dates on are left out.
FLOW_CUTOFF = {"*": "20130901", "gongan": "20130601"}
SILENT_SOURCE = "gongan"
SERVER_WAIT_S = 240.0
RUN_WAIT_S = 300.0
# Columns that say when a run happened, not what it published.
TIMING_COLUMNS = {"started_at", "finished_at"}
DEPLOYMENT = "birthrec-nightly/nightly"


def birthrec_env(api_url: str | None) -> dict[str, str]:
    """The environment of a site: no Prefect settings of this test process, a fixed key."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")}
    env.update({"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "BIRTHREC_PSEUDONYM_KEY": TEST_KEY, "PREFECT_RUNNER_POLL_FREQUENCY": "1",
                "PREFECT_LOGGING_LEVEL": "INFO"})
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def start_birthrec(args: list[str], env: dict[str, str], log_dir: Path, name: str
                   ) -> subprocess.Popen[bytes]:
    """A birthrec command in its own process group, stdout and stderr to files."""
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / f"{name}.out").open("wb") as out, (log_dir / f"{name}.err").open("wb") as err:
        return subprocess.Popen([str(BIRTHREC), *args], env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def kill_group(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


def last_json_line(path: Path) -> dict[str, object]:
    lines = path.read_text(encoding="utf-8").strip().splitlines()
    return json.loads(lines[-1]) if lines else {}


def published_tables(warehouse: Path) -> dict[str, pl.DataFrame]:
    """Every published table, timing columns dropped, rows in a canonical order."""
    with duckdb.connect(str(warehouse), read_only=True) as reader:
        names = [row[0] for row in reader.execute("SHOW TABLES").fetchall()]
        tables = {}
        for name in names:
            frame = reader.sql(f"SELECT * FROM {name}").pl()
            frame = frame.drop([c for c in frame.columns if c in TIMING_COLUMNS])
            tables[name] = frame.sort(frame.columns, nulls_last=True)
    return tables


def wait_for(condition: Callable[[], object], timeout_s: float, what: str,
             interval_s: float = 0.2) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@pytest.fixture(scope="session")
def flow_inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated inbox cut to its first months (~20 files: each file costs a run ~0.25 s),
    公安's cut three months earlier, so every run warns that 公安 has gone silent."""
    out = tmp_path_factory.mktemp("flow-demo")
    write_demo(out, births=FLOW_BIRTHS, seed=FLOW_SEED)
    for path in (out / "inbox").glob("*/*_*"):
        source = path.parent.name
        if source in SOURCES and path.name.split("_")[1][:8] >= FLOW_CUTOFF.get(
                source, FLOW_CUTOFF["*"]):
            path.unlink()
    return out / "inbox"


@dataclass(frozen=True)
class Served:
    """`birthrec serve` running, and the local Prefect server it started."""

    api_url: str
    warehouse: Path
    process: subprocess.Popen[bytes]
    server_pid: int
    logs: Path
    clean_run_id: UUID  # triggered at once, so it runs while other tests start theirs


@pytest.fixture(scope="session")
def served(flow_inbox: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`birthrec serve` with no PREFECT_API_URL: it starts and owns the session's server."""
    root = tmp_path_factory.mktemp("served")
    warehouse = root / "warehouse.duckdb"
    process = start_birthrec(["serve", "--inbox", str(flow_inbox), "--warehouse", str(warehouse)],
                             birthrec_env(None), root / "logs", "serve")
    server_file = StatePaths(warehouse).prefect_home / "server.json"
    try:
        def server_ready() -> dict[str, object] | None:
            assert process.poll() is None, (root / "logs" / "serve.err").read_text()
            if not server_file.exists():
                return None
            recorded = json.loads(server_file.read_text())
            err = (root / "logs" / "serve.err").read_text(errors="replace")
            return recorded if "Prefect API" in err else None

        recorded = wait_for(server_ready, SERVER_WAIT_S, "birthrec serve's Prefect server")
        assert isinstance(recorded, dict)

        def deployment_registered() -> bool:
            assert process.poll() is None, (root / "logs" / "serve.err").read_text()
            with SyncPrefectClient(str(recorded["api_url"])) as client:
                try:
                    return bool(client.read_deployment_by_name(DEPLOYMENT))
                except ObjectNotFound:
                    return False

        wait_for(deployment_registered, SERVER_WAIT_S, "the nightly deployment", 0.5)
        with SyncPrefectClient(str(recorded["api_url"])) as client:
            clean_run = client.create_flow_run_from_deployment(
                client.read_deployment_by_name(DEPLOYMENT).id)
        yield Served(str(recorded["api_url"]), warehouse, process, int(recorded["pid"]),
                     root / "logs", clean_run.id)
    finally:
        kill_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            kill_group(process)
            process.wait()
        if server_file.exists():  # serve did not clean up: make sure nothing outlives us
            server_pid = int(json.loads(server_file.read_text())["pid"])
            try:
                os.killpg(server_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            raise AssertionError("birthrec serve left its Prefect server running")


@pytest.fixture(scope="session")
def clean_run(served: Served) -> FlowRun:
    """One run of the served deployment, triggered through the API, to completion: the
    reference a resumed run must equal."""
    with SyncPrefectClient(served.api_url) as client:

        def finished() -> FlowRun | None:
            run = client.read_flow_run(served.clean_run_id)
            return run if run.state is not None and run.state.is_final() else None

        done = wait_for(finished, RUN_WAIT_S, "the triggered nightly run", 0.5)
    assert isinstance(done, FlowRun)
    return done
