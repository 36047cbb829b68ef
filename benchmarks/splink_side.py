"""The Splink side of the linking benchmark: run only with benchmarks/.venv-splink/bin/python.

    benchmarks/.venv-splink/bin/python benchmarks/splink_side.py --records R.parquet --out DIR

Reads the records birthrec normalised (one row per record in use, `unique_id` =
`source:record_id`, `source_dataset` = department, ID columns already restricted to valid
numbers by birthrec's link_records), links them with Splink on DuckDB (dedupe_only over the
union of the four departments, u by random sampling, m by EM, term-frequency adjusted names),
and clusters the predictions twice: connected components at the threshold, and Splink's
single-best-link (one record per department per cluster). Writes each clustering as
`DIR/clusters-<method>.parquet` (unique_id, cluster_id) and the trained model as
`DIR/splink-model.json`; the last line on stdout is a JSON summary (timings, peak RSS,
candidate pairs). Scoring against the truth happens in the parent (bench_linking.py), with
birthrec's own evaluation code, so both sides are judged the same way.

This file is a benchmark only: birthrec never imports splink.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb
from splink import DuckDBAPI, Linker, SettingsCreator, block_on
from splink.blocking_rule_library import CustomRule
from splink.comparison_library import CustomComparison
from splink.internals.one_to_one_clustering import one_to_one_clustering
from splink.internals.pipeline import CTEPipeline

SOURCES = ("jisheng", "weisheng", "gongan", "minzheng")
# Splink's own tutorials use 1e6 to 1e7; birthrec samples 500k. SPLINK_U_MAX_PAIRS overrides.
U_MAX_PAIRS = float(os.environ.get("SPLINK_U_MAX_PAIRS", "1e7"))
U_SEED = 20130504
DETERMINISTIC_RECALL = 0.7  # a guess a user would make: exact IDs find most, not all, links
EM_MAX_PAIRS = 5e6  # Splink samples a training block down to about this many pairs
# EM sessions; each leaves the comparisons of its own columns to the others. A block on
# mother_id, the natural first choice, stops Splink 5.0.0: EM drives father_name's m for
# "different" to exactly 0.0 and Splink's own setter then raises ("m_probability value 0.0 is
# below the minimum allowed value of 1e-300").
EM_TRAINING_BLOCKS = (
    block_on("child_name_pinyin", "birth_date"),
    block_on("birth_cert_number"),
    block_on("mother_name_pinyin", "birth_date"),
    # The only one of these that leaves birth_date free with matches > 30 days apart in it:
    # without it, birth_date "different" keeps Splink's untrained default m.
    block_on("child_name_pinyin", "mother_name_pinyin"),
)

# The input: birthrec's link columns, with a column per derived blocking key.
INPUT_SQL = "CREATE TABLE records AS SELECT * FROM read_parquet(?)"


def level(sql: str, label: str, **extra: Any) -> dict[str, Any]:
    return {"sql_condition": sql, "label_for_charts": label, **extra}


def else_level(label: str) -> dict[str, Any]:
    return level("ELSE", label)


def id_comparison(name: str, column: str) -> CustomComparison:
    """exact (valid numbers) / one digit off or transposed (as written) / different / null,
    as birthrec's id_level: a failed check digit can be a near miss but never agreement."""
    valid, cleaned = column, f"{column}_cleaned"
    return CustomComparison(output_column_name=name, comparison_levels=[
        level(f"NOT (({valid}_l IS NOT NULL AND {valid}_r IS NOT NULL) OR "
              f"({cleaned}_l IS NOT NULL AND {cleaned}_r IS NOT NULL "
              f"AND {cleaned}_l <> {cleaned}_r))", "missing", is_null_level=True),
        level(f"{valid}_l = {valid}_r", "exact"),
        level(f"damerau_levenshtein({cleaned}_l, {cleaned}_r) <= 1",
              "one digit off or transposed"),
        else_level("different"),
    ])


