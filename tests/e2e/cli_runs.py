"""Running `birthrec` as a user does, and reading what it published, for end-to-end tests."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import polars as pl
from typer.testing import CliRunner

from flows.cli import app
from schemas.published import PUBLISHED_TABLES


def run_cli(inbox: Path, warehouse: Path, command: str = "run") -> dict[str, object]:
    """`birthrec run` (or rebuild); it must succeed; returns its JSON summary line."""
    result = CliRunner().invoke(app, [command, "--inbox", str(inbox), "--warehouse",
                                      str(warehouse)])
    assert result.exit_code == 0, result.output
    summary: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return summary


def published(warehouse: Path) -> dict[str, pl.DataFrame]:
    """Every published table, read through a read-only connection as a reader would."""
    with duckdb.connect(str(warehouse), read_only=True) as reader:
        return {t.name: reader.sql(f"SELECT * FROM {t.name}").pl() for t in PUBLISHED_TABLES}
