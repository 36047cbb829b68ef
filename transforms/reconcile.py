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
# Integer stand-ins for the 21-character ids, which every stage groups, joins and orders by:
# person_key orders like person_id (its dense rank), record_rank like record_id among the
# child's own records (every tie between records is broken within one child).
KEY_COLUMNS = ("person_key", "record_rank")
# Cases are listed by kind, source and child; these Enums sort in the strings' own order.
KIND_ORDER = pl.Enum(sorted(k.value for k in K))
SOURCE_ORDER = pl.Enum(sorted(s.value for s in Source))
CASE_KEYS = ("person_key", "person_id", "kind", "source", "record_rank", "record_id", "detail")
RECORD_KEYS = ("person_key", "person_id", "source", "record_rank", "record_id")


def with_keys(records: pl.DataFrame) -> pl.DataFrame:
    """The records with KEY_COLUMNS, sorted by them: every stage then groups children's
    records by slices, not by hashing ids. The keys are computed here unless the reader gave
    them (the warehouse reads the records sorted by the ids, as DuckDB sorts strings faster,
    and numbers them in that order).

    Both keys are ranks of the ids, so no result depends on the order records come in.
    """
    if not all(key in records.columns for key in KEY_COLUMNS):
        records = records.with_columns(
            pl.col("person_id").rank("dense").cast(pl.UInt32).alias("person_key"),
            pl.col("record_id").rank("min").over("person_id").cast(pl.UInt32)
            .alias("record_rank"))
    elif records.get_column("person_key").flags["SORTED_ASC"]:
        return records  # sorted here before
    return records.sort(KEY_COLUMNS).with_columns(pl.col("person_key").set_sorted())


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
    overrule two that agree, and the same records always give the same child.

    `records` carry KEY_COLUMNS; returns person_key and the field."""
    order = SURVIVORSHIP[field]
    candidates = records.filter(pl.col(field).is_not_null() & pl.col("source").is_in(order)
                                ).group_by("person_key", field).agg(
        pl.col("source").n_unique().alias("votes"), _priority(field).min().alias("priority"),
        pl.col("record_rank").min().alias("first_record"))
    # Integer sort keys only; a child's candidates never tie on first_record.
    return candidates.sort(["person_key", "votes", "priority", "first_record"],
                           descending=[False, True, False, False]).filter(
        pl.col("person_key").is_first_distinct()).select("person_key", field)


def _candidate(field: str) -> pl.Expr:
    """The field's value where its department may give it (survivorship), else null."""
    order = SURVIVORSHIP[field]
    if set(order) == {s.value for s in Source}:
        return pl.col(field)
    return pl.when(pl.col("source").is_in(order)).then(pl.col(field))


def reconcile_persons(records: pl.DataFrame) -> pl.DataFrame:
    """The golden record of each child, field by field, in person_id order (with its
    person_key, which find_discrepancies joins the same records by).

    Most children's departments agree on a field, or only one gives it: that value wins
    whatever the vote, so the vote (surviving_values) runs only where they differ.
    """
    records = with_keys(records)
    # Lazy: grouped eagerly, the whole records frame was copied (+0.8 GB RSS at 1M).
    persons = records.lazy().group_by("person_key").agg(
        pl.col("person_id").first(), pl.len().alias("record_count"),
        *[(pl.col("source") == s.value).any().alias(f"in_{s.value}") for s in Source],
        *[_candidate(field).min().alias(field) for field in SURVIVORSHIP],
        *[_candidate(field).max().alias(f"{field}_max") for field in SURVIVORSHIP],
    ).collect().sort("person_key")
    # The children each field is contested for, then the max columns go before the votes
    # (each update copies the frame).
    contested_keys = {field: persons.filter(pl.col(field) != pl.col(f"{field}_max")).select(
        "person_key") for field in SURVIVORSHIP}
    persons = persons.drop(f"{field}_max" for field in SURVIVORSHIP)
    for field, contested in contested_keys.items():
        if contested.height:
            voted = surviving_values(records.lazy().select(*KEY_COLUMNS, "source", field).join(
                contested.lazy(), on="person_key", how="semi").collect(), field)
            persons = persons.update(voted, on="person_key", how="left")
    # Sorted (by person_key, as person_id) first: twins tie on birth date, and the tie must
    # break the same way every run.
    persons = persons.sort("person_key").select(
        "person_id", "record_count", *[f"in_{s.value}" for s in Source], *SURVIVORSHIP,
        "person_key")
    return persons.with_columns(inferred_birth_order(persons))


def inferred_birth_order(persons: pl.DataFrame) -> pl.Expr:
    """Birth order from 计生, else from the mother's children in the data (3 = third or later).

    Twins count as two births, as 计生 counts them."""
    rank = pl.col("birth_date").rank("ordinal").over("mother_pseudonym")
    from_mother = pl.when(pl.col("mother_pseudonym").is_not_null()
                          & pl.col("birth_date").is_not_null()).then(rank.clip(1, 3).cast(pl.Int8))
    return pl.coalesce(pl.col("birth_order"), from_mother).cast(pl.Int8).alias("birth_order")


