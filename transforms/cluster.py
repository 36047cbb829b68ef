"""Cluster: records into children, with the constraints a plain connected-components merge lacks.

A department holds a child once, so a cluster may hold two records of one source only when
the pair between them is a flagged duplicate registration; twins (same mother, same day)
stay apart when certificate numbers, IDs, names or sex say they differ; officers' must-link
and cannot-link decisions always hold; no cluster grows past MAX_CLUSTER_SIZE by chaining.

Most components obey every constraint as they are and are taken in one vectorised pass;
only the few that break one are re-clustered greedily, strongest link first.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
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

PAIR_BASE = 1 << 32  # a pair of record numbers packed as one integer: rec_l * PAIR_BASE + rec_r


def positions_in(recs: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position of each wanted record number in the sorted `recs`, and whether it is there.

    In a full run records are numbered 0..n-1, so a number is its own position.
    """
    if recs.size == 0:
        return np.zeros(wanted.size, dtype=np.int64), np.zeros(wanted.size, dtype=bool)
    if recs[0] == 0 and recs[-1] == recs.size - 1:
        known = (wanted >= 0) & (wanted < recs.size)
        return np.where(known, wanted, 0), known
    found = np.searchsorted(recs, wanted).clip(max=recs.size - 1)
    return found, recs[found] == wanted


