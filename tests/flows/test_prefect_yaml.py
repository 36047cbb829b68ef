"""prefect.yaml, for sites that deploy to their own server and work pool, names the real flow,
its real parameters and the Beijing-time schedule (checked with `prefect deploy` by hand)."""

from __future__ import annotations

import inspect
from pathlib import Path

import yaml

from flows.nightly import nightly_reconciliation
from flows.serve_nightly import DEFAULT_CRON, DEFAULT_TIMEZONE

ROOT = Path(__file__).resolve().parents[2]


def test_prefect_yaml_deploys_the_nightly_flow_at_2am_beijing() -> None:
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    (deployment,) = config["deployments"]
    path, function = deployment["entrypoint"].split(":")
    assert (ROOT / path).is_file() and function == nightly_reconciliation.fn.__name__
    declared = set(inspect.signature(nightly_reconciliation.fn).parameters)
    assert set(deployment["parameters"]) <= declared
    (schedule,) = deployment["schedules"]
    assert (schedule["cron"], schedule["timezone"]) == (DEFAULT_CRON, DEFAULT_TIMEZONE)
    assert config["prefect-version"] == "3.9.1"
