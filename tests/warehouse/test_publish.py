"""Publishing is atomic: readers are never refused, never see two runs, and a publish killed
half-way leaves the previous one intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import polars as pl

from schemas.published import PUBLISHED_TABLES
from warehouse.publish import building_path, publish_tables

ROOT = Path(__file__).resolve().parents[2]
ROWS_PER_TABLE = 2000


def frames_for(run_id: str, rows: int = ROWS_PER_TABLE) -> dict[str, pl.DataFrame]:
    """Every published table filled with `rows` rows of run `run_id` (other columns null)."""
    frames = {}
    for table in PUBLISHED_TABLES:
        columns = {c.name: pl.repeat(None, rows, dtype=pl.String, eager=True)
                   for c in table.columns}
        columns["run_id"] = pl.repeat(run_id, rows, eager=True)
        frames[table.name] = pl.DataFrame(columns)
    return frames


def publish(warehouse: Path, run_id: str) -> None:
    with duckdb.connect() as connection:
        publish_tables(connection, warehouse, {}, frames_for(run_id))


READER = textwrap.dedent("""
    import json, sys, time, duckdb
    path, seconds = sys.argv[1], float(sys.argv[2])
    tables = sys.argv[3].split(",")
    refused, mixed, reads, seen = 0, 0, 0, set()
    end = time.time() + seconds
    while time.time() < end:
        try:
            with duckdb.connect(path, read_only=True) as c:
                ids = set()
                for t in tables:
                    ids |= {r[0] for r in c.execute(f"SELECT DISTINCT run_id FROM {t}").fetchall()}
                reads += 1
                seen |= ids
                mixed += len(ids) > 1
        except duckdb.Error as error:
            refused += 1
            print(repr(error), file=sys.stderr)
    print(json.dumps({"refused": refused, "mixed": mixed, "reads": reads,
                      "seen": sorted(seen)}))
""")


def test_reader_is_never_refused_and_never_sees_two_runs(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    publish(warehouse, "run-0")
    tables = ",".join(t.name for t in PUBLISHED_TABLES if t.name != "run")
    reader = subprocess.Popen([sys.executable, "-c", READER, str(warehouse), "12", tables],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    for n in range(1, 6):
        publish(warehouse, f"run-{n}")
        time.sleep(0.5)
    out, err = reader.communicate(timeout=60)
    result = json.loads(out.strip().splitlines()[-1])
    assert result["refused"] == 0, err
    assert result["mixed"] == 0
    assert result["reads"] > 10
    assert len(result["seen"]) > 1  # the reader did see publishes happen


KILLER = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, sys.argv[3])
    import duckdb
    import warehouse.publish as publish
    from tests.warehouse.test_publish import frames_for
    original = publish.insert_published_sql
    def insert_then_die(table, query, schema="pub"):
        if table.name == "sex_ratio":
            os.kill(os.getpid(), signal.SIGKILL)
        return original(table, query, schema)
    publish.insert_published_sql = insert_then_die
    with duckdb.connect() as connection:
        publish.publish_tables(connection, publish.Path(sys.argv[1]), {}, frames_for(sys.argv[2]))
""")


def test_publish_killed_half_way_leaves_previous_publish_intact(tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    publish(warehouse, "run-a")
    before = warehouse.read_bytes()
    killed = subprocess.run([sys.executable, "-c", KILLER, str(warehouse), "run-b", str(ROOT)],
                            capture_output=True, text=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert building_path(warehouse).exists()  # the half-built file, never swapped in
    assert warehouse.read_bytes() == before
    with duckdb.connect(str(warehouse), read_only=True) as reader:
        for table in PUBLISHED_TABLES:
            ids = reader.execute(f"SELECT DISTINCT run_id FROM {table.name}").fetchall()
            assert ids == [("run-a",)], table.name
    publish(warehouse, "run-c")
    assert not building_path(warehouse).exists()
    with duckdb.connect(str(warehouse), read_only=True) as reader:
        assert reader.execute("SELECT DISTINCT run_id FROM person").fetchall() == [("run-c",)]
    assert os.stat(warehouse).st_size > 0
