"""A local Prefect server for `birthrec serve` when no PREFECT_API_URL is set.

Scheduling needs a real server (the temporary one a flow process starts cannot schedule).
It runs `prefect server start` offline, analytics and UI off, with its home and SQLite
database in the warehouse's state folder, on a free loopback port, in its own process group
(so Ctrl-C in the terminal reaches birthrec, which stops it, and not the server directly).
`FILE.state/prefect/server.json` names it while it runs, so `birthrec run` and
`birthrec status` on the same warehouse use it instead of opening its database a second time.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

SERVER_FILE = "server.json"
SERVER_LOG = "server.log"
# A first start migrates a fresh SQLite database: ~15 s here, more on a slow machine.
STARTUP_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 20.0
LOOPBACK = "127.0.0.1"


class ServerStartError(RuntimeError):
    """The local Prefect server did not become healthy."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def is_healthy(api_url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=timeout_s) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recorded_server(prefect_home: Path) -> str | None:
    """The API URL of a running local server of this warehouse, if one answers."""
    try:
        recorded = json.loads((prefect_home / SERVER_FILE).read_text())
    except (OSError, ValueError):
        return None
    url = recorded.get("api_url")
    return url if url and is_alive(int(recorded.get("pid", 0))) and is_healthy(url) else None


def stop_process_group(pid: int, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the group, then SIGKILL what is left after the timeout."""
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                break
        if not is_alive(pid):
            break
        time.sleep(0.2)
    with suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


def stop_orphaned_server(prefect_home: Path) -> None:
    """A server left by a `serve` that was killed outright: stop it before starting anew."""
    try:
        recorded = json.loads((prefect_home / SERVER_FILE).read_text())
    except (OSError, ValueError):
        return
    pid = int(recorded.get("pid", 0))
    if pid and is_alive(pid):
        stop_process_group(pid)
    (prefect_home / SERVER_FILE).unlink(missing_ok=True)


def server_environment(prefect_home: Path) -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items()
                   if name != "PREFECT_API_URL"}
    environment.update({
        "PREFECT_HOME": str(prefect_home),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
    })
    return environment


@contextmanager
def local_prefect_server(prefect_home: Path) -> Iterator[str]:
    """Start the server, wait until healthy, yield its API URL; stop it on the way out."""
    prefect_home.mkdir(parents=True, exist_ok=True)
    stop_orphaned_server(prefect_home)
    port = free_port()
    api_url = f"http://{LOOPBACK}:{port}/api"
    with (prefect_home / SERVER_LOG).open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", LOOPBACK,
             "--port", str(port), "--analytics-off", "--no-ui"],
            env=server_environment(prefect_home), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        (prefect_home / SERVER_FILE).write_text(json.dumps(
            {"api_url": api_url, "pid": process.pid, "started_by": os.getpid()}))
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not is_healthy(api_url):
            if process.poll() is not None:
                raise ServerStartError(
                    f"prefect server exited with status {process.returncode} before it was "
                    f"healthy; see {prefect_home / SERVER_LOG}")
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"prefect server not healthy after {STARTUP_TIMEOUT_S:.0f} s; see "
                    f"{prefect_home / SERVER_LOG}")
            time.sleep(0.5)
        yield api_url
    finally:
        stop_process_group(process.pid)
        with suppress(Exception):
            process.wait(timeout=5)
        (prefect_home / SERVER_FILE).unlink(missing_ok=True)
