"""`birthrec status`: the last runs, their outcome and warnings, what waits in the inbox.

Safe while a run is active: it never takes the run lock, and reads the state read-only
without waiting. A run holds the state database open, so then it says the run is active and
shows what the lock file, the stored record files and Prefect know instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from flows.local_server import recorded_server
from warehouse.errors import StateLockedError
from warehouse.run_history import (
    inbox_waiting,
    read_published_run,
    read_state_for_status,
    stored_hashes_on_disk,
)
from warehouse.run_state import is_lock_held, read_lock_holder
from warehouse.state_paths import StatePaths


def prefect_view(paths: StatePaths, api_url: str | None = None) -> dict[str, object]:
    """This warehouse's RUNNING flow runs and their progress, when a server is reachable.

    Without one, asking would start Prefect's temporary server on the run's own database.
    """
    api_url = (api_url or os.environ.get("PREFECT_API_URL")
               or recorded_server(paths.prefect_home))
    if not api_url:
        return {"api_url": None, "note": "no Prefect server configured; the run's temporary "
                                          "server lives inside its own process"}
    try:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

        from flows.prefect_runs import prefect_client, running_flow_runs

        runs = []
        for run in running_flow_runs(paths.warehouse, api_url):
            with prefect_client(api_url) as client:
                artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))
            progress = {str(a.key): a.data for a in artifacts if a.type == "progress"}
            runs.append({"flow_run": run.name, "id": str(run.id),
                         "started": str(run.start_time), "progress_percent": progress})
        return {"api_url": api_url, "running": runs}
    except Exception as error:  # status must answer even when Prefect does not
        return {"api_url": api_url, "error": f"{type(error).__name__}: {error}"}


def collect_status(warehouse: Path, inbox: Path | None, runs: int = 5,
                   api_url: str | None = None) -> dict[str, object]:
    """Everything `status` shows, as one JSON-ready dict; `api_url` names a Prefect server
    to ask (default: PREFECT_API_URL, else `birthrec serve`'s for this warehouse)."""
    paths = StatePaths(warehouse)
    status: dict[str, object] = {"warehouse": str(warehouse), "state": str(paths.root)}
    if not paths.root.exists():
        status["run_active"] = False
        status["note"] = "no state folder: this warehouse has never run"
        status["published"] = None
        if inbox is not None:
            status["inbox_waiting"] = inbox_waiting(inbox, set())
        return status
    active = is_lock_held(paths.lock_file)
    status["run_active"] = active
    if active:
        status["lock"] = read_lock_holder(paths.lock_file)
    taken: set[str] = set()
    try:
        if paths.state_db.exists():
            status["runs"], taken = read_state_for_status(paths.state_db, runs)
    except StateLockedError:
        status["state_locked"] = True
        status["run_active"] = True
        status["lock"] = read_lock_holder(paths.lock_file)
        taken = stored_hashes_on_disk(paths.state_db)
    if status["run_active"]:
        status["prefect"] = prefect_view(paths, api_url)
    status["published"] = read_published_run(warehouse)
    last_finished = next((r for r in status.get("runs", [])  # type: ignore[attr-defined]
                          if r["status"] not in ("running",)), None)
    status["warnings"] = last_finished["warnings"] if last_finished else []
    if inbox is not None:
        status["inbox_waiting"] = inbox_waiting(inbox, taken)
    return status


def render_status(status: dict[str, object]) -> str:
    """Lines for a person at a terminal."""
    lines = [f"warehouse    {status['warehouse']}"]
    if status.get("note"):
        lines.append(f"note         {status['note']}")
    published = status.get("published")
    if isinstance(published, dict):
        lines.append(f"published    {published['run_id']} (as of {published['as_of']}, "
                     f"{published['persons']} persons, {published['discrepancies']} "
                     f"discrepancies, finished {published['finished_at']})")
    if status.get("run_active"):
        lock = status.get("lock") or {}
        assert isinstance(lock, dict)
        lines.append(f"run active   pid {lock.get('pid')} since {lock.get('started_at')} "
                     f"({lock.get('command')})")
        if status.get("state_locked"):
            lines.append("             the run holds the state database; inbox judged from "
                         "stored record files")
        prefect = status.get("prefect") or {}
        assert isinstance(prefect, dict)
        for run in prefect.get("running", []):
            lines.append(f"prefect      flow run {run['flow_run']} RUNNING since "
                         f"{run['started']}; progress {run['progress_percent']}")
        if prefect.get("note") or prefect.get("error"):
            lines.append(f"prefect      {prefect.get('note') or prefect.get('error')}")
    else:
        lines.append("run active   no")
    for run in status.get("runs", []):  # type: ignore[attr-defined]
        counts = run.get("files") or {}
        outcome = run["status"]
        if outcome == "running" and not status.get("run_active"):
            outcome = "running? (no process holds the lock: killed; the next run resumes it)"
        lines.append(f"run          {run['started_at']:%Y-%m-%d %H:%M} {outcome:<10} "
                     f"{run.get('run_id') or ''} files in {counts.get('files_in', '-')}, "
                     f"rows in {counts.get('rows_in', '-')}, warnings "
                     f"{len(run.get('warnings') or [])}"
                     + (f"; error: {run['error']}" if run.get("error") else ""))
    for warning in status.get("warnings", []):  # type: ignore[attr-defined]
        lines.append(f"warning      {warning['message']}")
    waiting = status.get("inbox_waiting")
    if isinstance(waiting, dict):
        if not waiting:
            lines.append("inbox        nothing waiting")
        for source, files in sorted(waiting.items()):
            shown = ", ".join(files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3
                                             else "")
            lines.append(f"inbox        {source}: {len(files)} waiting ({shown})")
    return "\n".join(lines)
