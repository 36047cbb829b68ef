"""Reconcile: one golden record per child, and the register of discrepancies between books.

Comes in: every record in use with its person_id (its department's own values, pseudonyms
and masked ID numbers, never raw ones). Goes out: `person` rows and `discrepancy` rows.
"""

from __future__ import annotations

import polars as pl

from schemas.codes import DiscrepancyKind as K
from schemas.codes import DiscrepancyStatus, IdProblem, Source

# Survivorship: which department's value a child takes, field by field, first non-null wins.
# The hospital certificate is made at birth (sex, date); hukou carries the legal name and
# residence; family planning records the birth order.
SURVIVORSHIP: dict[str, tuple[str, ...]] = {
    "sex": ("weisheng", "gongan", "jisheng", "minzheng"),
    "birth_date": ("weisheng", "gongan", "jisheng", "minzheng"),
    "child_name": ("gongan", "jisheng", "minzheng", "weisheng"),
    "township_code": ("gongan", "jisheng", "weisheng", "minzheng"),
    "birth_order": ("jisheng",),
    "mother_pseudonym": ("weisheng", "gongan", "jisheng", "minzheng"),
    "mother_name_pinyin": ("weisheng", "gongan", "jisheng", "minzheng"),
}
SEVERITY: dict[K, str] = {
    K.SEX_CONFLICT: "high", K.MISSING_IN_GONGAN: "high", K.SHARED_ID: "high",
    K.DUPLICATE_REGISTRATION: "high", K.BIRTH_DATE_CONFLICT: "medium",
    K.MISSING_IN_JISHENG: "medium", K.MISSING_IN_WEISHENG: "medium",
    K.MOTHER_CONFLICT: "medium", K.INVALID_ID: "medium", K.ID_BIRTH_DATE_MISMATCH: "medium",
    K.ID_SEX_MISMATCH: "medium", K.MISSING_CHILD_ID: "medium", K.NAME_CONFLICT: "low",
    K.LATE_REGISTRATION: "low", K.INFANT_DEATH: "info", K.ADOPTION: "info", K.FOUNDLING: "info",
}
EVENT_KINDS = {"infant_death": K.INFANT_DEATH, "adoption": K.ADOPTION, "foundling": K.FOUNDLING}
VALID_ID = (None, IdProblem.UPGRADED_15.value)
# 未落户 is judged one calendar month after birth, as of the run's as-of date.
HUKOU_GRACE_MONTHS = 1
DISCREPANCY_COLUMNS = ("person_id", "kind", "source", "record_id", "status", "severity",
                       "detail")


def formatted(template: str, *values: pl.Expr) -> pl.Expr:
    """pl.format's job through concat_str: pl.format panics on multi-chunk string columns
    in polars 2.1. A null value prints as an empty string."""
    pieces = template.split("{}")
    parts: list[pl.Expr] = [pl.lit(pieces[0])]
    for value, piece in zip(values, pieces[1:], strict=True):
        parts += [value.cast(pl.String).fill_null(""), pl.lit(piece)]
    return pl.concat_str(parts)


def _priority(field: str) -> pl.Expr:
    order = SURVIVORSHIP[field]
    return pl.col("source").replace_strict(list(order), list(range(len(order))), default=None,
                                           return_dtype=pl.Int32)


def surviving_values(records: pl.DataFrame, field: str) -> pl.DataFrame:
    """The value most departments give (each department one vote), ties broken by the
    survivorship order, then by the smallest record id: one department's slip does not
    overrule two that agree, and the same records always give the same child."""
    order = SURVIVORSHIP[field]
    return records.filter(pl.col(field).is_not_null() & pl.col("source").is_in(order)).with_columns(
        _priority(field).alias("priority")
    ).group_by("person_id", field).agg(
        pl.col("source").n_unique().alias("votes"), pl.col("priority").min(),
        pl.col("record_id").min().alias("first_record"),
    ).sort(["votes", "priority", "first_record"], descending=[True, False, False]).unique(
        "person_id", keep="first", maintain_order=True).select("person_id", field)


def reconcile_persons(records: pl.DataFrame) -> pl.DataFrame:
    """The golden record of each child, field by field."""
    persons = records.group_by("person_id").agg(
        pl.len().alias("record_count"),
        *[(pl.col("source") == s.value).any().alias(f"in_{s.value}") for s in Source],
    )
    for field in SURVIVORSHIP:
        persons = persons.join(surviving_values(records, field), on="person_id", how="left")
    # Sorted first: twins tie on birth date, and the tie must break the same way every run.
    persons = persons.sort("person_id")
    return persons.with_columns(inferred_birth_order(persons))


def inferred_birth_order(persons: pl.DataFrame) -> pl.Expr:
    """Birth order from 计生, else from the mother's children in the data (3 = third or later).

    Twins count as two births, as 计生 counts them."""
    rank = pl.col("birth_date").rank("ordinal").over("mother_pseudonym")
    from_mother = pl.when(pl.col("mother_pseudonym").is_not_null()
                          & pl.col("birth_date").is_not_null()).then(rank.clip(1, 3).cast(pl.Int8))
    return pl.coalesce(pl.col("birth_order"), from_mother).cast(pl.Int8).alias("birth_order")


