"""Link: block, compare, score and cluster records in use into children, explainably.

Comes in: canonical records in use. Goes out: each record's cluster and link probability,
the scored pairs (with every comparison's weight), blocking statistics and the model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import polars as pl

from transforms.apply_decisions import violated_constraints
from transforms.block import block_pairs
from transforms.cluster import DEFAULT_CLUSTER_SETTINGS, ClusterSettings, cluster_records
from transforms.compare import COMPARISONS, compare_pairs, record_positions
from transforms.link_records import link_records
from transforms.score import FellegiSunterModel, estimate_m, estimate_u, score_pairs

# A same-source pair may be one child registered twice when everything a second
# registration copies agrees: mother, birth date, sex, weight and birth order. Another
# clerk often writes the name one character off, leaves the sex blank, or leaves out or
# mistypes the mother's ID (her exact name then stands in); a second hukou gets an ID of
# its own. Inside one department twins can look the same; clustering keeps them apart
# (pass 1 gives every record a child its department does not hold yet, before any duplicate
# may join, and twins' other records differ).
DUPLICATE_RULE = (
    ((pl.col("mother_id_level") == 2)
     | ((pl.col("mother_id_level").fill_null(1) == 1) & (pl.col("mother_name_level") == 3)))
    & (pl.col("birth_date_level") >= 3)
    & (pl.col("sex_level").fill_null(1) == 1)
    & (pl.col("child_name_level").fill_null(1) >= 1)
    & (pl.col("birth_order_level").fill_null(1) == 1)
    & (pl.col("birth_weight_level").fill_null(1) == 1)
    # A re-issued certificate has a number of its own: in 卫生 the weight tells twins apart.
    & pl.when(pl.col("source_l") == "weisheng").then(pl.col("birth_weight_level").fill_null(1) == 1)
    .otherwise(pl.col("birth_cert_level").fill_null(1) == 1)
)

# Evidence of two different children, whatever else agrees (twins share mother and day):
# a different certificate number, a different child ID, or two real names that differ.
CONTRADICTION_RULE = (
    (pl.col("birth_cert_level") == 0)
    | (pl.col("child_id_level") == 0)
    | (pl.col("child_name_level") == 0)
    | (pl.col("birth_order_level") == 0)
    # Siblings: same mother, father and township, born more than 30 days apart. Only
    # something of the child's own (ID, certificate, name) may bridge such a date gap.
    | ((pl.col("birth_date_level") == 0)
       & ~((pl.col("child_id_level") == 2) | (pl.col("birth_cert_level") == 1)
           | (pl.col("child_name_level") >= 2)).fill_null(False))
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


# EM trains on candidate pairs born within 30 days of each other. Siblings (same mother,
# father, township; years apart) break the independence Fellegi-Sunter assumes: left in,
# the match class absorbs them and the prior runs to 1, so every probability reads 1.
TRAINING_PAIRS = pl.col("birth_date_level") >= 1


def train_model(links: pl.DataFrame, levels: pl.DataFrame) -> FellegiSunterModel:
    """u from random pairs; m by EM on near-date candidate pairs; the prior rescaled to all
    candidate pairs (true matches outside the training pairs are rare)."""
    training = levels.filter(TRAINING_PAIRS)
    model = estimate_m(training if training.height else levels, estimate_u(links))
    share = training.height / levels.height if levels.height and training.height else 1.0
    return replace(model, prior=min(max(model.prior * share, 1e-6), 1 - 1e-6))


def with_member_keys(links: pl.DataFrame, records: pl.DataFrame) -> pl.DataFrame:
    """`source:record_id`: how pairs and person ids refer to a record across nights; the
    records' own column when the loader built it (one copy of 2.8M keys, not two)."""
    if "member_key" in records.columns:
        return links.with_columns(records.get_column("member_key"))
    return links.with_columns(
        (pl.col("source") + pl.lit(":") + pl.col("record_id")).alias("member_key"))


