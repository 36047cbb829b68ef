"""`birthrec serve`: register the nightly deployment with a Beijing-time schedule and serve it.

With PREFECT_API_URL set, the deployment goes to that server; otherwise a local server is
started in the warehouse's state folder for as long as `serve` runs (flows/local_server.py).
Runs execute in child processes of this one (Prefect's Runner), with the same environment.
Import this module only after flows.prefect_env.configure_prefect: Prefect reads its
settings on import.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from types import FrameType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flows.local_server import local_prefect_server
from warehouse.errors import RunLockedError
from warehouse.state_paths import StatePaths

DEPLOYMENT_NAME = "nightly"
DEFAULT_CRON = "0 2 * * *"
DEFAULT_TIMEZONE = "Asia/Shanghai"  # 02:00 Beijing time, not 02:00 UTC (STACK-NOTES.md)
SERVE_LOCK = "serve.lock"

logger = logging.getLogger("birthrec.serve")


def check_timezone(timezone: str) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValueError(f"--timezone {timezone!r} is not an IANA time zone such as "
                         f"{DEFAULT_TIMEZONE}") from error


@contextmanager
def serve_lock(paths: StatePaths) -> Iterator[None]:
    """One `serve` per warehouse: two would schedule every night twice."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with (paths.root / SERVE_LOCK).open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise RunLockedError(f"birthrec serve is already running for {paths.warehouse} "
                                 f"(lock {paths.root / SERVE_LOCK})") from error
        yield


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Until Prefect's Runner installs its own handler, SIGTERM unwinds like Ctrl-C, so the
    local server is stopped on the way out."""
    raise KeyboardInterrupt


def prefect_api(paths: StatePaths) -> AbstractContextManager[str]:
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        return nullcontext(configured)
    return local_prefect_server(paths.prefect_home)


def serve_nightly(inbox: Path, warehouse: Path, cron: str = DEFAULT_CRON,
                  timezone: str = DEFAULT_TIMEZONE, deployment_name: str = DEPLOYMENT_NAME
                  ) -> None:
    """Register the nightly deployment on the server and run its scheduled runs until stopped.

    Blocks; returns after Ctrl-C or SIGTERM, with the local server (if it started one)
    stopped.
    """
    check_timezone(timezone)
    paths = StatePaths(warehouse).create()
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    with serve_lock(paths):
        try:
            with prefect_api(paths) as api_url:
                os.environ["PREFECT_API_URL"] = api_url
                sys.stderr.write(f"birthrec serve: Prefect API {api_url}; nightly run "
                                 f"'{cron}' in {timezone}\n")
                sys.stderr.flush()
                register_and_serve(inbox, warehouse, cron, timezone, deployment_name)
        except KeyboardInterrupt:
            logger.info("birthrec serve stopped")


def register_and_serve(inbox: Path, warehouse: Path, cron: str, timezone: str,
                       deployment_name: str) -> None:
    from prefect import serve
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from flows.nightly import nightly_reconciliation

    deployment = nightly_reconciliation.to_deployment(
        name=deployment_name,
        schedules=[Cron(cron, timezone=timezone)],
        parameters={"inbox": str(inbox), "warehouse": str(warehouse)},
        description=f"birthrec nightly reconciliation of {inbox} into {warehouse}",
        tags=["birthrec"],
        # By module, so the runner imports the installed package whatever the cwd.
        entrypoint_type=EntrypointType.MODULE_PATH,
    )
    serve(deployment, print_starting_message=False)  # type: ignore[arg-type]