def _departing(records: pl.DataFrame, persons: pl.DataFrame, field: str, kind: K,
               compare: str | None = None) -> pl.DataFrame:
    """Records whose own value departs from the child's, where the departments disagree."""
    compare = compare or field
    joined = records.filter(pl.col(compare).is_not_null()).join(
        persons.select("person_id", pl.col(compare).alias("golden")), on="person_id")
    disagreeing = joined.filter(
        (pl.col(compare).n_unique().over("person_id") > 1) & (pl.col(compare) != pl.col("golden")))
    return disagreeing.select(
        "person_id", pl.lit(kind.value).alias("kind"), "source", "record_id",
        formatted("{} {} ≠ {}", pl.lit(field), pl.col(field).cast(pl.String),
                  pl.col("golden").cast(pl.String)).alias("detail"),
    )


def find_discrepancies(records: pl.DataFrame, persons: pl.DataFrame, as_of: object
                       ) -> pl.DataFrame:
    """Every (person, kind, source) discrepancy, with its status and severity.

    `as_of` is the run's date: deadlines never read the clock.
    """
    found = [
        _departing(records.filter(pl.col("source") != "minzheng"), persons, "sex",
                   K.SEX_CONFLICT),
        _departing(records.filter(pl.col("source") != "minzheng"), persons, "birth_date",
                   K.BIRTH_DATE_CONFLICT),
        _departing(records, persons, "child_name", K.NAME_CONFLICT),
        _departing(records.filter(pl.col("source") != "minzheng"), persons, "mother_name",
                   K.MOTHER_CONFLICT, compare="mother_name_pinyin"),
        _departing(records.filter(pl.col("source") != "minzheng"), persons, "mother_pseudonym",
                   K.MOTHER_CONFLICT),
        duplicate_registrations(records),
        missing_departments(persons, as_of),
        civil_events(records),
        id_problems(records),
        shared_ids(records),
        late_registrations(records),
        missing_child_ids(records, persons),
    ]
    every = pl.concat([f.select("person_id", "kind", "source", "record_id", "detail",
                                pl.lit(finder).alias("finder"))
                       for finder, f in enumerate(found)], how="vertical_relaxed")
    # One case per (child, kind, department): the first finder's, and within it the smallest
    # record id, whatever order the records came in (a nightly run reads only some).
    every = every.sort("person_id", "kind", "source", "finder", "record_id",
                       nulls_last=True).unique(["person_id", "kind", "source"], keep="first",
                                               maintain_order=True).drop("finder")
    explained = persons.filter(pl.col("in_minzheng")).select("person_id")
    return every.with_columns(
        pl.when(pl.col("kind").is_in([k.value for k in EVENT_KINDS.values()]))
        .then(pl.lit(DiscrepancyStatus.EXPLAINED.value))
        .when(pl.col("kind").is_in([K.MISSING_IN_GONGAN.value, K.MISSING_IN_JISHENG.value,
                                    K.MISSING_IN_WEISHENG.value])
              & pl.col("person_id").is_in(explained.get_column("person_id").implode()))
        .then(pl.lit(DiscrepancyStatus.EXPLAINED.value))
        .otherwise(pl.lit(DiscrepancyStatus.OPEN.value)).alias("status"),
        pl.col("kind").replace_strict({k.value: v for k, v in SEVERITY.items()},
                                      default="medium").alias("severity"),
    ).select(DISCREPANCY_COLUMNS).sort("kind", "source", "person_id")


def duplicate_registrations(records: pl.DataFrame) -> pl.DataFrame:
    """A department holding the child more than once (民政 events may repeat legitimately)."""
    return records.filter(pl.col("source") != "minzheng").group_by("person_id", "source").agg(
        pl.col("record_id").sort().alias("ids"), pl.len().alias("n")).filter(
        pl.col("n") > 1).select(
        "person_id", pl.lit(K.DUPLICATE_REGISTRATION.value).alias("kind"), "source",
        pl.col("ids").list.get(1).alias("record_id"),
        formatted("{} records: {}", pl.col("n"), pl.col("ids").list.join(", ")).alias("detail"))


def missing_departments(persons: pl.DataFrame, as_of: object) -> pl.DataFrame:
    """未落户, 无出生医学证明, 计生漏报: a child one department does not hold."""
    due = pl.col("birth_date").dt.offset_by(f"{HUKOU_GRACE_MONTHS}mo") < pl.lit(as_of)
    rules = (
        (K.MISSING_IN_GONGAN, "gongan", ~pl.col("in_gongan") & due),
        # A child only 民政 knows (a foundling, an infant who died unregistered) is missing
        # from the others too: explained gaps, shown so that every absence is accounted for.
        (K.MISSING_IN_WEISHENG, "weisheng",
         (pl.col("in_gongan") | pl.col("in_jisheng") | pl.col("in_minzheng"))
         & ~pl.col("in_weisheng")),
        (K.MISSING_IN_JISHENG, "jisheng",
         (pl.col("in_gongan") | pl.col("in_weisheng") | pl.col("in_minzheng"))
         & ~pl.col("in_jisheng")),
    )
    return pl.concat([
        persons.filter(rule.fill_null(False)).select(
            "person_id", pl.lit(kind.value).alias("kind"), pl.lit(source).alias("source"),
            pl.lit(None, dtype=pl.String).alias("record_id"),
            formatted("born {}", pl.col("birth_date").cast(pl.String)).alias("detail"))
        for kind, source, rule in rules
    ])