def flag_pairs(scored: pl.DataFrame, links: pl.DataFrame) -> pl.DataFrame:
    """Add member keys, and whether a pair may be a duplicate or contradicts a link.

    Both records' source and key are gathered by record number (pairs whose record is not
    in `links` are dropped, as a join would).
    """
    left = record_positions(links, scored.get_column("rec_l"))
    right = record_positions(links, scored.get_column("rec_r"))
    known = left.is_not_null() & right.is_not_null()
    if not known.all():
        scored, left, right = scored.filter(known), left.filter(known), right.filter(known)
    side = links.select("source", "member_key").rechunk()
    source, member_key = side.get_column("source"), side.get_column("member_key")
    return scored.with_columns(
        source.gather(left).alias("source_l"), member_key.gather(left).alias("key_l"),
        source.gather(right).alias("source_r"), member_key.gather(right).alias("key_r"),
    ).with_columns(
        ((pl.col("source_l") == pl.col("source_r")) & DUPLICATE_RULE)
        .fill_null(False).alias("is_duplicate_candidate"),
        CONTRADICTION_RULE.fill_null(False).alias("is_contradiction"),
    ).drop("source_l", "source_r")  # 4M pairs' worth of strings, needed only for the flags


def score_candidates(
    links: pl.DataFrame, pairs: pl.DataFrame, model: FellegiSunterModel | None,
    frequencies: Mapping[str, pl.DataFrame] | None = None,
) -> tuple[pl.DataFrame, FellegiSunterModel]:
    """Compare and score candidate pairs (training a model if none), and flag them."""
    levels = compare_pairs(pairs, links)
    model = model or train_model(links, levels)
    return flag_pairs(score_pairs(levels, links, model, frequencies=frequencies), links), model


def in_key_order(pairs: pl.DataFrame, links: pl.DataFrame) -> pl.DataFrame:
    """Each pair with the record of the smaller member key first, as a full run has them (it
    numbers records in key order): stored pairs then read the same whichever run made them."""
    left = record_positions(links, pairs.get_column("rec_l"))
    right = record_positions(links, pairs.get_column("rec_r"))
    keys = links.get_column("member_key")
    swap = keys.gather(left) > keys.gather(right)
    return pairs.with_columns(
        pl.when(swap).then(pl.col("rec_r")).otherwise(pl.col("rec_l")).alias("rec_l"),
        pl.when(swap).then(pl.col("rec_l")).otherwise(pl.col("rec_r")).alias("rec_r"))


def link_children(
    records: pl.DataFrame,
    model: FellegiSunterModel | None = None,
    settings: ClusterSettings = DEFAULT_CLUSTER_SETTINGS,
    must_link: pl.DataFrame | None = None,
    cannot_link: pl.DataFrame | None = None,
) -> Linkage:
    """Full linkage of all records in use: every record probes every other."""
    links = with_member_keys(link_records(records), records)
    pairs, blocking = block_pairs(links, links)
    scored, model = score_candidates(links, pairs, model)
    clusters, oversized = cluster_records(links, scored, settings, must_link, cannot_link)
    clusters = clusters.join(record_link_probability(clusters, scored), on="rec", how="left")
    return Linkage(links, clusters, scored, blocking, oversized, model)


