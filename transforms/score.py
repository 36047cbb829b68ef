"""Score: a Fellegi-Sunter match weight and probability for each compared pair.

u probabilities come from random record pairs; m probabilities and the prior are estimated
by EM on the candidate pairs without labels. Agreement on a name is adjusted by how common
that name is in the data itself (term frequency): 张伟 = 张伟 says less than a rare name.
Each comparison's weight is kept beside the total so every link can be explained.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from transforms.compare import COMPARISONS, Comparison, compare_pairs, record_positions

U_SAMPLE_PAIRS = 500_000
EM_MAX_ITERATIONS = 40
EM_TOLERANCE = 1e-5
PROBABILITY_FLOOR = 1e-9
M_FLOOR = 0.002
# Names whose exact agreement is weighed by their frequency, and the top level that means it.
TF_ADJUSTED = ("mother_name", "child_name")


@dataclass(frozen=True)
class FellegiSunterModel:
    """m and u probability per comparison level, and the prior match probability."""

    m: dict[str, tuple[float, ...]]
    u: dict[str, tuple[float, ...]]
    prior: float
    iterations: int = 0

    def to_json(self) -> str:
        return json.dumps({"m": self.m, "u": self.u, "prior": self.prior,
                           "iterations": self.iterations}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> FellegiSunterModel:
        data = json.loads(text)
        return cls(m={k: tuple(v) for k, v in data["m"].items()},
                   u={k: tuple(v) for k, v in data["u"].items()},
                   prior=float(data["prior"]), iterations=int(data["iterations"]))

    def weights(self, name: str) -> np.ndarray:
        return np.log2(np.asarray(self.m[name]) / np.asarray(self.u[name]))

    def as_rows(self, comparisons: tuple[Comparison, ...] = COMPARISONS) -> list[dict[str, object]]:
        """One row per comparison level, for the published model table and for officers."""
        rows: list[dict[str, object]] = []
        for comparison in comparisons:
            weights = self.weights(comparison.name)
            for level, label in enumerate(comparison.level_labels):
                rows.append({"comparison": comparison.name, "level": level, "label": label,
                             "m": self.m[comparison.name][level],
                             "u": self.u[comparison.name][level],
                             "weight": float(weights[level])})
        return rows


def level_matrix(levels: pl.DataFrame, comparisons: tuple[Comparison, ...]) -> np.ndarray:
    """Levels as an int8 matrix (pairs x comparisons), -1 where there is no evidence."""
    return np.column_stack([
        levels.get_column(f"{c.name}_level").fill_null(-1).to_numpy().astype(np.int8)
        for c in comparisons
    ]) if levels.height else np.zeros((0, len(comparisons)), dtype=np.int8)


def distinct_patterns(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct row of levels once (in ascending order of its key), and how many rows
    share it."""
    if matrix.shape[0] == 0:
        return matrix, np.zeros(0)
    base = int(matrix.max()) + 2  # levels run from -1 (no evidence) to base - 2
    if float(base) ** matrix.shape[1] < 2.0 ** 62:  # one integer per row: a fast 1-D group-by
        keys = np.zeros(matrix.shape[0], dtype=np.int64)
        for i in range(matrix.shape[1]):
            keys += (matrix[:, i].astype(np.int64) + 1) * base ** i
        groups = pl.DataFrame({"key": keys}).with_row_index("row").group_by("key").agg(
            pl.col("row").first(), pl.len().alias("count")).sort("key")
        return (matrix[groups.get_column("row").to_numpy()],
                groups.get_column("count").to_numpy().astype(float))
    patterns, counts = np.unique(matrix, axis=0, return_counts=True)
    return patterns, counts.astype(float)


def level_frequencies(matrix: np.ndarray, column: int, count: int,
                      weights: np.ndarray | None = None) -> np.ndarray:
    """Share of each level among pairs with evidence, with add-one smoothing."""
    observed = matrix[:, column]
    has = observed >= 0
    counts = np.bincount(observed[has], weights=None if weights is None else weights[has],
                         minlength=count).astype(float)
    return (counts + 1e-3) / (counts.sum() + 1e-3 * count)


