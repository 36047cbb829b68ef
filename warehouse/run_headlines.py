"""The published headline figures of a run, read back from the published warehouse file
(read-only, like any reader) for the run's markdown summary and tables."""

from __future__ import annotations

from pathlib import Path

import duckdb

from transforms.indicators import REGISTRATION_TARGETS
from transforms.summarise_run import RECONCILED, RunHeadlines


def discrepancy_counts_sql() -> str:
    return "SELECT kind, status, count(*) AS cases FROM discrepancy GROUP BY ALL ORDER BY ALL"


def county_sex_ratios_sql() -> str:
    """Each source's ratio over every township, birth order and period."""
    return f"""
SELECT source, births, males, females, ratio, ci_low, ci_high FROM sex_ratio
WHERE township_code IS NULL AND birth_order IS NULL AND period = 'all'
ORDER BY source = '{RECONCILED}' DESC, source"""


def county_indicators_sql() -> str:
    return (f"SELECT children, {', '.join(REGISTRATION_TARGETS)} FROM registration_kpi "
            "WHERE township_code IS NULL")


def read_run_headlines(warehouse: Path) -> RunHeadlines | None:
    """None when nothing is published yet."""
    if not warehouse.exists():
        return None
    with duckdb.connect(str(warehouse), read_only=True) as reader:
        return RunHeadlines(
            discrepancies=reader.sql(discrepancy_counts_sql()).pl(),
            sex_ratios=reader.sql(county_sex_ratios_sql()).pl(),
            indicators=reader.sql(county_indicators_sql()).pl(),
        )
