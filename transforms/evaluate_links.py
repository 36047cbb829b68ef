"""Evaluate links against a generator's ground truth: pairwise and B-cubed scores, twins.

Comes in: one row per record with its predicted `person_id` and its true `child_key`.
Goes out: the figures `birthrec evaluate` prints, and the pairs it got wrong.
"""

from __future__ import annotations

import polars as pl


def co_clustered_pairs(assigned: pl.DataFrame, by: str) -> pl.DataFrame:
    """Every pair of records (rec_l < rec_r) sharing a value of `by`."""
    side = assigned.select("rec", by)
    return side.join(side, on=by, suffix="_r").filter(pl.col("rec") < pl.col("rec_r")).select(
        pl.col("rec").alias("rec_l"), "rec_r")


def pairwise_scores(assigned: pl.DataFrame) -> dict[str, float]:
    """Precision, recall and F1 over record pairs placed together."""
    truth = co_clustered_pairs(assigned, "child_key")
    predicted = co_clustered_pairs(assigned, "person_id")
    hits = truth.join(predicted, on=["rec_l", "rec_r"]).height
    precision = hits / predicted.height if predicted.height else 1.0
    recall = hits / truth.height if truth.height else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"pairwise_precision": precision, "pairwise_recall": recall, "pairwise_f1": f1,
            "true_pairs": float(truth.height), "predicted_pairs": float(predicted.height)}


def bcubed_scores(assigned: pl.DataFrame) -> dict[str, float]:
    """B-cubed precision and recall: per record, the share of its cluster that is right."""
    overlap = assigned.group_by("person_id", "child_key").agg(pl.len().alias("both"))
    sized = overlap.join(assigned.group_by("person_id").agg(pl.len().alias("predicted")),
                         on="person_id").join(
        assigned.group_by("child_key").agg(pl.len().alias("true")), on="child_key")
    n = assigned.height
    precision = float((sized["both"] ** 2 / sized["predicted"]).sum()) / n
    recall = float((sized["both"] ** 2 / sized["true"]).sum()) / n
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"bcubed_precision": precision, "bcubed_recall": recall, "bcubed_f1": f1}


def twins_merged(assigned: pl.DataFrame, children: pl.DataFrame) -> int:
    """Twin pairs (true children sharing a twin group) that ended in one predicted person."""
    twins = children.filter(pl.col("twin_group").is_not_null()).select("child_key", "twin_group")
    persons = assigned.select("person_id", "child_key").unique().join(twins, on="child_key")
    return persons.group_by("twin_group", "person_id").agg(
        pl.col("child_key").n_unique().alias("children")).filter(
        pl.col("children") > 1).height


def link_errors(assigned: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(false merges, missed links) as record pairs."""
    truth = co_clustered_pairs(assigned, "child_key")
    predicted = co_clustered_pairs(assigned, "person_id")
    false_merges = predicted.join(truth, on=["rec_l", "rec_r"], how="anti")
    missed = truth.join(predicted, on=["rec_l", "rec_r"], how="anti")
    return false_merges, missed


def evaluate_links(assigned: pl.DataFrame, children: pl.DataFrame) -> dict[str, float]:
    """All figures at once; `assigned` has rec, person_id, child_key (records with a truth)."""
    return {
        **pairwise_scores(assigned),
        **bcubed_scores(assigned),
        "persons_found": float(assigned["person_id"].n_unique()),
        "true_children": float(assigned["child_key"].n_unique()),
        "twins_merged": float(twins_merged(assigned, children)),
    }


def evaluate_discrepancies(
    discrepancies: pl.DataFrame, assigned: pl.DataFrame, problems: pl.DataFrame
) -> pl.DataFrame:
    """Recall and precision per kind, at the level of (true child, kind); recall over the
    injected cases of children with at least one record in use.

    `discrepancies`: person_id, kind. `assigned`: person_id, child_key per record.
    `problems`: child_key, problem (the generator's injected problems). A person stands for
    the true child most of its records belong to.
    """
    person_child = assigned.group_by("person_id", "child_key").agg(pl.len().alias("n")).sort(
        "n", descending=True).unique("person_id", keep="first").select("person_id", "child_key")
    found = discrepancies.join(person_child, on="person_id").select(
        "child_key", "kind").unique()
    truth = problems.select("child_key", pl.col("problem").alias("kind")).drop_nulls().unique()
    # A child none of whose records is in use (in no department, or every row unusable)
    # leaves nothing to find: counted apart, not as a miss.
    seen = assigned.select("child_key").unique()
    kinds = truth.get_column("kind").unique().sort()
    rows = []
    for kind in kinds:
        injected = truth.filter(pl.col("kind") == kind)
        expected = injected.join(seen, on="child_key")
        got = found.filter(pl.col("kind") == kind)
        hits = expected.join(got, on=["child_key", "kind"]).height
        rows.append({"kind": kind, "injected": injected.height,
                     "unobservable": injected.height - expected.height, "found": got.height,
                     "recall": hits / expected.height if expected.height else None,
                     "precision": hits / got.height if got.height else None})
    return pl.DataFrame(rows, schema={"kind": pl.String, "injected": pl.Int64,
                                      "unobservable": pl.Int64, "found": pl.Int64,
                                      "recall": pl.Float64, "precision": pl.Float64})
