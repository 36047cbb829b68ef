"""The HTML report's data, without a browser: its SQL run on a small real warehouse, the shaping
of the answers, and a page that cannot be broken out of by what the tables hold."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from schemas.published import PUBLISHED_TABLES
from warehouse.html_report import render_html_report, write_html_report
from warehouse.publish import publish_tables
from warehouse.report_data import read_report_data
from warehouse.state_paths import StatePaths

RUN_ID = "run-20140101-abc"
HOSTILE_NAME = "</script><img src=x onerror=alert(1)>镇"
POLARS_TYPES: dict[str, pl.DataType] = {
    "VARCHAR": pl.String(), "BIGINT": pl.Int64(), "DOUBLE": pl.Float64(), "TINYINT": pl.Int8(),
    "BOOLEAN": pl.Boolean(), "DATE": pl.Date(), "TIMESTAMP": pl.Datetime("us"),
}


def table_frame(name: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows of one published table, every declared column present and typed as declared."""
    table = next(t for t in PUBLISHED_TABLES if t.name == name)
    schema = {c.name: POLARS_TYPES[c.sql_type] for c in table.columns}
    return pl.DataFrame([{**row, "run_id": RUN_ID} for row in rows], schema=schema)


def ratio(source: str, township: str | None, period: str, males: int, females: int,
          birth_order: int | None = None) -> dict[str, Any]:
    """A sex_ratio row; the bounds need only be distinct numbers here."""
    value = 100 * males / females if females else None
    return {"source": source, "township_code": township, "birth_order": birth_order,
            "period": period, "births": males + females, "males": males, "females": females,
            "unknown_sex": 0, "ratio": value, "ci_low": 50.0 + males,
            "ci_high": 150.0 + males if females else None}


def kpi(township: str | None, coverage: float | None) -> dict[str, Any]:
    return {"township_code": township, "children": 10, "coverage": coverage,
            "id_entry_rate": 0.5, "accuracy": 0.95,
            "meets_coverage_target": None if coverage is None else coverage >= 0.95,
            "meets_id_entry_rate_target": False, "meets_accuracy_target": True}


