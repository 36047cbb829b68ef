"""`birthrec serve`: the nightly deployment on its own local Prefect server, at 02:00 Beijing
time, and a triggered run of it that completes and publishes."""

from __future__ import annotations

from datetime import time as clock
from zoneinfo import ZoneInfo

import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun
from prefect.events import Event
from prefect.events.filters import EventFilter, EventNameFilter

from flows.run_artifacts import WARNED_EVENT
from tests.flows.conftest import DEPLOYMENT, SILENT_SOURCE, Served, published_tables, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("prefect_server")]

BEIJING = ZoneInfo("Asia/Shanghai")


def test_serve_registers_nightly_deployment_at_2am_beijing(served: Served) -> None:
    with SyncPrefectClient(served.api_url) as client:
        deployment = client.read_deployment_by_name(DEPLOYMENT)
        (schedule,) = deployment.schedules
        assert schedule.schedule.cron == "0 2 * * *"  # type: ignore[union-attr]
        assert schedule.schedule.timezone == "Asia/Shanghai"  # type: ignore[union-attr]
        assert schedule.active
        assert deployment.entrypoint == "flows.nightly.nightly_reconciliation"
        assert deployment.parameters["warehouse"] == str(served.warehouse)

        def scheduled() -> list[FlowRun]:
            runs = client.read_flow_runs(deployment_filter=DeploymentFilter(
                id=DeploymentFilterId(any_=[deployment.id])))
            return [run for run in runs if run.state_type == "SCHEDULED"]

        runs = wait_for(scheduled, 60, "the server to schedule the nightly runs", 1.0)
    assert isinstance(runs, list)
    starts = [run.expected_start_time for run in runs]
    assert all(s is not None and s.astimezone(BEIJING).time() == clock(2, 0) for s in starts)
    assert {s.astimezone(ZoneInfo("UTC")).time() for s in starts if s} == {clock(18, 0)}


def test_triggered_deployment_run_completes_and_publishes(served: Served,
                                                          clean_run: FlowRun) -> None:
    assert clean_run.state is not None and clean_run.state.is_completed(), (
        clean_run.state, (served.logs / "serve.err").read_text(errors="replace")[-3000:])
    with SyncPrefectClient(served.api_url) as client:
        artifacts = {a.key: a for a in client.read_artifacts() if a.flow_run_id == clean_run.id}

        def warned() -> list[Event]:
            events = client.read_events(filter=EventFilter(event=EventNameFilter(
                name=[WARNED_EVENT])), limit=50).events  # the server allows 50, not 100
            return [event for event in events
                    if event.resource.id == f"birthrec.warehouse.{served.warehouse}"]

        (event,) = wait_for(warned, 60, "the warning event to be stored", 1.0)  # type: ignore[misc]
    assert {"birthrec-run-summary", "birthrec-run-files", "birthrec-sex-ratio",
            "birthrec-ingest", "birthrec-run", "birthrec-run-warnings"} <= set(artifacts)
    summary = str(artifacts["birthrec-run-summary"].data)
    assert "department_silent" in summary and "95% CI" in summary and "覆盖率" in summary
    assert [w["source"] for w in event.payload["warnings"]] == [SILENT_SOURCE]
    assert event.payload["run_id"] == published_tables(served.warehouse)["run"]["run_id"][0]
    tables = published_tables(served.warehouse)
    assert tables["person"].height > 0
    assert tables["run"].height == 1
