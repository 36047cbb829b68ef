"""The reports of one published run: the officers' workbooks and the HTML page, together.

Written after the publish, beside the warehouse (FILE.reports/<run_id>/). A marker file
says the set is complete, so a run killed while writing them writes them again on its next
start (which finds nothing new to publish), and a finished set is never rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from warehouse.html_report import write_html_report
from warehouse.officer_workbook import write_officer_workbooks
from warehouse.state_paths import StatePaths

REPORTS_DONE = ".complete"


@dataclass(frozen=True)
class RunReports:
    """Where one run's reports are, and whether this call wrote them."""

    folder: Path
    html: Path
    workbooks: list[Path]
    written: bool


def write_run_reports(state: duckdb.DuckDBPyConnection, warehouse: Path, run_id: str
                      ) -> RunReports:
    """Write the HTML report and every workbook of `run_id` unless a complete set exists."""
    folder = StatePaths(warehouse).reports / run_id
    html = folder / "report.html"
    if (folder / REPORTS_DONE).exists():
        return RunReports(folder, html, sorted(folder.glob("*.xlsx")), written=False)
    folder.mkdir(parents=True, exist_ok=True)
    write_html_report(warehouse, html)
    workbooks = write_officer_workbooks(state, warehouse, run_id, folder)
    (folder / REPORTS_DONE).write_text(run_id + "\n", encoding="utf-8")
    return RunReports(folder, html, workbooks, written=True)
