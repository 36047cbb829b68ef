"""Published tables computed in polars (transforms) from state queries: sex ratio, labels."""

from __future__ import annotations

import duckdb
import polars as pl

from schemas.codes import DiscrepancyKind, QuarantineReason, Source
from schemas.labels import DISCREPANCY_KIND_LABELS, QUARANTINE_REASON_LABELS, SOURCE_LABELS
from transforms.indicators import sex_ratio_cells
from warehouse import published_queries as queries

RECONCILED = "reconciled"


def sex_ratio_frame(connection: duckdb.DuckDBPyConnection, run_id: str) -> pl.DataFrame:
    """Departments by their own values (birth order from 计生, else the child's) + reconciled."""
    departments = connection.sql(queries.department_children_sql()).pl()
    persons = connection.sql(
        "SELECT person_id, sex, township_code, birth_date, birth_order FROM ("
        + queries.person_sql(run_id) + ")").pl()
    departments = departments.join(
        persons.select("person_id", pl.col("birth_order").alias("child_birth_order")),
        on="person_id", how="left",
    ).with_columns(
        pl.when(pl.col("source") == Source.JISHENG.value).then(pl.col("birth_order"))
        .otherwise(pl.col("child_birth_order")).alias("birth_order")
    )
    children = pl.concat([
        departments.select("source", "sex", "township_code", "birth_date", "birth_order"),
        persons.select(pl.lit(RECONCILED).alias("source"), "sex", "township_code",
                       "birth_date", "birth_order"),
    ], how="vertical_relaxed")
    return sex_ratio_cells(children).with_columns(pl.lit(run_id).alias("run_id"))


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
