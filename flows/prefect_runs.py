"""What Prefect knows about this warehouse's nightly flow runs: tidy the ones a killed
process left RUNNING, and list the active ones for `birthrec status`.

A flow run belongs to a warehouse by its `warehouse` parameter, so several warehouses can
share one Prefect server without touching each other's runs.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.states import Crashed

NIGHTLY_FLOW_NAME = "birthrec-nightly"


def same_warehouse(flow_run: FlowRun, warehouse: Path) -> bool:
    named = flow_run.parameters.get("warehouse")
    return named is not None and Path(str(named)).resolve() == warehouse.resolve()


def prefect_client(api_url: str | None = None) -> SyncPrefectClient:
    """The configured client, or one for an explicit server (status reads a local one)."""
    return SyncPrefectClient(api_url) if api_url else get_client(sync_client=True)


def running_flow_runs(warehouse: Path, api_url: str | None = None) -> list[FlowRun]:
    """This warehouse's nightly flow runs that Prefect believes are RUNNING."""
    with prefect_client(api_url) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[NIGHTLY_FLOW_NAME])),
            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                type=FlowRunFilterStateType(any_=[StateType.RUNNING]))),
        )
    return [run for run in runs if same_warehouse(run, warehouse)]


def crash_stale_flow_runs(warehouse: Path, current: UUID | str | None) -> list[str]:
    """Mark this warehouse's RUNNING flow runs that started before the current one CRASHED.

    Called under the run lock: such a run cannot be alive (it would hold the lock), so it
    was killed; Prefect would show it RUNNING for ever (STACK-NOTES.md). A run that started
    after this one is left alone: it is about to be refused by the lock.
    """
    running = running_flow_runs(warehouse)
    started = {str(run.id): run.start_time for run in running}.get(str(current))
    stale = [run for run in running
             if str(run.id) != str(current) and (
                 started is None or run.start_time is None or run.start_time < started)]
    with get_client(sync_client=True) as client:
        for run in stale:
            client.set_flow_run_state(run.id, Crashed(
                message="birthrec: the process running this flow run was killed; the next "
                        "run found it still RUNNING and resumed from the stored files"),
                force=True)
    return [run.name for run in stale]
