"""The flow's last step: the officers' workbooks and the HTML report of the published run."""

from __future__ import annotations

import time
from pathlib import Path

import duckdb
from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from warehouse.errors import BirthrecError
from warehouse.run_reports import write_run_reports


@task(cache_policy=NONE)
def write_reports(connection: duckdb.DuckDBPyConnection, warehouse: Path, run_id: str
                  ) -> str | None:
    """Write the run's reports; returns their folder, or None when they could not be written.

    The tables are already published when this runs, so a report that fails is logged as
    an error and retried by the next run; it does not undo the night's publish.
    """
    logger = get_run_logger()
    started = time.perf_counter()
    try:
        reports = write_run_reports(connection, warehouse, run_id)
    except (BirthrecError, OSError, duckdb.Error) as error:
        logger.error("reports of %s not written: %s — the next run writes them", run_id, error)
        return None
    if reports.written:
        logger.info("reports: %d workbooks and the HTML report in %s (%.1f s)",
                    len(reports.workbooks), reports.folder, time.perf_counter() - started)
    return str(reports.folder)
