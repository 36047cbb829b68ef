"""Stable person ids: carry last night's ids onto tonight's clusters by a documented rule.

Rule: each cluster takes the previous id held by most of its records (ties: the smallest
id). A previous id that ends up in no cluster is retired and maps to the cluster that holds
most of its records (`merged`); a cluster that gets no previous id needs a new one, seeded
by its smallest member key, and when it split off another child's id the history says so.
"""

from __future__ import annotations

import polars as pl


def carry_person_ids(clusters: pl.DataFrame, previous: pl.DataFrame) -> tuple[pl.DataFrame,
                                                                                 pl.DataFrame]:
    """Returns (clusters with `person_id` or null and `id_seed`, history of retired ids).

    `clusters`: member_key (source:record_id), cluster. `previous`: member_key, person_id.
    History rows: retired_id, successor_cluster, reason (merged / split).
    """
    joined = clusters.join(previous, on="member_key", how="left")
    votes = joined.drop_nulls("person_id").group_by("cluster", "person_id").agg(
        pl.len().alias("members"))
    # Each previous id goes to the cluster holding most of its records; each cluster keeps
    # the best id it was offered. Greedy by vote strength, deterministic on ties.
    ranked = votes.sort(["members", "person_id", "cluster"], descending=[True, False, False])
    best_for_id = ranked.unique("person_id", keep="first", maintain_order=True)
    kept = best_for_id.unique("cluster", keep="first", maintain_order=True).select(
        "cluster", "person_id")
    # A new id is seeded by the cluster's smallest member key; when that record comes from
    # another child (a split), the seed names that child too, so the new id can never
    # repeat the one the rest of that child keeps (both would be seeded by this record).
    seeds = joined.sort("member_key").group_by("cluster").agg(
        pl.col("member_key").first().alias("first_member"),
        pl.col("person_id").first().alias("first_previous"),
    ).select(
        "cluster",
        pl.when(pl.col("first_previous").is_null()).then(pl.col("first_member"))
        .otherwise(pl.col("first_member") + pl.lit("|") + pl.col("first_previous"))
        .alias("id_seed"),
    )
    assigned = seeds.join(kept, on="cluster", how="left")
    retired_ids = votes.select("person_id").unique().join(kept, on="person_id", how="anti")
    merged = retired_ids.join(best_for_id.select("person_id", "cluster"), on="person_id").select(
        pl.col("person_id").alias("retired_id"), pl.col("cluster").alias("successor_cluster"),
        pl.lit("merged").alias("reason"))
    split = votes.join(kept, on=["cluster", "person_id"], how="anti").join(
        assigned.filter(pl.col("person_id").is_null()).select("cluster"), on="cluster").select(
        pl.col("person_id").alias("retired_id"), pl.col("cluster").alias("successor_cluster"),
        pl.lit("split").alias("reason")).join(merged.select("retired_id"), on="retired_id",
                                               how="anti")
    # A split can retire one id towards two clusters: the cluster number breaks the tie, so
    # history rows come out in the same order every time.
    return assigned, pl.concat([merged, split]).unique().sort(
        "retired_id", "reason", "successor_cluster")
