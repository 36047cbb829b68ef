"""A small warehouse published by the real nightly flow, for the officers' workbook and
`birthrec case` tests: built once per test process, and only when a test asks for it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from schemas.gongan import GONGAN
from tests.transforms.canonical_rows import with_check_digit
from warehouse.demo_inbox import write_demo

OFFICER_BIRTHS = 300
OFFICER_SEED = 20140415


# A 公安 row without a record id, full of ID numbers: quarantined with its raw values, which
# the workbook must show masked (an ID even hides in the name column).
LEAKY_CHILD_ID = with_check_digit("45082120130101123")
LEAKY_MOTHER_ID_15 = "450821880101123"  # the old 15-digit form, a real date
LEAKY_NAME = f"张三{with_check_digit('45082119900101456')}"


def add_leaky_quarantine_file(inbox: Path, extract_date: date) -> Path:
    """A 公安 file whose only row is quarantined (no record id) and holds ID numbers."""
    values = {"record_id": "", "child_id_number": LEAKY_CHILD_ID, "child_name": LEAKY_NAME,
              "sex": "男", "birth_date": "2013-01-01", "township": "大安镇",
              "mother_name": "李四", "mother_id_number": LEAKY_MOTHER_ID_15}
    row = {c.header: values.get(c.name, "") for c in GONGAN.columns}
    path = inbox / "gongan" / f"gongan_{extract_date:%Y%m%d}_9.csv"
    pl.DataFrame([row]).write_csv(path)
    return path


@pytest.fixture(scope="session")
def officer_warehouse(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None) -> Path:
    """A generated inbox (plus one leaky quarantined row) run once through `birthrec run`."""
    root = tmp_path_factory.mktemp("officer")
    demo = write_demo(root / "demo", births=OFFICER_BIRTHS, seed=OFFICER_SEED)
    add_leaky_quarantine_file(demo.inbox_dir, demo.last_extract)
    warehouse = root / "warehouse.duckdb"
    result = CliRunner().invoke(app, ["run", "--inbox", str(demo.inbox_dir),
                                      "--warehouse", str(warehouse)])
    assert result.exit_code == 0, result.output
    return warehouse