def _departing(judged: pl.DataFrame, field: str, kind: K, compare: str | None = None,
               civil: bool = False) -> pl.DataFrame:
    """Records whose own value departs from the child's, where the departments disagree
    (民政's records only when `civil`).

    `judged`: records beside their child's golden values (golden_<field>)."""
    compare = compare or field
    golden = pl.col(f"golden_{compare}")
    # Lazy, so that the filters copy only the columns a case needs, not all of `judged`'s;
    # values are counted per child only for the few children with a departing value (over all
    # children, the count by child of 2.8M values was the publish's peak).
    compared = judged.lazy().filter(pl.col(compare).is_not_null()
                                    & (pl.lit(civil) | (pl.col("source") != "minzheng")))
    suspects = compared.filter(pl.col(compare) != golden).select("person_key").unique()
    disagreeing = compared.join(suspects, on="person_key", how="semi").filter(
        (pl.col(compare).n_unique().over("person_key") > 1) & (pl.col(compare) != golden))
    return disagreeing.select(*case_columns(kind, formatted(
        "{} {} ≠ {}", pl.lit(field), pl.col(field).cast(pl.String), golden.cast(pl.String)))
    ).collect()


# The fields whose departing values are cases (conflicts).
COMPARED = ("sex", "birth_date", "child_name", "mother_name_pinyin", "mother_pseudonym")


def beside_golden(records: pl.DataFrame, persons: pl.DataFrame) -> pl.DataFrame:
    """The records' compared fields beside their child's golden values (one join, only the
    columns the conflicts need)."""
    return records.select(*RECORD_KEYS, *COMPARED, "mother_name").join(
        persons.select("person_key", *[pl.col(c).alias(f"golden_{c}") for c in COMPARED]),
        on="person_key", how="left")


def find_discrepancies(records: pl.DataFrame, persons: pl.DataFrame, as_of: object
                       ) -> pl.DataFrame:
    """Every (person, kind, source) discrepancy, with its status and severity.

    `persons`: reconcile_persons of the same records. `as_of` is the run's date: deadlines
    never read the clock.
    """
    records = with_keys(records)
    judged = beside_golden(records, persons)
    found = [
        _departing(judged, "sex", K.SEX_CONFLICT),
        _departing(judged, "birth_date", K.BIRTH_DATE_CONFLICT),
        _departing(judged, "child_name", K.NAME_CONFLICT, civil=True),
        _departing(judged, "mother_name", K.MOTHER_CONFLICT, compare="mother_name_pinyin"),
        _departing(judged, "mother_pseudonym", K.MOTHER_CONFLICT),
        duplicate_registrations(records),
        missing_departments(persons, as_of),
        civil_events(records),
        id_problems(records),
        shared_ids(records),
        late_registrations(records),
        missing_child_ids(records, persons),
    ]
    del judged
    every = pl.concat([f.select(*CASE_KEYS, pl.lit(finder, dtype=pl.UInt8).alias("finder"))
                       for finder, f in enumerate(found)], how="vertical_relaxed")
    # One case per (child, kind, department): the first finder's, and within it the smallest
    # record id, whatever order the records came in (a nightly run reads only some). Sorted
    # by integers and Enums, which puts the cases in (kind, source, person_id) order too.
    every = every.sort(pl.col("kind").cast(KIND_ORDER), pl.col("source").cast(SOURCE_ORDER),
                       "person_key", "finder", "record_rank", nulls_last=True)
    every = every.filter(pl.struct("kind", "source", "person_key").is_first_distinct())
    explained = persons.filter(pl.col("in_minzheng")).get_column("person_key")
    return every.with_columns(
        pl.when(pl.col("kind").is_in([k.value for k in EVENT_KINDS.values()]))
        .then(pl.lit(DiscrepancyStatus.EXPLAINED.value))
        .when(pl.col("kind").is_in([K.MISSING_IN_GONGAN.value, K.MISSING_IN_JISHENG.value,
                                    K.MISSING_IN_WEISHENG.value])
              & pl.col("person_key").is_in(explained.implode()))
        .then(pl.lit(DiscrepancyStatus.EXPLAINED.value))
        .otherwise(pl.lit(DiscrepancyStatus.OPEN.value)).alias("status"),
        pl.col("kind").replace_strict({k.value: v for k, v in SEVERITY.items()},
                                      default="medium").alias("severity"),
    ).select(DISCREPANCY_COLUMNS)


def duplicate_registrations(records: pl.DataFrame) -> pl.DataFrame:
    """A department holding the child more than once (民政 events may repeat legitimately)."""
    twice = records.select(*RECORD_KEYS).filter(
        (pl.col("source") != "minzheng") & (pl.len().over("person_key", "source") > 1))
    return twice.group_by("person_key", "source").agg(
        pl.col("person_id").first(), pl.col("record_id").sort().alias("ids"),
        pl.col("record_rank").sort().get(1), pl.len().alias("n")).select(
        "person_key", "person_id", pl.lit(K.DUPLICATE_REGISTRATION.value).alias("kind"),
        "source", "record_rank", pl.col("ids").list.get(1).alias("record_id"),
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
            "person_key", "person_id", pl.lit(kind.value).alias("kind"),
            pl.lit(source).alias("source"), pl.lit(None, dtype=pl.UInt32).alias("record_rank"),
            pl.lit(None, dtype=pl.String).alias("record_id"),
            formatted("born {}", pl.col("birth_date").cast(pl.String)).alias("detail"))
        for kind, source, rule in rules
    ])