def component_roots(size: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Each node's root: the smallest node reachable through the edges (left[i], right[i]).

    Hook-and-compress over whole edge arrays (Shiloach-Vishkin): each round hooks every
    root onto the smallest root across its edges, then jumps pointers until every node
    points at its root. Rounds grow with the log of a component's diameter, and each round
    is a few numpy passes over the edges, so a million records take well under a second
    (label propagation with joins took a minute: one round per step of the longest chain).
    """
    parent = np.arange(size)
    while True:
        root_l, root_r = parent[left], parent[right]
        differ = root_l != root_r
        if not differ.any():
            return parent
        # Edges inside one component hook nothing: later rounds look only at the others.
        left, right, root_l, root_r = left[differ], right[differ], root_l[differ], root_r[differ]
        lower = np.minimum(root_l, root_r)
        np.minimum.at(parent, root_l, lower)
        np.minimum.at(parent, root_r, lower)
        while True:  # full compression: every node points at its root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand


def connected_components(records: pl.Series, edges: pl.DataFrame) -> pl.DataFrame:
    """Label each record with the smallest record index reachable through `edges`."""
    recs = np.sort(records.to_numpy())
    left, known_l = positions_in(recs, edges.get_column("rec_l").to_numpy())
    right, known_r = positions_in(recs, edges.get_column("rec_r").to_numpy())
    known = known_l & known_r  # an edge to no record links nothing
    roots = component_roots(recs.size, left[known], right[known])
    return pl.DataFrame({"rec": recs, "label": recs[roots]})


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
    recs = sorted(members)
    index = {rec: i for i, rec in enumerate(recs)}
    names = sorted({source_of[rec] for rec in recs})
    pairs = [(index[a], index[b]) for a, b in cannot if a in index and b in index]
    cluster = merge_in_order(
        np.array([names.index(source_of[rec]) for rec in recs], dtype=np.int64),
        np.array([index[e.rec_l] for e in ordered], dtype=np.int64),
        np.array([index[e.rec_r] for e in ordered], dtype=np.int64),
        np.array([e.is_duplicate for e in ordered], dtype=bool),
        np.array([e.is_forced for e in ordered], dtype=bool),
        np.array(pairs, dtype=np.int64).reshape(-1, 2),
        frozenset((index[a], index[b]) for a, b in officers_cannot
                  if a in index and b in index),
        max_size,
    )
    return {rec: recs[c] for rec, c in zip(recs, cluster.tolist(), strict=True)}


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Pause CPython's cycle collector: the greedy pass builds a million small lists and
    sets (none of them cyclic), and the collector would scan them again and again as they
    grow, a third of the pass's time at a million births."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def merge_in_order(
    source: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    is_duplicate: np.ndarray,
    is_forced: np.ndarray,
    cannot: np.ndarray,
    officers_cannot: frozenset[tuple[int, int]],
    max_size: int,
    component: np.ndarray | None = None,
) -> np.ndarray:
    """The greedy pass over edges already in merge order (forced, then strongest first).

    Records are numbered 0..m-1 in record order (a cluster is named by its smallest);
    `source` is each one's department as a small integer, `cannot` an (k, 2) array of pairs
    that may not end up together unless a duplicate waives it; `component`, where the
    caller knows it, labels each edge's connected component. Returns each record's cluster.

    Components are independent, so all troubled components go through one call. Most merges
    are decided by a cluster's department bit mask and its members' cannot-link partners;
    only a merge that a flagged duplicate might make legal takes the pair-by-pair check.
    """
    count = source.size
    cluster_of = list(range(count))
    members_of = [[rec] for rec in range(count)]  # a merged-away cluster's list goes stale
    source_of = source.tolist()
    mask_of = (np.left_shift(1, source)).tolist()
    cannot_of = partners_of(cannot)
    # Each cluster's members' cannot-link partners, so a merge checks one set against the
    # other cluster instead of every pair of members. Sets are replaced, never changed.
    blocked_of = dict(cannot_of)
    duplicates = set(zip(left[is_duplicate].tolist(), right[is_duplicate].tolist(), strict=True))
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

    # Pass 1 places each record with a child its department does not hold yet; pass 2 only
    # then lets a second registration join its copy. Otherwise a twin without a name could
    # join its sibling as a "duplicate" before reaching its own certificate and hukou.
    # A merge refused in pass 1 can only become legal in pass 2 through a duplicate, so pass
    # 2 looks only at links touching a cluster that holds one: links of components without
    # a duplicate are left out of it altogether.
    with_duplicate = {rec for pair in duplicates for rec in pair}
    if component is None:
        component = component_roots(count, left, right)[left]
    second = np.isin(component, component[is_duplicate])
    passes = ((False, left, right, is_forced),
              (True, left[second], right[second], is_forced[second]))
    for with_duplicates, lefts, rights, forced in passes:
        for rec_l, rec_r, is_forced_link in zip(lefts.tolist(), rights.tolist(),
                                                forced.tolist(), strict=True):
            ca, cb = cluster_of[rec_l], cluster_of[rec_r]
            if ca == cb or (with_duplicates and ca not in with_duplicate
                            and cb not in with_duplicate):
                continue
            members_a, members_b = members_of[ca], members_of[cb]
            if not is_forced_link:  # the constraints, cheapest first
                if len(members_a) + len(members_b) > max_size:
                    continue
                overlap = mask_of[ca] & mask_of[cb]
                if overlap and not with_duplicates:
                    continue
                blocked = blocked_of.get(ca)
                if (overlap or not (blocked is None or blocked.isdisjoint(members_b))) and not (
                        allowed_pairwise(members_a, members_b, with_duplicates)):
                    continue
            keep, gone = (ca, cb) if ca < cb else (cb, ca)
            moved = members_of[gone]
            for rec in moved:
                cluster_of[rec] = keep
            members_of[keep] += moved
            mask_of[keep] |= mask_of[gone]
            gone_blocked = blocked_of.pop(gone, None)
            if gone_blocked is not None:
                kept_blocked = blocked_of.get(keep)
                blocked_of[keep] = (gone_blocked if kept_blocked is None
                                    else kept_blocked | gone_blocked)
            if gone in with_duplicate:
                with_duplicate.add(keep)
    return np.array(cluster_of, dtype=np.int64)


def partners_of(pairs: np.ndarray) -> dict[int, set[int]]:
    """Each record's partners over the (k, 2) `pairs`, in both directions."""
    ends = np.concatenate([pairs[:, 0], pairs[:, 1]])
    others = np.concatenate([pairs[:, 1], pairs[:, 0]])
    order = np.argsort(ends, kind="stable")
    ends, others = ends[order], others[order]
    starts = np.flatnonzero(np.r_[True, ends[1:] != ends[:-1]]) if ends.size else ends
    bounds = [*starts.tolist(), int(ends.size)]
    partners = others.tolist()
    return {rec: set(partners[start:stop])
            for rec, start, stop in zip(ends[starts].tolist(), bounds[:-1], bounds[1:],
                                        strict=True)}


def pair_keys(left: np.ndarray, right: np.ndarray) -> pl.Series:
    """Each pair as one integer (record numbers are 0..n-1, well below PAIR_BASE)."""
    return pl.Series(left.astype(np.uint64) * PAIR_BASE + right.astype(np.uint64))


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

    Record numbers index numpy arrays (records in record order), so the millions of pairs
    are resolved by gathers instead of joins.
    """
    by_rec = records.select("rec", "source").sort("rec")
    recs = by_rec.get_column("rec").to_numpy()
    names = by_rec.get_column("source").unique().drop_nulls().sort()
    source = by_rec.get_column("source").cast(pl.Enum(names)).to_physical().cast(
        pl.Int64).fill_null(names.len()).to_numpy()

    def column(frame: pl.DataFrame, name: str) -> np.ndarray:
        values = frame.get_column(name)
        return (values.fill_null(False) if values.dtype == pl.Boolean else values).to_numpy()

    rec_l, rec_r = column(scored, "rec_l"), column(scored, "rec_r")
    probability = column(scored, "match_probability")
    at_l, known_l = positions_in(recs, rec_l)
    at_r, known_r = positions_in(recs, rec_r)
    same_source = source[at_l] == source[at_r]
    is_duplicate = (same_source & column(scored, "is_duplicate_candidate")
                    & (probability >= settings.duplicate_threshold))
    linked = ((probability >= settings.link_threshold) & known_l & known_r
              & (~same_source | is_duplicate))
    edges = {"rec_l": rec_l[linked], "rec_r": rec_r[linked],
             "strength": column(scored, "match_weight")[linked],
             "is_duplicate": is_duplicate[linked], "same_source": same_source[linked],
             "forced": np.zeros(int(linked.sum()), dtype=bool)}
    contradiction = scored.select((pl.col("is_contradiction") & ~pl.col("is_duplicate_candidate"))
                                  .fill_null(False)).to_series().to_numpy()
    contradicted = np.column_stack([rec_l[contradiction], rec_r[contradiction]])
    officers = (cannot_link.select(pl.col("rec_l", "rec_r").cast(pl.Int64)).to_numpy()
                if cannot_link is not None else np.zeros((0, 2), dtype=np.int64))
    forced = (must_link.select(pl.col("rec_l", "rec_r").cast(pl.Int64)).to_numpy()
              if must_link is not None else np.zeros((0, 2), dtype=np.int64))
    edges = without_never_taken(edges, forced, contradicted, officers)

    at_l, known_l = positions_in(recs, edges["rec_l"])
    at_r, known_r = positions_in(recs, edges["rec_r"])
    known = known_l & known_r
    roots = component_roots(recs.size, at_l[known], at_r[known])
    sizes = np.bincount(roots, minlength=recs.size)
    departments = np.zeros(recs.size, dtype=np.int64)  # a bit per department (a handful)
    np.bitwise_or.at(departments, roots, np.left_shift(1, source))
    repeated = sizes > popcount(departments)
    # Pairs whose evidence says "two different children" (a different certificate, child ID
    # or real name) may not end up together through other links, nor may officers' cannot-links.
    # Only a contradiction inside one component can be broken by a merge.
    cannot = np.concatenate([contradicted, officers])
    at_cl, known_cl = positions_in(recs, cannot[:, 0])
    at_cr, known_cr = positions_in(recs, cannot[:, 1])
    inside = known_cl & known_cr & (roots[at_cl] == roots[at_cr])
    troubled = (sizes > settings.max_cluster_size) | repeated
    troubled[roots[at_cl[inside]]] = True
    # Components whose repeated sources are all flagged duplicates still need the greedy pass
    # (a duplicate edge alone does not prove the whole component is one child).
    copies = edges["is_duplicate"] & edges["same_source"]
    troubled[roots[at_l[copies]]] = True

    cluster = recs[roots]
    hard = troubled[roots]
    if hard.any():
        members = recs[hard]
        local = np.full(recs.size, -1, dtype=np.int64)
        local[hard] = np.arange(members.size)
        take = known_l & known_r & hard[at_l]
        # Forced first, then strongest; ties by record numbers so the order is total.
        order = np.lexsort((edges["rec_r"][take], edges["rec_l"][take],
                            -edges["strength"][take], ~edges["forced"][take]))
        officer_l, known_ol = positions_in(members, officers[:, 0])
        officer_r, known_or = positions_in(members, officers[:, 1])
        officers_inside = known_ol & known_or
        with cycle_collection_paused():
            assigned = merge_in_order(
                source[hard], local[at_l[take][order]], local[at_r[take][order]],
                edges["is_duplicate"][take][order], edges["forced"][take][order],
                np.column_stack([local[at_cl[inside]], local[at_cr[inside]]]),
                frozenset(zip(officer_l[officers_inside].tolist(),
                              officer_r[officers_inside].tolist(), strict=True)),
                settings.max_cluster_size, roots[at_l[take][order]])
        cluster[hard] = members[assigned]
    # Flagged as sorted by rec (it is): joining another frame sorted by rec is then a merge.
    clusters = pl.DataFrame({"rec": recs, "cluster": cluster},
                            schema={"rec": pl.Int64, "cluster": pl.Int64}).with_columns(
        pl.col("rec").set_sorted())
    cluster_sizes = np.bincount(positions_in(recs, cluster)[0], minlength=recs.size)
    bound = np.flatnonzero(cluster_sizes >= settings.max_cluster_size)
    at_bound = pl.DataFrame({"cluster": recs[bound], "size": cluster_sizes[bound]},
                            schema={"cluster": pl.Int64, "size": pl.UInt32})
    return clusters, at_bound


def popcount(masks: np.ndarray) -> np.ndarray:
    """How many bits are set in each integer (departments in a component)."""
    counts = np.zeros(masks.size, dtype=np.int64)
    rest = masks.copy()
    while rest.any():
        counts += rest & 1
        rest >>= 1
    return counts


def without_never_taken(edges: dict[str, np.ndarray], forced: np.ndarray,
                        contradicted: np.ndarray, officers: np.ndarray) -> dict[str, np.ndarray]:
    """Officers' must-links added as forced edges; links the greedy pass could never take
    dropped: an officer's cannot-link, or a contradiction between two records neither of
    which has a duplicate registration to waive it.

    Dropping them before components are formed is exact (the greedy would skip them), and it
    splits a mother's children apart, so most families need no greedy pass at all.
    """
    duplicated = np.concatenate([edges["rec_l"][edges["is_duplicate"]],
                                 edges["rec_r"][edges["is_duplicate"]], forced.ravel()])
    waivable = (np.isin(contradicted[:, 0], duplicated)
                | np.isin(contradicted[:, 1], duplicated))
    never = np.concatenate([contradicted[~waivable], officers])
    never_keys = pair_keys(never.min(axis=1), never.max(axis=1)) if never.size else pl.Series(
        dtype=pl.UInt64)
    keep = ~pair_keys(edges["rec_l"], edges["rec_r"]).is_in(never_keys.implode()).to_numpy()
    count = forced.shape[0]
    return {
        "rec_l": np.concatenate([forced[:, 0], edges["rec_l"][keep]]),
        "rec_r": np.concatenate([forced[:, 1], edges["rec_r"][keep]]),
        "strength": np.concatenate([np.full(count, np.inf), edges["strength"][keep]]),
        "is_duplicate": np.concatenate([np.ones(count, dtype=bool), edges["is_duplicate"][keep]]),
        "same_source": np.concatenate([np.zeros(count, dtype=bool), edges["same_source"][keep]]),
        "forced": np.concatenate([np.ones(count, dtype=bool), edges["forced"][keep]]),
    }
