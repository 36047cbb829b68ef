"""End to end: a night's new files are published by patching the previous publish, and every
patched table equals, row for row, what a whole reconciliation of the same state publishes.

The first night holds every department's files but its latest; the second night brings those.
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pytest

from schemas.published import PUBLISHED_TABLES
from tests.e2e.cli_runs import published, run_cli
from warehouse.patch_publish import patch_basis
from warehouse.publish_run import publish_run
from warehouse.read_reference import read_divisions
from warehouse.state_paths import StatePaths
from warehouse.state_store import open_state

pytestmark = pytest.mark.usefixtures("prefect_harness")
DEPARTMENTS = ("jisheng", "weisheng", "gongan", "minzheng")


def inbox_without_latest_files(inbox: Path, target: Path) -> list[str]:
    """A copy of `inbox` without each department's latest file; returns those left out."""
    shutil.copytree(inbox, target)
    held_back = []
    for department in DEPARTMENTS:
        latest = sorted((target / department).iterdir())[-1]
        held_back.append(latest.name)
        latest.unlink()
    return held_back


@pytest.fixture(scope="module")
def two_nights(generated: Path, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[Path, Path, dict[str, object], dict[str, object]]:
    """(inbox of the second night, warehouse, first summary, second summary)."""
    work = tmp_path_factory.mktemp("patched")
    inbox_without_latest_files(generated / "inbox", work / "first-inbox")
    warehouse = work / "warehouse.duckdb"
    first = run_cli(work / "first-inbox", warehouse)
    second = run_cli(generated / "inbox", warehouse)
    return generated / "inbox", warehouse, first, second


def test_the_first_night_builds_whole_and_the_second_patches(
        two_nights: tuple[Path, Path, dict[str, object], dict[str, object]]) -> None:
    _, _, first, second = two_nights
    assert (first["publish"], second["publish"]) == ("whole", "patched")
    assert second["persons"] > first["persons"]  # type: ignore[operator]


def whole_publish_of(warehouse: Path, inbox: Path, copy: Path) -> Path:
    """Publish the same run again from a copy of the state, every table built whole."""
    copy.mkdir()
    for path in warehouse.parent.iterdir():
        if path.name.startswith(warehouse.name) and not path.name.endswith(".reports"):
            (shutil.copytree if path.is_dir() else shutil.copy2)(path, copy / path.name)
    target = copy / warehouse.name
    with open_state(StatePaths(target).state_db) as state:
        run = state.sql("SELECT * FROM published_runs ORDER BY finished_at DESC LIMIT 1").pl()
        row = run.row(0, named=True)
        publish_run(state, target, row["run_id"], row, read_divisions(inbox)[0],
                    row["as_of"], may_patch=False)
    return target


def sorted_rows(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


def test_every_patched_table_equals_a_whole_publish(
        two_nights: tuple[Path, Path, dict[str, object], dict[str, object]],
        tmp_path: Path) -> None:
    inbox, warehouse, _, _ = two_nights
    patched = published(warehouse)
    whole = published(whole_publish_of(warehouse, inbox, tmp_path / "whole"))
    for table in PUBLISHED_TABLES:
        left, right = patched[table.name], whole[table.name]
        if table.name == "run":  # when it ran differs; what it published may not
            left, right = (f.drop("started_at", "finished_at") for f in (left, right))
        assert left.height > 0 or table.name in ("review_decision", "person_history")
        assert sorted_rows(left).equals(sorted_rows(right)), table.name


def test_a_run_killed_after_linking_is_published_by_the_next(
        two_nights: tuple[Path, Path, dict[str, object], dict[str, object]],
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Links stored by a run that died before publishing are not lost: the next run, which
    finds nothing new to link, still publishes the children they changed."""
    inbox, warehouse, _, second = two_nights
    work = tmp_path / "killed"
    first_inbox = tmp_path / "first-inbox"
    inbox_without_latest_files(inbox, first_inbox)
    run_cli(first_inbox, work / "warehouse.duckdb")

    import warehouse.publish_run as publishing

    def dies(*args: object, **kwargs: object) -> object:
        raise RuntimeError("killed before publishing")

    monkeypatch.setattr(publishing, "patch_published", dies)
    from typer.testing import CliRunner

    from flows.cli import app
    result = CliRunner().invoke(app, ["run", "--inbox", str(inbox), "--warehouse",
                                      str(work / "warehouse.duckdb")])
    assert result.exit_code != 0
    monkeypatch.undo()
    again = run_cli(inbox, work / "warehouse.duckdb")
    assert again["publish"] == "patched"
    assert again["persons"] == second["persons"]
    with duckdb.connect(str(work / "warehouse.duckdb"), read_only=True) as reader:
        in_use = reader.execute("SELECT count(*) FROM person_source").fetchall()[0][0]
    assert in_use == second["rows_in_use"]


def test_a_patch_is_refused_where_it_cannot_be_trusted(
        two_nights: tuple[Path, Path, dict[str, object], dict[str, object]],
        tmp_path: Path) -> None:
    """Whole publish instead: an as-of date before the last one, a warehouse file that is not
    the last publish, a full relink not yet published."""
    inbox, warehouse, _, second = two_nights
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in warehouse.parent.iterdir():
        if path.name.startswith(warehouse.name) and not path.name.endswith(".reports"):
            (shutil.copytree if path.is_dir() else shutil.copy2)(path, copy / path.name)
    target = copy / warehouse.name
    as_of = date.fromisoformat(str(second["as_of"]))
    with open_state(StatePaths(target).state_db) as state:
        assert patch_basis(state, target, as_of) == (second["run_id"], as_of)
        assert patch_basis(state, target, as_of + timedelta(days=1)) is not None
        assert patch_basis(state, target, as_of - timedelta(days=1)) is None
        with duckdb.connect(str(target)) as writer:  # the file is not what was published
            writer.execute("UPDATE label_source SET run_id = 'run-elsewhere'")
        assert patch_basis(state, target, as_of) is None
        assert patch_basis(state, copy / "missing.duckdb", as_of) is None
        state.execute("INSERT INTO unpublished_links VALUES (NULL, NULL, NULL, 'rebuild')")
        shutil.copy2(warehouse, target)
        assert patch_basis(state, target, as_of) is None