def civil_events(records: pl.DataFrame) -> pl.DataFrame:
    """民政's infant deaths, adoptions and foundlings: they explain gaps elsewhere."""
    events = records.lazy().filter(
        (pl.col("source") == "minzheng") & pl.col("event_type").is_not_null())
    return events.select(
        "person_key", "person_id", "event_type", pl.lit("minzheng").alias("source"),
        "record_rank", "record_id",
        formatted("{} on {}", pl.col("event_type"), pl.col("event_date").cast(pl.String))
        .alias("detail")).with_columns(
        pl.col("event_type").replace_strict(
            {k: v.value for k, v in EVENT_KINDS.items()}, default=None).alias("kind")
    ).drop_nulls("kind").drop("event_type").collect()


def case_columns(kind: K, detail: pl.Expr) -> list[pl.Expr]:
    """CASE_KEYS of a case a record raises: the record names it."""
    return [pl.col("person_key"), pl.col("person_id"), pl.lit(kind.value).alias("kind"),
            pl.col("source"), pl.col("record_rank"), pl.col("record_id"), detail.alias("detail")]


def id_problems(records: pl.DataFrame) -> pl.DataFrame:
    """Invalid or damaged child ID numbers; valid ones whose date or sex digit disagrees."""
    problem = pl.col("child_id_number_problem")
    invalid = records.filter(problem.is_not_null()
                             & ~problem.is_in([IdProblem.UPGRADED_15.value])).select(
        *case_columns(K.INVALID_ID, formatted("{} ({})", pl.col("child_id_masked"), problem)))
    valid = problem.is_null() | (problem == IdProblem.UPGRADED_15.value)
    dates = records.filter(valid & pl.col("child_id_number_birth_date").is_not_null()
                         & pl.col("birth_date").is_not_null()
                         & (pl.col("child_id_number_birth_date") != pl.col("birth_date"))).select(
        *case_columns(K.ID_BIRTH_DATE_MISMATCH, formatted(
            "ID says {}, record says {}", pl.col("child_id_number_birth_date").cast(pl.String),
            pl.col("birth_date").cast(pl.String))))
    sexes = records.filter(valid & pl.col("child_id_number_sex").is_not_null()
                           & pl.col("sex").is_not_null()
                           & (pl.col("child_id_number_sex") != pl.col("sex"))).select(
        *case_columns(K.ID_SEX_MISMATCH, formatted(
            "ID says {}, record says {}", pl.col("child_id_number_sex").cast(pl.String),
            pl.col("sex").cast(pl.String))))
    return pl.concat([invalid, dates, sexes])


def shared_ids(records: pl.DataFrame) -> pl.DataFrame:
    """一号多人: one valid child ID number on records of different children."""
    valid = records.select(*RECORD_KEYS, "child_id_pseudonym", "child_id_number_problem",
                           "child_id_masked").filter(
        pl.col("child_id_pseudonym").is_not_null() & pl.col("child_id_number_problem").is_null())
    return valid.filter(pl.col("person_key").n_unique().over("child_id_pseudonym") > 1).select(
        *case_columns(K.SHARED_ID,
                      formatted("{} also on another child", pl.col("child_id_masked"))))


def late_registrations(records: pl.DataFrame) -> pl.DataFrame:
    """Hukou declared more than one calendar month after birth."""
    late = records.lazy().filter(
        (pl.col("source") == "gongan") & pl.col("declared_date").is_not_null()
        & pl.col("birth_date").is_not_null()
        & (pl.col("declared_date") > pl.col("birth_date").dt.offset_by(
            f"{HUKOU_GRACE_MONTHS}mo")))
    return late.select(*case_columns(K.LATE_REGISTRATION, formatted(
        "born {}, declared {}", pl.col("birth_date").cast(pl.String),
        pl.col("declared_date").cast(pl.String)))).collect()


def missing_child_ids(records: pl.DataFrame, persons: pl.DataFrame) -> pl.DataFrame:
    """计生 records without the child's valid ID although the child has a hukou."""
    with_hukou = persons.filter(pl.col("in_gongan")).select("person_key")
    lacking = records.lazy().filter((pl.col("source") == "jisheng")
                                    & (pl.col("child_id_pseudonym").is_null()
                                       | pl.col("child_id_number_problem").is_not_null())).join(
        with_hukou.lazy(), on="person_key")
    return lacking.select(*case_columns(
        K.MISSING_CHILD_ID,
        pl.lit("计生 record lacks the child's ID number after hukou registration"))).collect()
