"""Cluster: records into children, with the constraints a plain connected-components merge lacks.

A department holds a child once, so a cluster may hold two records of one source only when
the pair between them is a flagged duplicate registration; twins (same mother, same day)
stay apart when certificate numbers, IDs, names or sex say they differ; officers' must-link
and cannot-link decisions always hold; no cluster grows past MAX_CLUSTER_SIZE by chaining.

Most components obey every constraint as they are and are taken in one vectorised pass;
only the few that break one are re-clustered greedily, strongest link first.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

LINK_THRESHOLD = 0.5
DUPLICATE_THRESHOLD = 0.999
MAX_CLUSTER_SIZE = 12


@dataclass(frozen=True)
class ClusterSettings:
    link_threshold: float = LINK_THRESHOLD
    duplicate_threshold: float = DUPLICATE_THRESHOLD
    max_cluster_size: int = MAX_CLUSTER_SIZE


DEFAULT_CLUSTER_SETTINGS = ClusterSettings()

def connected_components(records: pl.Series, edges: pl.DataFrame) -> pl.DataFrame:
    """Label each record with the smallest record index reachable through `edges`."""
    labels = pl.DataFrame({"rec": records, "label": records})
    if edges.height == 0:
        return labels
    both_ways = pl.concat([
        edges.select(pl.col("rec_l").alias("a"), pl.col("rec_r").alias("b")),
        edges.select(pl.col("rec_r").alias("a"), pl.col("rec_l").alias("b")),
    ])
    while True:
        proposed = both_ways.join(labels, left_on="b", right_on="rec").group_by("a").agg(
            pl.col("label").min().alias("neighbour"))
        updated = labels.join(proposed, left_on="rec", right_on="a", how="left").select(
            "rec", pl.min_horizontal("label", "neighbour").alias("label"))
        # Pointer jumping: adopt the label of your label, halving chain lengths each round.
        updated = updated.join(updated.rename({"rec": "label", "label": "jump"}), on="label",
                               how="left").select(
            "rec", pl.min_horizontal("label", "jump").alias("label"))
        if updated.get_column("label").equals(labels.get_column("label")):
            return updated
        labels = updated


@dataclass(frozen=True)
class Edge:
    """A link inside one troubled component, for the greedy pass."""

    rec_l: int
    rec_r: int
    strength: float  # the match weight: probabilities saturate at 1.0, weights do not
    is_duplicate: bool  # a same-source pair accepted as one child registered twice
    is_forced: bool  # an officer's must-link: obeyed whatever the constraints


def greedy_clusters(
    members: list[int],
    source_of: dict[int, str],
    edges: list[Edge],
    cannot: set[tuple[int, int]],
    max_size: int,
    officers_cannot: frozenset[tuple[int, int]] = frozenset(),
) -> dict[int, int]:
    """Merge forced links, then strongest links first unless a constraint forbids it.

    Returns rec -> cluster (the smallest rec of its cluster).
    """
    cluster_of = {rec: rec for rec in members}
    members_of = {rec: [rec] for rec in members}
    duplicates = {(e.rec_l, e.rec_r) for e in edges if e.is_duplicate}
    duplicates |= {(b, a) for a, b in duplicates}

    def waived(x: int, y: int, merged: list[int]) -> bool:
        """A second registration disagrees where its copy agrees: that is its discrepancy."""
        return any((x, z) in duplicates and (z, y) not in cannot and (y, z) not in cannot
                   for z in merged)

    def allowed(left: list[int], right: list[int], with_duplicates: bool) -> bool:
        if len(left) + len(right) > max_size:
            return False
        merged = left + right
        for x in left:
            for y in right:
                if ((x, y) in cannot or (y, x) in cannot) and not (
                        (x, y) not in officers_cannot and (y, x) not in officers_cannot
                        and (waived(x, y, merged) or waived(y, x, merged))):
                    return False
                if source_of[x] == source_of[y] and not (
                        with_duplicates and (x, y) in duplicates):
                    return False
        return True

    ordered = sorted(edges, key=lambda e: (not e.is_forced, -e.strength, e.rec_l, e.rec_r))
    # Pass 1 places each record with a child its department does not hold yet; pass 2 only
    # then lets a second registration join its copy. Otherwise a twin without a name could
    # join its sibling as a "duplicate" before reaching its own certificate and hukou.
    for with_duplicates in (False, True):
        for edge in ordered:
            ca, cb = cluster_of[edge.rec_l], cluster_of[edge.rec_r]
            if ca == cb or not (edge.is_forced or allowed(members_of[ca], members_of[cb],
                                                          with_duplicates)):
                continue
            keep, gone = min(ca, cb), max(ca, cb)
            for rec in members_of[gone]:
                cluster_of[rec] = keep
            members_of[keep] += members_of.pop(gone)
    return cluster_of


def cluster_records(
    records: pl.DataFrame,
    scored: pl.DataFrame,
    settings: ClusterSettings = DEFAULT_CLUSTER_SETTINGS,
    must_link: pl.DataFrame | None = None,
    cannot_link: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Assign every record a cluster; returns (clusters, components that hit the size bound).

    `records`: rec, source. `scored`: rec_l, rec_r, match_probability, match_weight,
    is_duplicate_candidate (a same-source pair strong enough to be one child registered
    twice) and is_contradiction (evidence of two different children). `must_link` /
    `cannot_link`: rec_l, rec_r from officers' decisions.
    """
    source = records.select("rec", "source")
    edges = scored.filter(pl.col("match_probability") >= settings.link_threshold).join(
        source.rename({"rec": "rec_l", "source": "source_l"}), on="rec_l").join(
        source.rename({"rec": "rec_r", "source": "source_r"}), on="rec_r").select(
        "rec_l", "rec_r", pl.col("match_weight").alias("strength"),
        ((pl.col("source_l") == pl.col("source_r"))
         & pl.col("is_duplicate_candidate")
         & (pl.col("match_probability") >= settings.duplicate_threshold)).alias("is_duplicate"),
        (pl.col("source_l") == pl.col("source_r")).alias("same_source"),
        pl.lit(False).alias("forced"),
    )
    edges = edges.filter(~pl.col("same_source") | pl.col("is_duplicate"))
    if must_link is not None and must_link.height:
        edges = pl.concat([edges, must_link.select(
            "rec_l", "rec_r", pl.lit(float("inf")).alias("strength"),
            pl.lit(True).alias("is_duplicate"), pl.lit(False).alias("same_source"),
            pl.lit(True).alias("forced"))], how="vertical_relaxed")
    labels = connected_components(records.get_column("rec"), edges)
    per_component = labels.join(source, on="rec").group_by("label").agg(
        pl.len().alias("size"),
        (pl.col("source").len() - pl.col("source").n_unique()).alias("repeated_sources"),
    )
    # Pairs whose evidence says "two different children" (a different certificate, child ID
    # or real name) may not end up together through other links, nor may officers' cannot-links.
    contradicted = scored.filter(pl.col("is_contradiction") & ~pl.col("is_duplicate_candidate")
                                 ).select("rec_l", "rec_r")
    if cannot_link is not None and cannot_link.height:
        contradicted = pl.concat([contradicted, cannot_link.select("rec_l", "rec_r")])
    cannot = {(int(a), int(b)) for a, b in contradicted.iter_rows()}
    officers_cannot = frozenset() if cannot_link is None else frozenset(
        (int(a), int(b)) for a, b in cannot_link.select("rec_l", "rec_r").iter_rows())
    if contradicted.height:
        cannot_components = contradicted.join(
            labels.rename({"rec": "rec_l", "label": "label_l"}), on="rec_l").join(
            labels.rename({"rec": "rec_r", "label": "label_r"}), on="rec_r").filter(
            pl.col("label_l") == pl.col("label_r")).get_column("label_l")
    else:
        cannot_components = pl.Series(dtype=pl.Int64)
    dup_edges = edges.filter(pl.col("is_duplicate") & pl.col("same_source"))
    dup_components = dup_edges.join(labels, left_on="rec_l", right_on="rec").get_column("label")
    troubled = per_component.filter(
        (pl.col("size") > settings.max_cluster_size) | (pl.col("repeated_sources") > 0)
        | pl.col("label").is_in(cannot_components.implode())
    ).get_column("label")
    # Components whose repeated sources are all flagged duplicates still need the greedy pass
    # (a duplicate edge alone does not prove the whole component is one child).
    troubled = pl.concat([troubled, dup_components]).unique()
    clean = labels.filter(~pl.col("label").is_in(troubled.implode()))
    resolved: list[tuple[int, int]] = []
    if troubled.len():
        hard = labels.filter(pl.col("label").is_in(troubled.implode()))
        source_of = dict(hard.join(source, on="rec").select("rec", "source").iter_rows())
        edges_of: dict[int, list[Edge]] = {}
        for label, a, b, p, dup, forced in edges.join(
                hard.rename({"rec": "rec_l"}), on="rec_l").select(
                "label", "rec_l", "rec_r", "strength", "is_duplicate",
                "forced").iter_rows():
            edges_of.setdefault(label, []).append(Edge(a, b, p, dup, forced))
        members_of: dict[int, list[int]] = {}
        for rec, label in hard.iter_rows():
            members_of.setdefault(label, []).append(rec)
        for label, members in members_of.items():
            assigned = greedy_clusters(members, source_of, edges_of.get(label, []), cannot,
                                       settings.max_cluster_size, officers_cannot)
            resolved.extend(assigned.items())
    clusters = pl.concat([
        clean.rename({"label": "cluster"}),
        pl.DataFrame(resolved, schema={"rec": pl.Int64, "cluster": pl.Int64}, orient="row"),
    ])
    sizes = clusters.group_by("cluster").agg(pl.len().alias("size"))
    at_bound = sizes.filter(pl.col("size") >= settings.max_cluster_size)
    return clusters.sort("rec"), at_bound

