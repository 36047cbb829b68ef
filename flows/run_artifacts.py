"""The run's Prefect artifacts (markdown summary and tables) and its warning event.

A site's notifications hang on these: an automation on the event `birthrec.run.warned`
(or on the flow run entering Failed/Crashed) sends through a notification block
(docs/operations.md). Counts, codes and file names only: no ID number reaches Prefect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.events import emit_event

from transforms.summarise_run import (
    RunHeadlines,
    discrepancy_rows,
    indicator_rows,
    render_run_markdown,
    sex_ratio_rows,
)

WARNED_EVENT = "birthrec.run.warned"


def warehouse_resource(warehouse: Path) -> dict[str, str]:
    """The Prefect event resource naming one warehouse (automations filter on it)."""
    return {"prefect.resource.id": f"birthrec.warehouse.{warehouse}",
            "prefect.resource.name": warehouse.name}


def publish_run_artifacts(
    summary: Mapping[str, object],
    warnings: Sequence[Mapping[str, object]],
    headlines: RunHeadlines | None,
    files: Sequence[Mapping[str, object]],
) -> None:
    """Markdown summary plus tables; an artifact the API refuses never fails the run."""
    artifacts = [
        ("markdown", "birthrec-run-summary", render_run_markdown(summary, warnings, headlines),
         "Nightly run: inputs, warnings, sex ratio, indicators, discrepancies"),
        ("table", "birthrec-run-files", list(files), "Files this run: rows read, used, "
         "quarantined"),
    ]
    if warnings:
        artifacts.append(("table", "birthrec-run-warnings", list(warnings), "Run warnings"))
    if headlines is not None:
        artifacts += [
            ("table", "birthrec-discrepancies", discrepancy_rows(headlines),
             "Discrepancies by kind and status"),
            ("table", "birthrec-sex-ratio", sex_ratio_rows(headlines),
             "Sex ratio at birth by source, Wilson 95% interval"),
            ("table", "birthrec-indicators", indicator_rows(headlines),
             "Registration indicators against targets"),
        ]
    for kind, key, content, description in artifacts:
        try:
            if kind == "markdown":
                create_markdown_artifact(str(content), key=key, description=description)
            elif content:
                create_table_artifact(content, key=key, description=description)  # type: ignore[arg-type]
        except Exception as error:  # artifacts are for people; the run's outcome stands
            get_run_logger().warning("artifact %s not stored: %s", key, error)


def announce_warnings(warehouse: Path, run_id: str | None,
                      warnings: Sequence[Mapping[str, object]]) -> None:
    """Emit `birthrec.run.warned` so a site's automation can notify someone."""
    if not warnings:
        return
    try:
        emit_event(event=WARNED_EVENT, resource=warehouse_resource(warehouse),
                   payload={"run_id": run_id, "warnings": list(warnings)})
    except Exception as error:
        get_run_logger().warning("event %s not emitted: %s", WARNED_EVENT, error)