def name_comparison(column: str, *, with_edit: bool = True,
                    term_frequency: bool = False) -> CustomComparison:
    """exact (term-frequency adjusted) / same pinyin / one character off / different."""
    pinyin = f"{column}_pinyin"
    exact_extra: dict[str, Any] = (
        {"tf_adjustment_column": column, "tf_adjustment_weight": 1.0} if term_frequency else {})
    levels = [
        level(f"{column}_l IS NULL OR {column}_r IS NULL", "missing", is_null_level=True),
        level(f"{column}_l = {column}_r", "exact", **exact_extra),
        level(f"{pinyin}_l = {pinyin}_r", "same pinyin"),
    ]
    if with_edit:
        levels.append(level(
            f"levenshtein({column}_l, {column}_r) <= 1 AND length({column}_l) >= 2 "
            f"AND length({column}_l) = length({column}_r)", "one character off"))
    levels.append(else_level("different"))
    return CustomComparison(output_column_name=column, comparison_levels=levels)


def exact_comparison(name: str, column: str) -> CustomComparison:
    """exact / different / null (Splink's ExactMatch, named as birthrec names it)."""
    return CustomComparison(output_column_name=name, comparison_levels=[
        level(f"{column}_l IS NULL OR {column}_r IS NULL", "missing", is_null_level=True),
        level(f"{column}_l = {column}_r", "exact"),
        else_level("different"),
    ])


def birth_date_comparison() -> CustomComparison:
    """exact / ±1 day / month and day swapped / within 30 days / different."""
    gap = "abs(date_diff('day', birth_date_l, birth_date_r))"
    return CustomComparison(output_column_name="birth_date", comparison_levels=[
        level("birth_date_l IS NULL OR birth_date_r IS NULL", "missing", is_null_level=True),
        level("birth_date_l = birth_date_r", "exact"),
        level(f"{gap} = 1", "±1 day"),
        level("year(birth_date_l) = year(birth_date_r) "
              "AND month(birth_date_l) = day(birth_date_r) "
              "AND day(birth_date_l) = month(birth_date_r)", "month/day swapped"),
        level(f"{gap} <= 30", "within 30 days"),
        else_level("different"),
    ])


def comparisons() -> list[CustomComparison]:
    """The twelve comparisons of birthrec's transforms/compare.py, level for level, under
    birthrec's names (bench_linking.py checks the names and level counts still agree)."""
    return [
        id_comparison("mother_id", "mother_id"),
        id_comparison("child_id", "child_id"),
        exact_comparison("birth_cert", "birth_cert_number"),
        name_comparison("mother_name", term_frequency=True),
        name_comparison("child_name", term_frequency=True),
        name_comparison("father_name", with_edit=False),
        exact_comparison("father_id", "father_id"),
        birth_date_comparison(),
        exact_comparison("township", "township_code"),
        exact_comparison("sex", "sex"),
        exact_comparison("birth_weight", "birth_weight_g"),
        exact_comparison("birth_order", "birth_order"),
    ]


