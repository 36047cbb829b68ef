"""The demo's human summary of a run's JSON line."""

from __future__ import annotations

from flows.show_summary import render_summary


def test_the_summary_says_where_the_warehouse_and_the_reports_are() -> None:
    text = render_summary({
        "status": "published", "run_id": "run-20140210-abc", "as_of": "2014-02-10",
        "files": {"files_in": 3, "files_rejected": 1, "files_duplicate": 0, "rows_in": 10},
        "rows_in_use": 9, "rows_superseded": 0, "rows_quarantined_total": 1, "persons": 4,
        "discrepancies": 2, "warehouse": "/w/warehouse.duckdb",
        "reports": "/w/warehouse.duckdb.reports/run-20140210-abc",
        "warnings": [{"code": "department_silent", "message": "公安 sent nothing for 40 days"}],
    })
    assert "duckdb -readonly /w/warehouse.duckdb" in text
    assert "reports      /w/warehouse.duckdb.reports/run-20140210-abc" in text
    assert "warning      公安 sent nothing for 40 days" in text


def test_a_failed_run_shows_its_error() -> None:
    assert "error        boom" in render_summary({"status": "failed", "error": "boom"})