def estimate_u(
    records: pl.DataFrame,
    comparisons: tuple[Comparison, ...] = COMPARISONS,
    sample_pairs: int = U_SAMPLE_PAIRS,
    seed: int = 20130504,
) -> dict[str, tuple[float, ...]]:
    """u probabilities: how often each level occurs between two random records."""
    rng = np.random.default_rng(seed)
    n = records.height
    sample = min(sample_pairs, max(n * (n - 1) // 2, 1))
    left = rng.integers(0, n, sample)
    right = rng.integers(0, n, sample)
    keep = left != right
    pairs = pl.DataFrame({"rec_l": left[keep], "rec_r": right[keep]}).cast(pl.Int64)
    matrix = level_matrix(compare_pairs(pairs, records, comparisons), comparisons)
    return {
        c.name: tuple(float(v) for v in level_frequencies(matrix, i, c.level_count))
        for i, c in enumerate(comparisons)
    }


def floored(shares: np.ndarray, floor: float = M_FLOOR) -> np.ndarray:
    """Keep every level possible among matches: data entry errors happen in every field, so
    no single disagreement may veto a link (EM on clean data drives some m to zero)."""
    raised = np.maximum(shares, floor)
    return raised / raised.sum()


def initial_m(comparisons: tuple[Comparison, ...]) -> dict[str, tuple[float, ...]]:
    """A start for EM: matches mostly agree at the top level."""
    m = {}
    for c in comparisons:
        raw = np.array([0.1 ** (c.level_count - 1 - level) for level in range(c.level_count)])
        m[c.name] = tuple(float(v) for v in raw / raw.sum())
    return m


def estimate_m(
    levels: pl.DataFrame,
    u: dict[str, tuple[float, ...]],
    comparisons: tuple[Comparison, ...] = COMPARISONS,
    prior: float = 0.3,
    max_iterations: int = EM_MAX_ITERATIONS,
    tolerance: float = EM_TOLERANCE,
) -> FellegiSunterModel:
    """EM over the candidate pairs: m probabilities and the prior, u held fixed.

    Pairs with the same levels everywhere have the same posterior, so EM runs over each
    distinct pattern once, weighted by how many pairs share it (Splink does the same):
    millions of pairs hold only thousands of patterns.
    """
    matrix, counts = distinct_patterns(level_matrix(levels, comparisons))
    m = {k: np.asarray(v) for k, v in initial_m(comparisons).items()}
    log_u = np.zeros(matrix.shape[0])
    for i, c in enumerate(comparisons):
        table = np.log(np.append(np.asarray(u[c.name]), 1.0))  # index -1 -> log 1 = 0
        log_u += table[matrix[:, i]]
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        log_m = np.zeros(matrix.shape[0])
        for i, c in enumerate(comparisons):
            table = np.log(np.append(np.maximum(m[c.name], PROBABILITY_FLOOR), 1.0))
            log_m += table[matrix[:, i]]
        odds = np.log(prior) - np.log1p(-prior) + log_m - log_u
        posterior = 1.0 / (1.0 + np.exp(-np.clip(odds, -500, 500)))
        weighted = posterior * counts
        new_m = {c.name: floored(level_frequencies(matrix, i, c.level_count, weighted))
                 for i, c in enumerate(comparisons)}
        share = weighted.sum() / counts.sum() if counts.size else prior
        new_prior = float(np.clip(share, 1e-6, 1 - 1e-6))
        change = max([abs(new_prior - prior)]
                     + [float(np.abs(new_m[k] - m[k]).max()) for k in m])
        m, prior = new_m, new_prior
        if change < tolerance:
            break
    return FellegiSunterModel(
        m={k: tuple(float(x) for x in v) for k, v in m.items()},
        u=u, prior=prior, iterations=iterations,
    )


def name_frequencies(records: pl.DataFrame, column: str) -> pl.DataFrame:
    """Share of records carrying each value of a name column (term frequency)."""
    values = records.get_column(column).drop_nulls()
    counts = values.value_counts(name="n")
    return counts.select(pl.col(column), shares(counts.get_column("n"), values.len()).alias(
        f"{column}_tf"))


def shares(counts: pl.Series, total: int) -> pl.Series:
    """Each count's share of `total`, divided exactly: polars divides a column of two or more
    values by a number as a product with its reciprocal (3 / 5 -> 0.6000000000000001), one
    value truly, so a night's few names and a full run's many would differ in a last bit."""
    return pl.Series(counts.cast(pl.Float64).to_numpy() / max(total, 1), dtype=pl.Float64)


def level_weights(levels: pl.Series, weights: np.ndarray) -> pl.Series:
    """Each pair's weight for its level (0.0 where there is no evidence), by table lookup.

    The table has a slot for every int8 level, so no evidence (-1) and any level the model
    does not know read 0.0.
    """
    table = np.zeros(256)
    table[:weights.size] = weights
    return pl.Series(table[levels.cast(pl.Int8).fill_null(-1).to_numpy()], dtype=pl.Float64)


def score_pairs(
    levels: pl.DataFrame,
    records: pl.DataFrame,
    model: FellegiSunterModel,
    comparisons: tuple[Comparison, ...] = COMPARISONS,
    tf_columns: tuple[str, ...] = TF_ADJUSTED,
    frequencies: Mapping[str, pl.DataFrame] | None = None,
) -> pl.DataFrame:
    """Per pair: each comparison's weight (`<name>_weight`), match_weight, match_probability.

    `frequencies`: per name column, (column, <column>_tf) over all records in use, when
    `records` holds only some of them (a night); otherwise counted on `records`.
    """
    weighted = levels.with_columns(
        level_weights(levels.get_column(f"{c.name}_level"), model.weights(c.name)).alias(
            f"{c.name}_weight")
        for c in comparisons
    )
    # Each record's name frequency, gathered onto the pairs by record number: no name text
    # travels with the millions of pairs, and no join hashes them.
    left = record_positions(records, levels.get_column("rec_l"))
    for column in tf_columns:
        top = next(c for c in comparisons if c.name == column).level_count - 1
        u_exact = model.u[column][top]
        counted = (frequencies[column] if frequencies is not None
                   else name_frequencies(records, column))
        tf_of_record = records.select(column).join(
            counted, on=column, how="left", maintain_order="left").get_column(f"{column}_tf")
        weighted = weighted.with_columns(tf_of_record.gather(left).alias(f"{column}_tf")
                                         ).with_columns(
            pl.when(pl.col(f"{column}_level") == top)
            .then(pl.col(f"{column}_weight")
                  + (u_exact / pl.col(f"{column}_tf").clip(lower_bound=1e-9)).log(2))
            .otherwise(pl.col(f"{column}_weight")).alias(f"{column}_weight")
        ).drop(f"{column}_tf")
    prior_weight = float(np.log2(model.prior / (1 - model.prior)))
    return weighted.with_columns(
        (pl.lit(prior_weight) + pl.sum_horizontal(f"{c.name}_weight" for c in comparisons))
        .alias("match_weight")
    ).with_columns(
        (1.0 / (1.0 + (2.0 ** -pl.col("match_weight")))).alias("match_probability")
    )
