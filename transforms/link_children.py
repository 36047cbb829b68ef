"""Link: block, compare, score and cluster records in use into children, explainably.

Comes in: canonical records in use. Goes out: each record's cluster and link probability,
the scored pairs (with every comparison's weight), blocking statistics and the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from transforms.block import block_pairs
from transforms.cluster import ClusterSettings, cluster_records
from transforms.compare import COMPARISONS, compare_pairs
from transforms.link_records import link_records
from transforms.score import FellegiSunterModel, estimate_m, estimate_u, score_pairs

# A same-source pair is one child registered twice only when everything a second
# registration copies agrees: mother, birth date, sex, and a name or weight that does not
# differ. Twins differ in name, sex or weight; a second hukou gets a new ID of its own.
DUPLICATE_RULE = (
    (pl.col("mother_id_level") == 2)
    & (pl.col("birth_date_level") >= 3)
    & (pl.col("sex_level") == 1)
    & (pl.col("child_name_level").fill_null(2) >= 2)
    & (pl.col("birth_order_level").fill_null(1) == 1)
    & (pl.col("birth_weight_level").fill_null(1) == 1)
    # A re-issued certificate has a number of its own: in 卫生 the weight tells twins apart.
    & pl.when(pl.col("source_l") == "weisheng").then(pl.col("birth_weight_level") == 1)
    .otherwise(pl.col("birth_cert_level").fill_null(1) == 1)
)

# Evidence of two different children, whatever else agrees (twins share mother and day):
# a different certificate number, a different child ID, or two real names that differ.
CONTRADICTION_RULE = (
    (pl.col("birth_cert_level") == 0)
    | (pl.col("child_id_level") == 0)
    | (pl.col("child_name_level") == 0)
    | (pl.col("birth_order_level") == 0)
)


@dataclass(frozen=True)
class Linkage:
    """What linking produced, for the state (pairs, clusters) and for the run summary."""

    records: pl.DataFrame  # link_records output: rec, source, record_id, ...
    clusters: pl.DataFrame  # rec, cluster, match_probability
    pairs: pl.DataFrame  # rec_l, rec_r, <name>_level, <name>_weight, match_weight, ...
    blocking: pl.DataFrame  # rule, pairs, oversized_keys
    oversized_clusters: pl.DataFrame
    model: FellegiSunterModel


def train_model(links: pl.DataFrame, levels: pl.DataFrame) -> FellegiSunterModel:
    """u from random pairs, m and the prior by EM on the candidate pairs."""
    return estimate_m(levels, estimate_u(links))


def link_children(
    records: pl.DataFrame,
    model: FellegiSunterModel | None = None,
    settings: ClusterSettings = ClusterSettings(),
    must_link: pl.DataFrame | None = None,
    cannot_link: pl.DataFrame | None = None,
) -> Linkage:
    """Full linkage of all records in use (a nightly run reuses the trained model)."""
    links = link_records(records)
    pairs, blocking = block_pairs(links, links)
    levels = compare_pairs(pairs, links)
    model = model or train_model(links, levels)
    scored = score_pairs(levels, links, model).join(
        links.select(pl.col("rec").alias("rec_l"), pl.col("source").alias("source_l")),
        on="rec_l").join(
        links.select(pl.col("rec").alias("rec_r"), pl.col("source").alias("source_r")),
        on="rec_r").with_columns(
        ((pl.col("source_l") == pl.col("source_r")) & DUPLICATE_RULE)
        .fill_null(False).alias("is_duplicate_candidate"),
        CONTRADICTION_RULE.fill_null(False).alias("is_contradiction"),
    )
    clusters, oversized = cluster_records(links, scored, settings, must_link, cannot_link)
    clusters = clusters.join(record_link_probability(clusters, scored), on="rec", how="left")
    return Linkage(links, clusters, scored, blocking, oversized, model)


def record_link_probability(clusters: pl.DataFrame, scored: pl.DataFrame) -> pl.DataFrame:
    """Each record's strongest link inside its own cluster (null for a record alone)."""
    inside = scored.select("rec_l", "rec_r", "match_probability").join(
        clusters.rename({"rec": "rec_l", "cluster": "cluster_l"}), on="rec_l").join(
        clusters.rename({"rec": "rec_r", "cluster": "cluster_r"}), on="rec_r").filter(
        pl.col("cluster_l") == pl.col("cluster_r"))
    both = pl.concat([
        inside.select(pl.col("rec_l").alias("rec"), "match_probability"),
        inside.select(pl.col("rec_r").alias("rec"), "match_probability"),
    ])
    return both.group_by("rec").agg(pl.col("match_probability").max())


COMPARISON_NAMES = tuple(c.name for c in COMPARISONS)
