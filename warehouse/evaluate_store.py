"""Read what `birthrec evaluate` compares: published links and a generator's ground truth."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl

from transforms.evaluate_links import evaluate_discrepancies, evaluate_links, link_errors
from transforms.normalise_ids import mask_id_number
from warehouse.state_paths import StatePaths
from warehouse.state_store import read_current_records

ERROR_FIELDS = ("child_name", "mother_name", "mother_id_number", "child_id_number",
                "birth_cert_number", "birth_date", "sex", "township_code")


def load_assignments(warehouse: Path, truth: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Records with their published person and their true child; and the true children."""
    with duckdb.connect(str(warehouse), read_only=True) as reader:
        published = reader.sql("SELECT source, record_id, person_id FROM person_source").pl()
    records = pl.read_csv(truth / "records.csv", infer_schema=False).select(
        "source", "record_id", "child_key")
    children = pl.read_csv(truth / "children.csv", infer_schema=False)
    assigned = published.join(records, on=["source", "record_id"]).with_row_index(
        "rec").with_columns(pl.col("rec").cast(pl.Int64))
    return assigned, children


def worst_errors(warehouse: Path, assigned: pl.DataFrame, limit: int) -> dict[str, list[dict]]:
    """False merges and missed links with field values (IDs masked) and the pair's weights."""
    false_merges, missed = link_errors(assigned)
    state = StatePaths(warehouse).state_db
    keyed = assigned.select("rec", (pl.col("source") + ":" + pl.col("record_id")).alias("key"))
    with duckdb.connect(str(state), read_only=True) as connection:
        read_current_records(connection)
        fields = connection.sql(
            "SELECT source || ':' || record_id AS key, " + ", ".join(ERROR_FIELDS)
            + " FROM records_in_use").pl().with_columns(
            mask_id_number(pl.col("mother_id_number")).alias("mother_id_number"),
            mask_id_number(pl.col("child_id_number")).alias("child_id_number"))
        pairs = connection.sql("SELECT * FROM link_pairs").pl()
    report: dict[str, list[dict]] = {}
    for name, errors in (("false_merges", false_merges), ("missed_links", missed)):
        rows = errors.join(keyed.rename({"rec": "rec_l", "key": "key_l"}), on="rec_l").join(
            keyed.rename({"rec": "rec_r", "key": "key_r"}), on="rec_r")
        both = pl.concat([
            rows.join(pairs, on=["key_l", "key_r"], how="left"),
            rows.join(pairs.rename({"key_l": "key_r", "key_r": "key_l"}),
                      on=["key_l", "key_r"], how="inner"),
        ], how="diagonal_relaxed").unique(["key_l", "key_r"], keep="last")
        ordered = both.sort("match_weight", descending=(name == "false_merges"),
                            nulls_last=True).head(limit)
        report[name] = [
            {"pair": row,
             "left": fields.filter(pl.col("key") == row["key_l"]).to_dicts(),
             "right": fields.filter(pl.col("key") == row["key_r"]).to_dicts()}
            for row in ordered.drop("rec_l", "rec_r").to_dicts()
        ]
    return report


def discrepancy_figures(warehouse: Path, truth: Path, assigned: pl.DataFrame) -> list[dict]:
    """Per injected problem kind: how many the register found (recall, precision)."""
    with duckdb.connect(str(warehouse), read_only=True) as reader:
        found = reader.sql("SELECT person_id, kind FROM discrepancy").pl()
    problems = pl.read_csv(truth / "problems.csv", infer_schema=False)
    return evaluate_discrepancies(found, assigned, problems).to_dicts()


def evaluate_warehouse(warehouse: Path, truth: Path, limit: int = 10) -> dict[str, object]:
    assigned, children = load_assignments(warehouse, truth)
    return {"figures": evaluate_links(assigned, children),
            "discrepancies": discrepancy_figures(warehouse, truth, assigned),
            "worst_errors": worst_errors(warehouse, assigned, limit)}
