"""End to end: `birthrec run` on a generated inbox, twice, and the published tables checked
like dbt tests (keys unique, codes in their enums, counts adding up)."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from schemas.codes import QuarantineReason, Source
from schemas.published import PUBLISHED_TABLES
from tests.e2e.cli_runs import published, run_cli
from transforms.normalise_ids import is_id_number_check_digit_valid
from warehouse.state_paths import StatePaths

pytestmark = pytest.mark.usefixtures("prefect_harness")






@pytest.fixture(scope="module")
def first_run(generated: Path, tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, dict[str, object], dict[str, pl.DataFrame]]:
    warehouse = tmp_path_factory.mktemp("wh") / "warehouse.duckdb"
    summary = run_cli(generated / "inbox", warehouse)
    return warehouse, summary, published(warehouse)


def test_first_run_publishes(first_run: tuple[Path, dict[str, object],
                                              dict[str, pl.DataFrame]]) -> None:
    _, summary, tables = first_run
    assert summary["status"] == "published"
    assert tables["person_source"].height == summary["rows_in_use"]
    for name, frame in tables.items():
        if name == "run":  # the run log: one row per publish so far
            assert summary["run_id"] in frame.get_column("run_id").to_list()
        elif frame.height:
            assert frame.get_column("run_id").unique().to_list() == [summary["run_id"]], name


def test_every_latest_record_is_in_use_or_quarantined(
    generated: Path, first_run: tuple[Path, dict[str, object], dict[str, pl.DataFrame]]
) -> None:
    _, _, tables = first_run
    truth = pl.read_csv(generated / "truth" / "records.csv", infer_schema=False)
    files = pl.read_csv(generated / "truth" / "files.csv", infer_schema=False)
    rejected = files.filter(pl.col("fate") != "ingest").get_column("file")
    expected = truth.filter((pl.col("is_unusable") == "false")
                            & ~pl.col("file").is_in(rejected.implode()))
    in_use = tables["person_source"].select("source", "record_id")
    missing = expected.join(in_use, on=["source", "record_id"], how="anti")
    assert missing.height == 0, missing.head(10)
    unusable = truth.filter(pl.col("is_unusable") == "true").select(
        "file", pl.col("row_number").cast(pl.Int64))
    quarantined = tables["quarantine"].select("file", "row_number")
    assert unusable.join(quarantined, on=["file", "row_number"], how="anti").height == 0


def test_rejected_file_is_quarantined_whole_with_its_columns_named(
    generated: Path, first_run: tuple[Path, dict[str, object], dict[str, pl.DataFrame]]
) -> None:
    _, summary, tables = first_run
    files = pl.read_csv(generated / "truth" / "files.csv", infer_schema=False)
    for file in files.filter(pl.col("fate") == "reject_missing_columns").get_column("file"):
        row = tables["quarantine"].filter((pl.col("file") == file)
                                          & pl.col("row_number").is_null())
        assert row.get_column("reason").to_list() == [QuarantineReason.MISSING_COLUMNS.value]
        assert "missing required column" in row.get_column("detail")[0]
        assert file in summary["rejected_files"]  # type: ignore[operator]


def test_published_keys_are_unique_and_codes_known(
    first_run: tuple[Path, dict[str, object], dict[str, pl.DataFrame]]
) -> None:
    _, _, tables = first_run
    for table in PUBLISHED_TABLES:
        frame = tables[table.name]
        assert frame.select(table.key).is_duplicated().sum() == 0, table.name
        assert frame.height == frame.unique().height, table.name
    assert set(tables["person_source"]["source"]) <= {s.value for s in Source}
    assert set(tables["quarantine"]["reason"]) <= {r.value for r in QuarantineReason}
    assert set(tables["person"]["sex"].drop_nulls()) <= {1, 2}
    sex_ratio = tables["sex_ratio"]
    assert (sex_ratio["births"] == sex_ratio["males"] + sex_ratio["females"]).all()


def test_no_published_value_is_an_id_number(
    first_run: tuple[Path, dict[str, object], dict[str, pl.DataFrame]]
) -> None:
    _, _, tables = first_run
    for name, frame in tables.items():
        for column in frame.select(pl.col(pl.String)).columns:
            if column == "record_id":
                continue
            text = frame.get_column(column).drop_nulls()
            eighteen = pl.select(is_id_number_check_digit_valid(pl.lit(text))).to_series()
            old_form = pl.select(
                pl.lit(text).str.contains(r"^\d{15}$")
                & pl.lit(text).str.slice(6, 6).str.to_date("%y%m%d", strict=False).is_not_null()
            ).to_series()
            leaks = text.filter(eighteen | old_form)
            assert leaks.len() == 0, f"{name}.{column} holds ID numbers: {leaks.len()}"
            assert not text.str.contains(r"\d{6}\*+\d").any(), f"{name}.{column} masked IDs"


def test_every_published_column_is_declared_and_commented(
    first_run: tuple[Path, dict[str, object], dict[str, pl.DataFrame]]
) -> None:
    warehouse, _, _ = first_run
    with duckdb.connect(str(warehouse), read_only=True) as reader:
        columns = reader.sql(
            "SELECT table_name, column_name, comment FROM duckdb_columns() "
            "WHERE schema_name = 'main' AND NOT internal").pl()
    declared = {(t.name, c.name) for t in PUBLISHED_TABLES for c in t.columns}
    actual = set(columns.select("table_name", "column_name").iter_rows())
    assert actual == declared
    assert columns.filter(pl.col("comment").is_null() | (pl.col("comment") == "")).height == 0


def test_second_run_changes_nothing(
    generated: Path, first_run: tuple[Path, dict[str, object], dict[str, pl.DataFrame]]
) -> None:
    warehouse, summary, tables = first_run
    again = run_cli(generated / "inbox", warehouse)
    assert again["status"] == "unchanged"
    assert again["run_id"] == summary["run_id"]
    after = published(warehouse)
    for name, frame in tables.items():
        assert after[name].equals(frame), name


def test_same_bytes_under_another_name_change_nothing(
    generated: Path, first_run: tuple[Path, dict[str, object], dict[str, pl.DataFrame]],
    tmp_path: Path,
) -> None:
    warehouse, summary, _ = first_run
    inbox = tmp_path / "inbox"
    shutil.copytree(generated / "inbox", inbox)
    original = sorted((inbox / "weisheng").glob("*.csv"))[0]
    shutil.copy(original, original.with_name("weisheng_20991231.csv"))
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse, copy)
    shutil.copytree(StatePaths(warehouse).root, StatePaths(copy).root)
    again = run_cli(inbox, copy)
    assert again["status"] == "unchanged"
    assert again["run_id"] == summary["run_id"]


def test_state_keeps_raw_values_out_of_the_published_file(
    first_run: tuple[Path, dict[str, object], dict[str, pl.DataFrame]]
) -> None:
    warehouse, _, _ = first_run
    paths = StatePaths(warehouse)
    assert paths.restricted.stat().st_mode & 0o077 == 0
    assert paths.key_file.stat().st_mode & 0o077 == 0
    assert any(paths.archive.iterdir())


def test_department_sex_ratios_recompute_from_their_own_records(
    first_run: tuple[Path, dict[str, object], dict[str, pl.DataFrame]]
) -> None:
    _, _, tables = first_run
    own = tables["person_source"].filter(pl.col("source") != "minzheng").sort(
        "source", "person_id", "record_id").unique(["source", "person_id"], keep="first")
    expected = own.group_by("source").agg(
        (pl.col("sex") == 1).sum().cast(pl.Int64).alias("males"),
        (pl.col("sex") == 2).sum().cast(pl.Int64).alias("females"),
    ).sort("source")
    county = tables["sex_ratio"].filter(
        pl.col("township_code").is_null() & pl.col("birth_order").is_null()
        & (pl.col("period") == "all") & (pl.col("source") != "reconciled")
    ).select("source", "males", "females").sort("source")
    assert county.equals(expected)
    assert "minzheng" not in county["source"].to_list()


def test_reconciled_sex_ratio_holds_the_truth_within_its_interval(
    generated: Path, first_run: tuple[Path, dict[str, object], dict[str, pl.DataFrame]]
) -> None:
    _, _, tables = first_run
    children = pl.read_csv(generated / "truth" / "children.csv", infer_schema=False)
    males = (children["sex"] == "1").sum()
    females = (children["sex"] == "2").sum()
    true_ratio = 100 * males / females
    row = tables["sex_ratio"].filter(
        pl.col("township_code").is_null() & pl.col("birth_order").is_null()
        & (pl.col("period") == "all") & (pl.col("source") == "reconciled")).row(0, named=True)
    assert row["ci_low"] <= true_ratio <= row["ci_high"]
