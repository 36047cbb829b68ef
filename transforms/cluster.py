"""Cluster: records into children, with the constraints a plain connected-components merge lacks.

A department holds a child once, so a cluster may hold two records of one source only when
the pair between them is a flagged duplicate registration; twins (same mother, same day)
stay apart when certificate numbers, IDs, names or sex say they differ; officers' must-link
and cannot-link decisions always hold; no cluster grows past MAX_CLUSTER_SIZE by chaining.

Most components obey every constraint as they are and are taken in one vectorised pass;
only the few that break one are re-clustered greedily, strongest link first.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
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
    """Label each record with the smallest record index reachable through `edges`.

    Hook-and-compress over whole edge arrays (Shiloach-Vishkin): each round hooks every
    root onto the smallest root across its edges, then jumps pointers until every record
    points at its root. Rounds grow with the log of a component's diameter, and each round
    is a few numpy passes over the edges, so a million records take well under a second
    (label propagation with joins took a minute: one round per step of the longest chain).
    """
    recs = np.sort(records.to_numpy())
    if edges.height == 0:
        return pl.DataFrame({"rec": recs, "label": recs})
    rec_l, rec_r = edges.get_column("rec_l").to_numpy(), edges.get_column("rec_r").to_numpy()
    if recs[0] == 0 and recs[-1] == recs.size - 1:  # a full run: recs are row positions
        left, right = rec_l, rec_r
        known = (rec_l >= 0) & (rec_l < recs.size) & (rec_r >= 0) & (rec_r < recs.size)
    else:
        left = np.searchsorted(recs, rec_l).clip(max=recs.size - 1)
        right = np.searchsorted(recs, rec_r).clip(max=recs.size - 1)
        known = (recs[left] == rec_l) & (recs[right] == rec_r)
    left, right = left[known], right[known]  # an edge to no record links nothing
    parent = np.arange(recs.size)
    while True:
        root_l, root_r = parent[left], parent[right]
        if np.array_equal(root_l, root_r):
            break
        lower = np.minimum(root_l, root_r)
        np.minimum.at(parent, root_l, lower)
        np.minimum.at(parent, root_r, lower)
        while True:  # full compression: every record points at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
    return pl.DataFrame({"rec": recs, "label": recs[parent]})


class Edge(NamedTuple):
    """A link inside one troubled component, for the greedy pass."""

    rec_l: int
    rec_r: int
    strength: float  # the match weight: probabilities saturate at 1.0, weights do not
    is_duplicate: bool  # a same-source pair accepted as one child registered twice
    is_forced: bool  # an officer's must-link: obeyed whatever the constraints


def greedy_clusters(
    members: list[int],
    source_of: dict[int, str],
    edges: Iterable[Edge],
    cannot: Iterable[tuple[int, int]],
    max_size: int,
    officers_cannot: frozenset[tuple[int, int]] = frozenset(),
) -> dict[int, int]:
    """Merge forced links, then strongest links first unless a constraint forbids it.

    Returns rec -> cluster (the smallest rec of its cluster).
    """
    ordered = sorted(edges, key=lambda e: (not e.is_forced, -e.strength, e.rec_l, e.rec_r))
    return merge_in_order(members, source_of, ordered, cannot, max_size, officers_cannot)


def merge_in_order(
    members: list[int],
    source_of: dict[int, str],
    ordered: Sequence[tuple[int, int, float, bool, bool]],
    cannot: Iterable[tuple[int, int]],
    max_size: int,
    officers_cannot: frozenset[tuple[int, int]] = frozenset(),
) -> dict[int, int]:
    """The greedy pass over edges already in merge order (forced, then strongest first).

    Components are independent, so all troubled components go through one call. Most merges
    are decided by a cluster's department bit mask and its members' cannot-link partners;
    only a merge that a flagged duplicate might make legal takes the pair-by-pair check.
    """
    cluster_of = {rec: rec for rec in members}
    members_of = {rec: [rec] for rec in members}
    bit = {source: 1 << i for i, source in enumerate(sorted(set(source_of.values())))}
    mask_of = {rec: bit[source_of[rec]] for rec in members}
    cannot_of: dict[int, set[int]] = {}
    for a, b in cannot:
        cannot_of.setdefault(a, set()).add(b)
        cannot_of.setdefault(b, set()).add(a)
    duplicates = {(a, b) for a, b, _, is_duplicate, _ in ordered if is_duplicate}
    duplicates |= {(b, a) for a, b in duplicates}

    def forbidden(x: int, y: int) -> bool:
        return y in cannot_of.get(x, ())

    def waived(x: int, y: int, merged: list[int]) -> bool:
        """A second registration disagrees where its copy agrees: that is its discrepancy."""
        return any((x, z) in duplicates and not forbidden(y, z) for z in merged)

    def allowed_pairwise(left: list[int], right: list[int], with_duplicates: bool) -> bool:
        merged = left + right
        for x in left:
            for y in right:
                if forbidden(x, y) and not (
                        (x, y) not in officers_cannot and (y, x) not in officers_cannot
                        and (waived(x, y, merged) or waived(y, x, merged))):
                    return False
                if source_of[x] == source_of[y] and not (
                        with_duplicates and (x, y) in duplicates):
                    return False
        return True

    def allowed(ca: int, cb: int, with_duplicates: bool) -> bool:
        left, right = members_of[ca], members_of[cb]
        if len(left) + len(right) > max_size:
            return False
        overlap = mask_of[ca] & mask_of[cb]
        if overlap and not with_duplicates:
            return False
        if not overlap and not any(forbidden(x, y) for x in left for y in right):
            return True
        return allowed_pairwise(left, right, with_duplicates)

    # Pass 1 places each record with a child its department does not hold yet; pass 2 only
    # then lets a second registration join its copy. Otherwise a twin without a name could
    # join its sibling as a "duplicate" before reaching its own certificate and hukou.
    # A merge refused in pass 1 can only become legal in pass 2 through a duplicate, so pass
    # 2 looks only at links touching a cluster that holds one.
    with_duplicate = {rec for pair in duplicates for rec in pair}
    for with_duplicates in (False, True):
        for rec_l, rec_r, _, _, is_forced in ordered:
            ca, cb = cluster_of[rec_l], cluster_of[rec_r]
            if ca == cb or (with_duplicates and ca not in with_duplicate
                            and cb not in with_duplicate):
                continue
            if not (is_forced or allowed(ca, cb, with_duplicates)):
                continue
            keep, gone = min(ca, cb), max(ca, cb)
            for rec in members_of[gone]:
                cluster_of[rec] = keep
            members_of[keep] += members_of.pop(gone)
            mask_of[keep] |= mask_of.pop(gone)
            if gone in with_duplicate:
                with_duplicate.add(keep)
    return cluster_of


def never_taken(edges: pl.DataFrame, contradicted: pl.DataFrame, officers: pl.DataFrame
                ) -> pl.DataFrame:
    """Links the greedy pass could never take: an officer's cannot-link, or a contradiction
    between two records neither of which has a duplicate registration to waive it.

    Dropping them before components are formed is exact (the greedy would skip them), and it
    splits a mother's children apart, so most families need no greedy pass at all.
    """
    ordered = [pl.min_horizontal("rec_l", "rec_r").alias("rec_l"),
               pl.max_horizontal("rec_l", "rec_r").alias("rec_r")]
    duplicated = edges.filter(pl.col("is_duplicate"))
    with_duplicate = pl.concat([duplicated.get_column("rec_l"),
                                duplicated.get_column("rec_r")]).unique().implode()
    unwaivable = contradicted.filter(~pl.col("rec_l").is_in(with_duplicate)
                                     & ~pl.col("rec_r").is_in(with_duplicate))
    return pl.concat([unwaivable.select(ordered), officers.select(ordered)]).unique()


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
    contradicted = scored.filter(pl.col("is_contradiction") & ~pl.col("is_duplicate_candidate")
                                 ).select("rec_l", "rec_r")
    officers = (cannot_link.select("rec_l", "rec_r") if cannot_link is not None
                else contradicted.clear())
    edges = pl.concat([edges.filter(pl.col("forced")), edges.filter(~pl.col("forced")).join(
        never_taken(edges, contradicted, officers), on=["rec_l", "rec_r"], how="anti")])
    labels = connected_components(records.get_column("rec"), edges)
    per_component = labels.join(source, on="rec").group_by("label").agg(
        pl.len().alias("size"),
        (pl.col("source").len() - pl.col("source").n_unique()).alias("repeated_sources"),
    )
    # Pairs whose evidence says "two different children" (a different certificate, child ID
    # or real name) may not end up together through other links, nor may officers' cannot-links.
    officers_cannot = frozenset(zip(officers.get_column("rec_l").to_list(),
                                    officers.get_column("rec_r").to_list(), strict=True))
    # Only a contradiction inside one component can be broken by a merge.
    inside = pl.concat([contradicted, officers]).join(
        labels.rename({"rec": "rec_l", "label": "label_l"}), on="rec_l").join(
        labels.rename({"rec": "rec_r", "label": "label_r"}), on="rec_r").filter(
        pl.col("label_l") == pl.col("label_r"))
    dup_edges = edges.filter(pl.col("is_duplicate") & pl.col("same_source"))
    dup_components = dup_edges.join(labels, left_on="rec_l", right_on="rec").get_column("label")
    troubled = per_component.filter(
        (pl.col("size") > settings.max_cluster_size) | (pl.col("repeated_sources") > 0)
        | pl.col("label").is_in(inside.get_column("label_l").implode())
    ).get_column("label")
    # Components whose repeated sources are all flagged duplicates still need the greedy pass
    # (a duplicate edge alone does not prove the whole component is one child).
    troubled = pl.concat([troubled, dup_components]).unique()
    clean = labels.filter(~pl.col("label").is_in(troubled.implode()))
    resolved: list[tuple[int, int]] = []
    if troubled.len():
        hard = labels.filter(pl.col("label").is_in(troubled.implode())).join(source, on="rec")
        ordered = edges.join(hard.select(pl.col("rec").alias("rec_l")), on="rec_l").sort(
            ["forced", "strength", "rec_l", "rec_r"], descending=[True, True, False, False])
        columns = [ordered.get_column(c).to_list()
                   for c in ("rec_l", "rec_r", "strength", "is_duplicate", "forced")]
        assigned = merge_in_order(
            hard.get_column("rec").to_list(),
            dict(zip(hard.get_column("rec").to_list(), hard.get_column("source").to_list(),
                     strict=True)),
            list(zip(*columns, strict=True)),
            zip(inside.get_column("rec_l").to_list(), inside.get_column("rec_r").to_list(),
                strict=True),
            settings.max_cluster_size, officers_cannot)
        resolved = list(assigned.items())
    clusters = pl.concat([
        clean.rename({"label": "cluster"}),
        pl.DataFrame(resolved, schema={"rec": pl.Int64, "cluster": pl.Int64}, orient="row"),
    ])
    sizes = clusters.group_by("cluster").agg(pl.len().alias("size"))
    at_bound = sizes.filter(pl.col("size") >= settings.max_cluster_size)
    return clusters.sort("rec"), at_bound

