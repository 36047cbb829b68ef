"""Prefect's environment for a birthrec process: offline, quiet, state beside the warehouse.

Must run before prefect is imported: Prefect reads its settings at import time.
"""

from __future__ import annotations

import os
from pathlib import Path

# Prefect's temporary local server took ~15 s to start on a fresh database here, against a
# default 20 s timeout (STACK-NOTES.md); a slow CI machine needs room.
EPHEMERAL_STARTUP_TIMEOUT_SECONDS = "180"


def configure_prefect(prefect_home: Path) -> None:
    """Point Prefect at the state folder and switch off telemetry and analytics."""
    prefect_home.mkdir(parents=True, exist_ok=True)
    settings = {
        "PREFECT_HOME": str(prefect_home),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        "PREFECT_RESULTS_LOCAL_STORAGE_PATH": str(prefect_home / "results"),
        "PREFECT_UI_ENABLED": "false",
    }
    for name, value in settings.items():
        if name == "PREFECT_HOME" or name not in os.environ:
            os.environ[name] = value
