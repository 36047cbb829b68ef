"""`birthrec case ID`: one case in full and unmasked, from the restricted store, read-only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from flows.cli import app
from warehouse.case_detail import load_case_detail
from warehouse.read_only_state import StateBusyError, open_state_read_only
from warehouse.run_state import run_lock
from warehouse.state_paths import StatePaths

pytestmark = pytest.mark.xdist_group("officer_warehouse")
WIDE_TERMINAL = {"COLUMNS": "320"}
HOLD_STATE_OPEN = ("import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                   "print('open', flush=True); time.sleep(120)")


def one_case(warehouse: Path, kind: str) -> tuple[str, str, str]:
    """(discrepancy_id, source, record_id) of an open case of `kind` that has a record."""
    with duckdb.connect(str(warehouse), read_only=True) as reader:
        row = reader.execute(
            "SELECT discrepancy_id, source, record_id FROM discrepancy WHERE kind = ? "
            "AND status = 'open' AND record_id IS NOT NULL ORDER BY discrepancy_id LIMIT 1",
            [kind]).fetchone()
    assert row is not None, f"no open {kind} case in the generated warehouse"
    return row[0], row[1], row[2]


def raw_ids(warehouse: Path, source: str, record_id: str) -> tuple[str, str]:
    """The record's raw child and mother ID numbers, straight from the restricted store."""
    with duckdb.connect(str(StatePaths(warehouse).state_db), read_only=True) as state:
        row = state.execute(
            "SELECT child_id_number_raw, mother_id_number_raw FROM records_in_use "
            "WHERE source = ? AND record_id = ?", [source, record_id]).fetchone()
    assert row is not None
    return row[0], row[1]


def test_case_prints_every_record_unmasked(officer_warehouse: Path) -> None:
    case_id, source, record_id = one_case(officer_warehouse, "invalid_id")
    child_id, mother_id = raw_ids(officer_warehouse, source, record_id)
    result = CliRunner().invoke(app, ["case", case_id, "--warehouse", str(officer_warehouse)],
                                env=WIDE_TERMINAL)
    assert result.exit_code == 0, result.output
    for expected in (case_id, "身份证号无效", record_id, child_id, mother_id,
                     "该婴儿在各部门的全部记录", "婴儿身份证号（原文）"):
        assert expected in result.stdout, expected


def test_case_shows_the_links_between_the_childs_records(officer_warehouse: Path) -> None:
    case_id, _, _ = one_case(officer_warehouse, "sex_conflict")
    with open_state_read_only(officer_warehouse) as state:
        detail = load_case_detail(state, officer_warehouse, case_id)
    assert detail.records.get_column("person_id").n_unique() == 1
    assert detail.records.height >= 2 and detail.links.height >= 1
    keys = set(detail.records.select(
        detail.records.get_column("source") + ":" + detail.records.get_column("record_id")
    ).to_series())
    assert set(detail.links.get_column("key_l")) | set(detail.links.get_column("key_r")) <= keys
    result = CliRunner().invoke(app, ["case", case_id, "--warehouse", str(officer_warehouse)],
                                env=WIDE_TERMINAL)
    assert "性别不一致" in result.stdout and "母亲身份证号" in result.stdout
    assert "（+" in result.stdout  # a level with its weight


def test_shared_id_case_shows_the_other_child_too(officer_warehouse: Path) -> None:
    case_id, _, _ = one_case(officer_warehouse, "shared_id")
    with open_state_read_only(officer_warehouse) as state:
        detail = load_case_detail(state, officer_warehouse, case_id)
    assert detail.records.get_column("person_id").n_unique() == 2


def test_unknown_case_fails_with_a_chinese_and_english_message(officer_warehouse: Path) -> None:
    result = CliRunner().invoke(app, ["case", "Dnosuchcase", "--warehouse",
                                      str(officer_warehouse)])
    assert result.exit_code == 1
    assert "未找到案件 Dnosuchcase" in result.output and "No case Dnosuchcase" in result.output


def test_case_is_refused_while_a_run_holds_the_lock(officer_warehouse: Path) -> None:
    case_id, _, _ = one_case(officer_warehouse, "invalid_id")
    with run_lock(StatePaths(officer_warehouse).lock_file):
        result = CliRunner().invoke(app, ["case", case_id, "--warehouse",
                                          str(officer_warehouse)])
        with pytest.raises(StateBusyError):
            open_state_read_only(officer_warehouse)
    assert result.exit_code == 1
    assert "核对任务正在运行" in result.output and "run holds the state" in result.output


def test_case_is_refused_while_another_process_holds_the_state_open(
    officer_warehouse: Path
) -> None:
    """A run that has the state open read-write but (somehow) no lock: DuckDB refuses."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_STATE_OPEN, str(StatePaths(officer_warehouse).state_db)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(StateBusyError, match="try again when it finishes"):
            open_state_read_only(officer_warehouse)
    finally:
        holder.kill()
        holder.wait()


def test_case_without_a_warehouse_says_to_run_first(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["case", "D1", "--warehouse",
                                      str(tmp_path / "none.duckdb")])
    assert result.exit_code == 1
    assert "请先运行 birthrec run" in result.output and "run `birthrec run` first" in result.output