def relink_children(
    records: pl.DataFrame,
    changed_keys: pl.Series,
    stored_pairs: Callable[[pl.Series], pl.DataFrame],
    children_of: Callable[[pl.Series], pl.DataFrame],
    model: FellegiSunterModel,
    settings: ClusterSettings = DEFAULT_CLUSTER_SETTINGS,
    must_link: pl.DataFrame | None = None,
    cannot_link: pl.DataFrame | None = None,
    frequencies: Callable[[pl.DataFrame], Mapping[str, pl.DataFrame]] | None = None,
) -> Linkage:
    """Nightly linkage: only new and changed records probe; only the children they touch
    are clustered again, so the work grows with the night's records, not with history.

    `stored_pairs`: key_l, key_r, match_probability, match_weight, is_duplicate_candidate,
    is_contradiction from earlier nights among some member keys, given by a function (so
    the state reads only the pairs of the children clustered again). `children_of`:
    member_key, person_id of every record of the earlier children holding some member keys,
    also read when asked (`children_in` serves a frame). `must_link` / `cannot_link`: rec_l,
    rec_r (recs as link_records numbers `records`) from officers' decisions; the children a
    constraint finds broken are clustered again too, and a must-link brings its partner's
    child along. `frequencies`: name frequencies over all records in use for the names of
    some link records, when `records` holds only the night's neighbourhood (every record
    sharing a blocking key with a probe, and their children); by default they are counted
    on `records`.
    Returns clusters (and pairs) for the affected records only.
    """
    links = with_member_keys(link_records(records), records)
    keys = links.select("rec", "member_key")
    constraints = officer_constraints(keys, must_link, cannot_link)
    broken = violated_constraints(constraints, children_of(constraint_members(constraints)))
    probe = links.filter(pl.col("member_key").is_in(changed_keys.implode()))
    candidates, blocking = block_pairs(probe, links)
    scored, _ = score_candidates(links, in_key_order(candidates, links), model,
                                 frequencies(links) if frequencies is not None else None)
    touched = pl.concat([changed_keys, scored.get_column("key_l"),
                         scored.get_column("key_r"), broken]).unique()
    affected = with_their_children(touched, children_of)
    partners = constraints.filter(pl.col("is_must_link")).select(
        pl.when(pl.col("key_l").is_in(affected.implode())).then(pl.col("key_r"))
        .when(pl.col("key_r").is_in(affected.implode())).then(pl.col("key_l")).alias("key")
    ).get_column("key").drop_nulls()
    affected = with_their_children(pl.concat([affected, partners]), children_of)
    subset = links.filter(pl.col("member_key").is_in(affected.implode()))
    index = subset.select("rec", "member_key")
    kept = stored_pairs(subset.get_column("member_key")).filter(
        ~pl.col("key_l").is_in(changed_keys.implode())
        & ~pl.col("key_r").is_in(changed_keys.implode())
    ).join(index.rename({"rec": "rec_l", "member_key": "key_l"}), on="key_l").join(
        index.rename({"rec": "rec_r", "member_key": "key_r"}), on="key_r")
    fresh = scored.join(index.select(pl.col("rec").alias("rec_l")), on="rec_l").join(
        index.select(pl.col("rec").alias("rec_r")), on="rec_r")
    pairs = pl.concat([kept.select(CLUSTER_PAIR_COLUMNS), fresh.select(CLUSTER_PAIR_COLUMNS)])
    inside = subset.get_column("rec").implode()
    within = constraints.filter(pl.col("rec_l").is_in(inside) & pl.col("rec_r").is_in(inside))
    clusters, oversized = cluster_in_key_order(
        subset, pairs, settings, within.filter(pl.col("is_must_link")).select("rec_l", "rec_r"),
        within.filter(~pl.col("is_must_link")).select("rec_l", "rec_r"))
    return Linkage(subset, clusters, scored, blocking, oversized, model)


