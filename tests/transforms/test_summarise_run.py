"""The run's markdown summary: inputs, warnings, ratios with their intervals, indicators."""

from __future__ import annotations

import polars as pl

from transforms.summarise_run import RunHeadlines, discrepancy_rows, render_run_markdown

SUMMARY = {"status": "published", "run_id": "run-20140210-abc", "as_of": "2014-02-10",
           "files": {"files_in": 3, "files_rejected": 1, "files_duplicate": 0, "rows_in": 120,
                     "rows_quarantined": 4},
           "rows_in_use": 110, "rows_quarantined_total": 4, "persons": 60, "discrepancies": 7,
           "rejected_files": ["gongan/gongan_20130808.csv"]}
HEADLINES = RunHeadlines(
    discrepancies=pl.DataFrame({"kind": ["sex_conflict", "missing_in_gongan", "infant_death"],
                                "status": ["open", "open", "explained"],
                                "cases": [2, 4, 1]}),
    sex_ratios=pl.DataFrame({"source": ["weisheng", "reconciled"], "births": [58, 60],
                             "males": [31, 32], "females": [27, 28],
                             "ratio": [114.8, 114.3], "ci_low": [69.0, 69.5],
                             "ci_high": [190.1, 188.0]}),
    indicators=pl.DataFrame({"children": [60], "coverage": [0.97], "id_entry_rate": [0.5],
                             "accuracy": [None]}, schema_overrides={"accuracy": pl.Float64}),
)


def test_markdown_shows_inputs_warnings_ratios_and_targets() -> None:
    warnings = [{"kind": "department_silent", "message": "公安 (gongan) has sent nothing"}]
    text = render_run_markdown(SUMMARY, warnings, HEADLINES)
    assert "| files ingested | 3 |" in text and "`gongan/gongan_20130808.csv`" in text
    assert "**department_silent**: 公安 (gongan) has sent nothing" in text
    reconciled = text.index("- 核对后: 114.3 (95% CI 69.5-188.0), 60 births")
    assert reconciled < text.index("- 卫生: 114.8")  # the linked children first
    assert "| 覆盖率 coverage | 97.0% | 95% | yes |" in text
    assert "| 身份证录入率 ID entry rate | 50.0% | 95% | **no** |" in text
    assert "| 准确率 accuracy | — | 90% | **no** |" in text


def test_discrepancies_are_listed_largest_first_with_a_column_per_status() -> None:
    rows = discrepancy_rows(HEADLINES)
    assert [row["kind"] for row in rows] == ["missing_in_gongan", "sex_conflict", "infant_death"]
    assert rows[0] == {"kind": "missing_in_gongan", "label": "未落户", "explained": 0, "open": 4,
                       "total": 4}


def test_markdown_before_anything_is_published() -> None:
    text = render_run_markdown({**SUMMARY, "status": "failed"}, [], None)
    assert "## Warnings\n\nNone." in text and "Sex ratio" not in text