def settings(blocking: list[dict[str, str]]) -> SettingsCreator:
    """dedupe_only over the four departments at once (a department may hold a child twice);
    `blocking`: birthrec's blocking rules as Splink SQL, written by bench_linking.py."""
    return SettingsCreator(
        link_type="dedupe_only",
        comparisons=comparisons(),
        blocking_rules_to_generate_predictions=[CustomRule(rule["sql"]) for rule in blocking],
        additional_columns_to_retain=["source_dataset"],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def train(linker: Linker) -> dict[str, float]:
    """Splink's usual recipe: the prior from deterministic rules, u from random pairs, m by
    EM over four training blocks (each leaves its own columns' m to the others)."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    linker.training.estimate_probability_two_random_records_match(
        [block_on("child_id"), block_on("birth_cert_number"),
         block_on("mother_id", "birth_date", "child_name")],
        recall=DETERMINISTIC_RECALL)
    seconds["prior"] = time.perf_counter() - started
    started = time.perf_counter()
    linker.training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=U_SEED)
    seconds["u"] = time.perf_counter() - started
    started = time.perf_counter()
    for rule in EM_TRAINING_BLOCKS:
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, max_pairs=EM_MAX_PAIRS)
    seconds["em"] = time.perf_counter() - started
    return seconds


def write_clusters(
    con: duckdb.DuckDBPyConnection, table: str, path: Path, id_column: str = "unique_id"
) -> None:
    con.execute(f"COPY (SELECT {id_column} AS unique_id, cluster_id FROM {table}) "
                f"TO '{path}' (FORMAT parquet)")


def cluster_single_best_links(db_api: DuckDBAPI, predictions: Any, threshold: float) -> Any:
    """Splink's single-best-link clustering, at most one record per department per cluster.

    Linker.clustering.cluster_using_single_best_links needs a source_dataset column, which
    Splink 5 drops in dedupe_only (it writes `None as source_dataset` and fails), so this
    builds the same nodes and edges tables the method builds and calls Splink's own
    one_to_one_clustering on them.
    """
    pipeline = CTEPipeline()
    pipeline.enqueue_sql("SELECT unique_id AS node_id, source_dataset FROM records",
                         "__bench_nodes")
    nodes = db_api.sql_pipeline_to_splink_dataframe(pipeline)
    pipeline = CTEPipeline([predictions])
    pipeline.enqueue_sql(
        "SELECT unique_id_l AS node_id_l, unique_id_r AS node_id_r, source_dataset_l, "
        f"source_dataset_r, match_probability FROM {predictions.physical_name}",
        "__bench_edges")
    edges = db_api.sql_pipeline_to_splink_dataframe(pipeline)
    return one_to_one_clustering(
        nodes_table=nodes, edges_table=edges, node_id_column_name="node_id",
        source_dataset_column_name="source_dataset", edge_id_column_name_left="node_id_l",
        edge_id_column_name_right="node_id_r", duplicate_free_datasets=list(SOURCES),
        ties_method="lowest_id", db_api=db_api, threshold_match_probability=threshold)


def peak_rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def run(records: Path, blocking: list[dict[str, str]], out: Path,
        threshold: float) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute(f"SET temp_directory = '{out / 'duckdb-tmp'}'")
    started = time.perf_counter()
    con.execute(INPUT_SQL, [str(records)])
    db_api = DuckDBAPI(con)
    linker = Linker(db_api.register("records"), settings(blocking), log_level=logging.INFO)
    seconds: dict[str, float] = {"load": time.perf_counter() - started}
    train_seconds = train(linker)
    seconds["train"] = sum(train_seconds.values())
    peak_after = {"train": peak_rss_mb()}

    started = time.perf_counter()
    blocked = linker.inference.compute_blocked_pairs_for_predict()
    per_rule = con.execute(
        f"SELECT CAST(match_key AS INTEGER), count(*) FROM {blocked.physical_name} "
        "GROUP BY 1 ORDER BY 1").fetchall()
    seconds["block"] = time.perf_counter() - started
    peak_after["block"] = peak_rss_mb()

    started = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    above = con.execute(f"SELECT count(*) FROM {predictions.physical_name}").fetchall()[0][0]
    seconds["predict"] = time.perf_counter() - started
    peak_after["predict"] = peak_rss_mb()

    started = time.perf_counter()
    components = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold)
    seconds["cluster_connected_components"] = time.perf_counter() - started
    peak_after["cluster_connected_components"] = peak_rss_mb()
    started = time.perf_counter()
    best = cluster_single_best_links(db_api, predictions, threshold)
    seconds["cluster_single_best_link"] = time.perf_counter() - started
    peak_after["cluster_single_best_link"] = peak_rss_mb()

    write_clusters(con, components.physical_name, out / "clusters-connected_components.parquet")
    write_clusters(con, best.physical_name, out / "clusters-single_best_link.parquet",
                   id_column="node_id")
    linker.misc.save_model_to_json(str(out / "splink-model.json"), overwrite=True)
    return {
        "versions": {"splink": version("splink"), "duckdb": duckdb.__version__},
        "threads": con.execute("SELECT current_setting('threads')").fetchall()[0][0],
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "train_seconds": {k: round(v, 2) for k, v in train_seconds.items()},
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_mb_after": peak_after,
        "candidate_pairs": sum(n for _, n in per_rule),
        "pairs_per_rule": {blocking[key]["name"]: n for key, n in per_rule},
        "comparisons": {c.create_output_column_name(): len(c.create_comparison_levels()) - 1
                        for c in comparisons()},
        "predictions_at_threshold": above,
        "threshold": threshold,
        "probability_two_random_records_match":
            linker._settings_obj._probability_two_random_records_match,
        "clusters": {
            "connected_components": str(out / "clusters-connected_components.parquet"),
            "single_best_link": str(out / "clusters-single_best_link.parquet"),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=Path, required=True)
    parser.add_argument("--blocking", type=Path, required=True,
                        help="JSON list of {name, sql}: birthrec's blocking rules for Splink")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threshold", type=float, default=0.5)
    args = parser.parse_args()
    blocking = json.loads(args.blocking.read_text())
    print(json.dumps(run(args.records, blocking, args.out, args.threshold)))


if __name__ == "__main__":
    sys.exit(main())