def civil_events(records: pl.DataFrame) -> pl.DataFrame:
    """民政's infant deaths, adoptions and foundlings: they explain gaps elsewhere."""
    events = records.filter((pl.col("source") == "minzheng") & pl.col("event_type").is_not_null())
    return events.select(
        "person_id", "event_type", pl.lit("minzheng").alias("source"), "record_id",
        formatted("{} on {}", pl.col("event_type"), pl.col("event_date").cast(pl.String))
        .alias("detail")).with_columns(
        pl.col("event_type").replace_strict(
            {k: v.value for k, v in EVENT_KINDS.items()}, default=None).alias("kind")
    ).drop_nulls("kind").drop("event_type")


def id_problems(records: pl.DataFrame) -> pl.DataFrame:
    """Invalid or damaged child ID numbers; valid ones whose date or sex digit disagrees."""
    invalid = records.filter(pl.col("child_id_number_problem").is_not_null()
                             & ~pl.col("child_id_number_problem").is_in(
                                 [IdProblem.UPGRADED_15.value])).select(
        "person_id", pl.lit(K.INVALID_ID.value).alias("kind"), "source", "record_id",
        formatted("{} ({})", pl.col("child_id_masked"), pl.col("child_id_number_problem"))
        .alias("detail"))
    valid = records.filter(pl.col("child_id_number_problem").is_null()
                           | (pl.col("child_id_number_problem") == IdProblem.UPGRADED_15.value))
    dates = valid.filter(pl.col("child_id_number_birth_date").is_not_null()
                         & pl.col("birth_date").is_not_null()
                         & (pl.col("child_id_number_birth_date") != pl.col("birth_date"))).select(
        "person_id", pl.lit(K.ID_BIRTH_DATE_MISMATCH.value).alias("kind"), "source",
        "record_id", formatted("ID says {}, record says {}",
                               pl.col("child_id_number_birth_date").cast(pl.String),
                               pl.col("birth_date").cast(pl.String)).alias("detail"))
    sexes = valid.filter(pl.col("child_id_number_sex").is_not_null() & pl.col("sex").is_not_null()
                         & (pl.col("child_id_number_sex") != pl.col("sex"))).select(
        "person_id", pl.lit(K.ID_SEX_MISMATCH.value).alias("kind"), "source", "record_id",
        formatted("ID says {}, record says {}", pl.col("child_id_number_sex").cast(pl.String),
                  pl.col("sex").cast(pl.String)).alias("detail"))
    return pl.concat([invalid, dates, sexes])


def shared_ids(records: pl.DataFrame) -> pl.DataFrame:
    """一号多人: one valid child ID number on records of different children."""
    valid = records.filter(pl.col("child_id_pseudonym").is_not_null()
                           & pl.col("child_id_number_problem").is_null())
    return valid.filter(pl.col("person_id").n_unique().over("child_id_pseudonym") > 1).select(
        "person_id", pl.lit(K.SHARED_ID.value).alias("kind"), "source", "record_id",
        formatted("{} also on another child", pl.col("child_id_masked")).alias("detail"))


def late_registrations(records: pl.DataFrame) -> pl.DataFrame:
    """Hukou declared more than one calendar month after birth."""
    late = records.filter(
        (pl.col("source") == "gongan") & pl.col("declared_date").is_not_null()
        & pl.col("birth_date").is_not_null()
        & (pl.col("declared_date") > pl.col("birth_date").dt.offset_by(
            f"{HUKOU_GRACE_MONTHS}mo")))
    return late.select(
        "person_id", pl.lit(K.LATE_REGISTRATION.value).alias("kind"), "source", "record_id",
        formatted("born {}, declared {}", pl.col("birth_date").cast(pl.String),
                  pl.col("declared_date").cast(pl.String)).alias("detail"))


def missing_child_ids(records: pl.DataFrame, persons: pl.DataFrame) -> pl.DataFrame:
    """计生 records without the child's valid ID although the child has a hukou."""
    with_hukou = persons.filter(pl.col("in_gongan")).select("person_id")
    lacking = records.filter((pl.col("source") == "jisheng")
                             & (pl.col("child_id_pseudonym").is_null()
                                | pl.col("child_id_number_problem").is_not_null())).join(
        with_hukou, on="person_id")
    return lacking.select(
        "person_id", pl.lit(K.MISSING_CHILD_ID.value).alias("kind"), "source", "record_id",
        pl.lit("计生 record lacks the child's ID number after hukou registration").alias(
            "detail"))
