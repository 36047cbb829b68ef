"""The review loop's step in the nightly flow: read officers' decision files before linking.

Kept out of nightly.py so the flow gains one call; the work is in warehouse/review_decisions.py.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb
from prefect import get_run_logger, task
from prefect.cache_policies import NONE

from warehouse.review_decisions import ReviewOutcome, ingest_review_decisions
from warehouse.state_paths import StatePaths


@task(cache_policy=NONE)
def ingest_decisions(
    connection: duckdb.DuckDBPyConnection, inbox: Path, paths: StatePaths, attempt: str
) -> ReviewOutcome:
    """Judge the decisions in new files of inbox/review/; linking then obeys those in force."""
    outcome = ingest_review_decisions(connection, inbox, paths.archive, attempt, datetime.now())
    logger = get_run_logger()
    if outcome.summary:
        logger.info("decisions: %s new file(s), %s accepted, %s rejected",
                    outcome.summary["files_in"], outcome.summary["accepted"],
                    outcome.summary["rejected"])
        for message in outcome.summary["rejections"]:  # type: ignore[attr-defined]
            logger.warning("%s", message)
    return outcome
