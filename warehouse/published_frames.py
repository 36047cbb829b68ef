"""Published label tables: code-to-Chinese-label lookups for reports."""

from __future__ import annotations

import polars as pl

from schemas.codes import DiscrepancyKind, QuarantineReason, Source
from schemas.labels import DISCREPANCY_KIND_LABELS, QUARANTINE_REASON_LABELS, SOURCE_LABELS


def label_frames(divisions: pl.DataFrame, run_id: str) -> dict[str, pl.DataFrame]:
    """Code-to-Chinese-label tables for sources, kinds, reasons and townships."""

    def frame(pairs: list[tuple[str, str]]) -> pl.DataFrame:
        return pl.DataFrame(pairs, schema={"code": pl.String, "label": pl.String},
                            orient="row").with_columns(pl.lit(run_id).alias("run_id"))

    return {
        "label_source": frame([(s.value, SOURCE_LABELS[s]) for s in Source]),
        "label_kind": frame([(k.value, DISCREPANCY_KIND_LABELS[k]) for k in DiscrepancyKind]),
        "label_reason": frame([(r.value, QUARANTINE_REASON_LABELS[r])
                               for r in QuarantineReason]),
        "label_township": divisions.select(
            pl.col("township_code").alias("code"), pl.col("township_name").alias("label"),
            pl.lit(run_id).alias("run_id"),
        ).unique("code", keep="first").sort("code"),
    }