@pytest.fixture(scope="module")
def small_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse published with hand-made rows, covering the edge cases the report meets."""
    frames = {t.name: table_frame(t.name, []) for t in PUBLISHED_TABLES}
    frames["sex_ratio"] = table_frame("sex_ratio", [
        ratio("reconciled", None, "all", 52, 48),
        ratio("jisheng", None, "all", 50, 45),
        ratio("reconciled", "450821101", "all", 30, 28),
        ratio("reconciled", "450821102", "all", 22, 20),
        ratio("reconciled", "unknown", "all", 3, 0),  # no girls: no ratio, no upper bound
        ratio("reconciled", None, "all", 20, 19, birth_order=1),  # one birth order: not drawn
        ratio("reconciled", None, "2013", 52, 48),
        ratio("reconciled", None, "2013-Q1", 52, 48),
        ratio("reconciled", None, "2013-01", 30, 25),
        ratio("reconciled", None, "2013-02", 22, 23),
        ratio("jisheng", None, "2013-02", 20, 20),  # jisheng has no January births
        ratio("reconciled", "450821101", "2013-01", 10, 9),  # a township's month: not drawn
    ])
    frames["person"] = table_frame("person", [
        {"person_id": "p1", "township_code": "450821101"},
        {"person_id": "p2", "township_code": "450821102"},
        {"person_id": "p3", "township_code": None},
    ])
    frames["discrepancy"] = table_frame("discrepancy", [
        {"discrepancy_id": f"d{i}", "person_id": person, "kind": kind, "source": "gongan",
         "status": status}
        for i, (person, kind, status) in enumerate([
            ("p1", "missing_in_gongan", "open"), ("p1", "late_registration", "open"),
            ("p2", "missing_in_gongan", "open"), ("p2", "missing_in_gongan", "explained"),
            ("p3", "sex_conflict", "resolved"), (None, "shared_id", "open"),
        ])
    ])
    frames["registration_kpi"] = table_frame("registration_kpi", [
        kpi("450821102", 0.9), kpi(None, 0.96), kpi("450821101", None)])
    frames["run"] = table_frame("run", [{
        "run_id": RUN_ID, "as_of": date(2014, 1, 1), "finished_at": datetime(2014, 1, 2, 3, 4, 5),
        "persons": 100, "rows_in_use": 290, "rows_quarantined": 3, "discrepancies": 6,
        "files_rejected": 1}])
    frames["label_source"] = table_frame("label_source", [
        {"code": "jisheng", "label": "计生"}, {"code": "gongan", "label": "公安"}])
    frames["label_kind"] = table_frame("label_kind", [
        {"code": "missing_in_gongan", "label": "未落户"},
        {"code": "late_registration", "label": "逾期落户"}])
    frames["label_township"] = table_frame("label_township", [
        {"code": "450821101", "label": "大安镇"}, {"code": "450821102", "label": HOSTILE_NAME}])
    warehouse = tmp_path_factory.mktemp("report_data") / "warehouse.duckdb"
    with duckdb.connect() as connection:
        publish_tables(connection, warehouse, {}, frames)
    return warehouse


@pytest.fixture(scope="module")
def data(small_warehouse: Path) -> dict[str, Any]:
    with duckdb.connect(str(small_warehouse), read_only=True) as reader:
        return read_report_data(reader)


def test_run_header_comes_from_the_published_run(data: dict[str, Any]) -> None:
    assert data["run"]["run_id"] == RUN_ID
    assert data["run"]["as_of"] == "2014-01-01"
    assert data["run"]["finished_at"] == "2014-01-02 03:04:05"


def test_department_ratios_are_the_county_cells_over_all_birth_orders(
        data: dict[str, Any]) -> None:
    rows = {row["source"]: row for row in data["ratio_by_source"]}
    assert list(rows) == ["reconciled", "jisheng"]  # sources without rows are left out
    assert rows["reconciled"]["births"] == 100 and rows["reconciled"]["ratio"] == 52 / 48 * 100
    assert rows["jisheng"]["label"] == "计生"


def test_township_ratios_put_the_county_first_and_unmapped_last(data: dict[str, Any]) -> None:
    rows = data["ratio_by_township"]["reconciled"]
    assert [row["township_code"] for row in rows] == [
        "county", "450821101", "450821102", "unknown"]
    assert [row["label"] for row in rows] == ["全县", "大安镇", HOSTILE_NAME, "乡镇未识别"]
    no_girls = rows[-1]
    assert no_girls["ratio"] is None and no_girls["ci_high"] is None
    assert data["ratio_by_township"]["gongan"] == []


def test_monthly_trend_fills_months_a_department_has_no_births_in(data: dict[str, Any]) -> None:
    monthly = data["monthly"]
    assert monthly["periods"] == ["2013-01", "2013-02"]  # no year, quarter or township cells
    assert monthly["births"]["reconciled"] == [55, 45]
    assert monthly["births"]["jisheng"] == [0, 40]
    assert [row["period"] for row in monthly["ratio"]] == ["2013-01", "2013-02"]


def test_discrepancies_by_kind_split_by_status_in_the_contract_order(
        data: dict[str, Any]) -> None:
    by_kind = {row["kind"]: row for row in data["discrepancy_by_kind"]}
    assert list(by_kind) == ["sex_conflict", "missing_in_gongan", "shared_id",
                             "late_registration"]
    assert by_kind["missing_in_gongan"] == {
        "kind": "missing_in_gongan", "label": "未落户", "open": 2, "explained": 1,
        "resolved": 0, "total": 3}
    assert by_kind["shared_id"]["label"] == "shared_id"  # no label published: the code shows


def test_open_discrepancies_by_township_matrix(data: dict[str, Any]) -> None:
    matrix = data["discrepancy_by_township"]
    assert [kind["kind"] for kind in matrix["kinds"]] == [
        "missing_in_gongan", "shared_id", "late_registration"]
    rows = {row["township_code"]: row for row in matrix["rows"]}
    assert list(rows) == ["450821101", "450821102", "none"]  # resolved p3 is not open
    assert rows["450821101"]["counts"] == [1, 0, 1] and rows["450821101"]["total"] == 2
    assert rows["none"]["label"] == "不涉及具体儿童" and rows["none"]["counts"] == [0, 1, 0]


def test_indicators_county_first_and_missing_rates_stay_null(data: dict[str, Any]) -> None:
    rows = data["kpi"]
    assert [row["township_code"] for row in rows] == ["county", "450821101", "450821102"]
    assert rows[1]["coverage"] is None and rows[1]["meets_coverage_target"] is None
    assert rows[2]["coverage"] == 0.9 and rows[2]["meets_coverage_target"] is False
    assert data["targets"] == {"coverage": 0.95, "id_entry_rate": 0.95, "accuracy": 0.90}


def embedded_data(page: str) -> dict[str, Any]:
    block = re.search(r'<script type="application/json" id="report-data">(.*?)</script>',
                      page, re.S)
    assert block is not None
    return json.loads(block.group(1))  # type: ignore[no-any-return]


def test_table_text_cannot_close_the_data_block(data: dict[str, Any]) -> None:
    page = render_html_report(data, "warehouse.duckdb")
    assert HOSTILE_NAME not in page
    assert page.count("</script>") == 2  # the data block's and the script's own
    assert embedded_data(page) == json.loads(json.dumps(data))


def test_page_allows_only_its_own_script_and_style(data: dict[str, Any]) -> None:
    page = render_html_report(data, "warehouse.duckdb")
    found = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page)
    assert found is not None
    policy = html.unescape(found.group(1))
    assert "default-src 'none'" in policy
    script = re.findall(r"<script>(.*?)</script>", page, re.S)
    style = re.findall(r"<style>(.*?)</style>", page, re.S)
    for inline in (script[0], style[0]):
        digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy


def test_report_goes_beside_the_warehouse_by_run(small_warehouse: Path) -> None:
    page = write_html_report(small_warehouse)
    assert page == StatePaths(small_warehouse).reports / RUN_ID / "report.html"
    assert embedded_data(page.read_text(encoding="utf-8"))["run"]["run_id"] == RUN_ID
