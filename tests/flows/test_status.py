"""`birthrec status`: last runs, outcome, warnings and what waits in the inbox; and nothing in
Prefect's logs or artifacts of a real run holds an ID number."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.objects import FlowRun

from flows.run_status import collect_status, render_status
from tests.flows.conftest import BIRTHREC, SILENT_SOURCE, Served, birthrec_env

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("prefect_server")]


def test_status_of_a_warehouse_never_run(tmp_path: Path, flow_inbox: Path) -> None:
    status = collect_status(tmp_path / "warehouse.duckdb", flow_inbox)
    assert status["run_active"] is False and status["published"] is None
    waiting = status["inbox_waiting"]
    assert isinstance(waiting, dict)
    assert set(waiting) == {"jisheng", "weisheng", "gongan", "minzheng"}
    assert "never run" in render_status(status)


def test_status_shows_last_run_and_files_waiting_by_department(
        served: Served, clean_run: FlowRun, flow_inbox: Path, tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    shutil.copytree(flow_inbox, inbox)
    new = inbox / "gongan" / "gongan_20130808.csv"
    new.write_bytes((inbox / "gongan" / "gongan_20130508.csv").read_bytes() + b"\n")
    (inbox / "weisheng" / "notes.txt").write_text("not a delivery name")
    (inbox / "jisheng" / "jisheng_20130703_copy.xlsx").write_bytes(  # known bytes, new name
        (inbox / "jisheng" / "jisheng_20130703.xlsx").read_bytes())

    status = collect_status(served.warehouse, inbox)

    assert status["run_active"] is False
    (last,) = status["runs"]  # type: ignore[misc]
    published = status["published"]
    assert isinstance(published, dict)
    assert last["status"] == "published" and last["run_id"] == published["run_id"]
    assert status["warnings"] == last["warnings"]
    assert [(w["kind"], w["source"]) for w in status["warnings"]] == [  # type: ignore[attr-defined]
        ("department_silent", SILENT_SOURCE)]
    assert status["inbox_waiting"] == {"gongan": ["gongan/gongan_20130808.csv"],
                                       "weisheng": ["weisheng/notes.txt"]}
    text = render_status(status)
    assert "run active   no" in text and "gongan: 1 waiting" in text
    assert "warning      公安 (gongan) has sent nothing for" in text
    assert str(published["run_id"]) in text


def test_status_command_ends_with_one_json_line(served: Served, clean_run: FlowRun,
                                                flow_inbox: Path) -> None:
    result = subprocess.run([str(BIRTHREC), "status", "--warehouse", str(served.warehouse),
                             "--inbox", str(flow_inbox), "--json"],
                            env=birthrec_env(None), capture_output=True, text=True, timeout=120,
                            check=True)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    status = json.loads(lines[0])
    assert status["inbox_waiting"] == {} and status["runs"][0]["status"] == "published"


def test_no_id_number_in_logs_or_artifacts(served: Served, clean_run: FlowRun,
                                           flow_inbox: Path) -> None:
    truth = pl.read_csv(flow_inbox.parent / "truth" / "children.csv", infer_schema=False)
    id_numbers = {value for column in ("child_id_number", "mother_id_number", "father_id_number")
                  for value in truth.get_column(column).drop_nulls().to_list()}
    assert len(id_numbers) > 100
    with SyncPrefectClient(served.api_url) as client:
        artifacts = [a for a in client.read_artifacts() if a.flow_run_id == clean_run.id]
        logs = client.read_logs()
    texts = [json.dumps(a.data, ensure_ascii=False) for a in artifacts]
    texts += [log.message for log in logs]
    texts.append((served.logs / "serve.err").read_text(errors="replace"))
    shown = "\n".join(texts)
    assert len(artifacts) >= 5 and len(logs) > 20
    leaked = [number for number in id_numbers if number in shown]
    assert leaked == []