def cluster_in_key_order(
    subset: pl.DataFrame,
    pairs: pl.DataFrame,
    settings: ClusterSettings,
    must_link: pl.DataFrame,
    cannot_link: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """cluster_records on some records, numbered in member-key order for the while: ties
    in clustering go by record number, so the children come out as a full run (which
    numbers every record in key order) makes them, however the records were read. Returns
    clusters (rec as in `subset`, cluster named in key order, match_probability) and the
    clusters at the size bound."""
    ordered = subset.sort("member_key").select(
        pl.col("rec").alias("old"), pl.int_range(pl.len(), dtype=pl.Int64).alias("rec"),
        "source")
    to_new = ordered.select("old", "rec")

    def renumbered(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.join(to_new.rename({"old": "rec_l", "rec": "new_l"}), on="rec_l").join(
            to_new.rename({"old": "rec_r", "rec": "new_r"}), on="rec_r").with_columns(
            pl.col("new_l").alias("rec_l"), pl.col("new_r").alias("rec_r")).drop(
            "new_l", "new_r")

    keyed_pairs = renumbered(pairs)
    clusters, oversized = cluster_records(ordered.select("rec", "source"), keyed_pairs,
                                          settings, renumbered(must_link),
                                          renumbered(cannot_link))
    clusters = clusters.join(record_link_probability(clusters, keyed_pairs), on="rec",
                             how="left")
    return clusters.join(to_new, on="rec").select(
        pl.col("old").alias("rec"), "cluster", "match_probability"), oversized


def officer_constraints(keys: pl.DataFrame, must_link: pl.DataFrame | None,
                        cannot_link: pl.DataFrame | None) -> pl.DataFrame:
    """rec_l, rec_r, key_l, key_r, is_must_link of officers' must- and cannot-links."""
    parts = [frame.select(pl.col("rec_l").cast(pl.Int64), pl.col("rec_r").cast(pl.Int64),
                          pl.lit(is_must).alias("is_must_link"))
             for frame, is_must in ((must_link, True), (cannot_link, False))
             if frame is not None]
    constraints = pl.concat(parts) if parts else pl.DataFrame(
        schema={"rec_l": pl.Int64, "rec_r": pl.Int64, "is_must_link": pl.Boolean})
    return constraints.join(keys.rename({"rec": "rec_l", "member_key": "key_l"}), on="rec_l"
                            ).join(keys.rename({"rec": "rec_r", "member_key": "key_r"}),
                                   on="rec_r")


def constraint_members(constraints: pl.DataFrame) -> pl.Series:
    """The member keys officers' constraints (key_l, key_r) name."""
    return pl.concat([constraints.get_column("key_l"), constraints.get_column("key_r")])


def with_their_children(keys: pl.Series,
                        children_of: Callable[[pl.Series], pl.DataFrame]) -> pl.Series:
    """The keys, and every record of the children (earlier person ids) they belong to."""
    return pl.concat([keys, children_of(keys).get_column("member_key")]).unique()


def children_in(previous: pl.DataFrame) -> Callable[[pl.Series], pl.DataFrame]:
    """`children_of` over a frame of member_key, person_id (the state reads its own table)."""

    def children_of(keys: pl.Series) -> pl.DataFrame:
        persons = previous.filter(pl.col("member_key").is_in(keys.implode())).get_column(
            "person_id").unique()
        return previous.filter(pl.col("person_id").is_in(persons.implode())).select(
            "member_key", "person_id")

    return children_of


CLUSTER_PAIR_COLUMNS = ("rec_l", "rec_r", "key_l", "key_r", "match_probability", "match_weight",
                        "is_duplicate_candidate", "is_contradiction")


def record_link_probability(clusters: pl.DataFrame, scored: pl.DataFrame) -> pl.DataFrame:
    """Each record's strongest link inside its own cluster (null for a record alone).

    Record numbers index a lookup array of clusters, so the millions of pairs are resolved
    by numpy gathers instead of two joins.
    """
    recs = clusters.get_column("rec").to_numpy()
    left = scored.get_column("rec_l").to_numpy()
    right = scored.get_column("rec_r").to_numpy()
    size = int(max(recs.max(initial=-1), left.max(initial=-1), right.max(initial=-1))) + 1
    cluster_of = np.full(size, -1, dtype=np.int64)
    cluster_of[recs] = clusters.get_column("cluster").to_numpy()
    probability = scored.get_column("match_probability").to_numpy()
    inside = (cluster_of[left] == cluster_of[right]) & (cluster_of[left] >= 0)
    best = np.full(size, -np.inf)
    np.maximum.at(best, left[inside], probability[inside])
    np.maximum.at(best, right[inside], probability[inside])
    linked = recs[np.isfinite(best[recs])]
    probabilities = pl.DataFrame({"rec": linked, "match_probability": best[linked]})
    if linked.size and bool(np.all(linked[1:] > linked[:-1])):
        # Sorted as clusters come (by rec): the caller's join on rec is then a merge.
        probabilities = probabilities.with_columns(pl.col("rec").set_sorted())
    return probabilities


COMPARISON_NAMES = tuple(c.name for c in COMPARISONS)
