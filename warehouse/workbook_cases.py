"""Officers' workbook, the case rows: every open case with each department's record side by
side, the record it concerns (对应记录) and the stored scored pair that explains the link.

Comes in: the restricted state with the published file attached (workbook_frames). Goes out:
one row of text per case, every ID number masked as soon as it is read.
"""

from __future__ import annotations

import duckdb
import polars as pl

from schemas.codes import DiscrepancyKind as K
from schemas.labels import SEX_LABELS
from schemas.workbook import (
    CASE_COLUMNS,
    DECISION_COLUMNS,
    DEPARTMENT_FIELDS,
    LEVEL_QUALIFIER_LABELS,
    SEVERITY_LABELS,
    SEX_UNKNOWN_LABEL,
    UNPLACED_TOWNSHIP_LABEL,
)
from transforms.compare import COMPARISONS, Comparison
from transforms.normalise_ids import mask_id_number
from transforms.reconcile import SURVIVORSHIP
from warehouse.published_queries import valid_pseudonym_sql
from warehouse.state_store import registered, release_cached_memory
from warehouse.workbook_frames import PUBLISHED, SOURCE_LABELS, masked_text, township_label

# The record a case about the whole child (未落户 ...) is shown with: the certificate first.
REPRESENTATIVE_ORDER = SURVIVORSHIP["sex"]
MATCH_FIELDS = ("member_key", "person_id", "source", "sex", "birth_date", "child_name",
                "mother_name_pinyin", "mother_pseudonym", "child_id_pseudonym", "priority",
                "member_order")


def open_cases_sql() -> str:
    return f"""
SELECT d.discrepancy_id, d.person_id, d.kind, d.source, d.record_id, d.severity, d.detail,
       p.township_code
FROM {PUBLISHED}.discrepancy d LEFT JOIN {PUBLISHED}.person p USING (person_id)
WHERE d.status = 'open'"""


def members_sql() -> str:
    """The records a case can show or be explained by, with their child, the fields shown and
    the fields partners are chosen by: every record of a child with an open case, and those
    sharing a child ID with an open 一号多人 case's record (at 1M, 55% of the records). ID
    numbers leave the database only to be masked."""
    return f"""
WITH member AS ({every_member_sql()}),
case_child AS (SELECT DISTINCT person_id FROM {PUBLISHED}.discrepancy WHERE status = 'open'),
shared AS (
  SELECT DISTINCT m.child_id_pseudonym FROM member m JOIN {PUBLISHED}.discrepancy d
    ON m.member_key = d.source || ':' || d.record_id
  WHERE d.status = 'open' AND d.kind = '{K.SHARED_ID.value}'
    AND m.child_id_pseudonym IS NOT NULL)
SELECT * FROM member
WHERE person_id IN (SELECT person_id FROM case_child)
   OR child_id_pseudonym IN (SELECT child_id_pseudonym FROM shared)"""


def every_member_sql() -> str:
    """Every record in use with its child and the columns members_sql reads."""
    return f"""
SELECT r.source || ':' || r.record_id AS member_key, r.source, p.person_id,
       r.child_name, r.child_name_raw, r.sex, r.birth_date, r.birth_date_raw, r.township_code,
       r.township_raw, r.mother_name_raw, r.mother_name_pinyin,
       {valid_pseudonym_sql('r.mother_pseudonym', 'r.mother_id_number_problem')}
         AS mother_pseudonym,
       {valid_pseudonym_sql('r.child_id_pseudonym', 'r.child_id_number_problem')}
         AS child_id_pseudonym,
       coalesce(r.child_id_number, r.child_id_number_raw) AS child_id_text,
       coalesce(r.mother_id_number, r.mother_id_number_raw) AS mother_id_text
FROM records_in_use r JOIN record_person p USING (source, record_id)"""


def pairs_sql(case_keys: str) -> str:
    """Stored scored pairs touching a case's record (table `case_keys`, column
    case_record): the only ones a case's partner can be explained by. Keyed by their two
    record keys in sorted order."""
    evidence = ", ".join(f"{c.name}_level, {c.name}_weight" for c in COMPARISONS)
    return f"""
SELECT least(key_l, key_r) AS pair_a, greatest(key_l, key_r) AS pair_b, match_probability,
       {evidence}
FROM link_pairs
WHERE key_l IN (SELECT case_record FROM {case_keys})
   OR key_r IN (SELECT case_record FROM {case_keys})"""


def case_pairs(state: duckdb.DuckDBPyConnection, cases: pl.DataFrame) -> pl.DataFrame:
    """The stored pairs touching the cases' records (at 1M, fewer than half of them)."""
    with registered(state, "case_keys", cases.select("case_record").drop_nulls().unique()):
        return state.sql(pairs_sql("case_keys")).pl()


def load_members(state: duckdb.DuckDBPyConnection, names: dict[str, str]) -> pl.DataFrame:
    """Records with their display fields (IDs masked, text scanned) and matching fields."""
    members = state.sql(members_sql()).pl()
    order = {source: rank for rank, source in enumerate(REPRESENTATIVE_ORDER)}
    return members.select(
        "member_key", "person_id", "source", "sex", "birth_date", "child_name",
        "mother_name_pinyin", "mother_pseudonym", "child_id_pseudonym",
        pl.col("source").replace_strict(order, default=len(order), return_dtype=pl.Int32)
        .alias("priority"),
        # the order of member_key as a number: ties are broken by it, and numbers sort fast
        pl.col("member_key").rank("ordinal").alias("member_order"),
        # what a department block shows: show_<field> for each of DEPARTMENT_FIELDS
        pl.col("member_key").alias("show_record"),
        masked_text(pl.col("child_name_raw").str.strip_chars()).alias("show_name"),
        pl.col("sex").replace_strict(SEX_LABELS, default=None, return_dtype=pl.String)
        .fill_null(SEX_UNKNOWN_LABEL).alias("show_sex"),
        pl.coalesce(pl.col("birth_date").dt.strftime("%Y-%m-%d"),
                    masked_text(pl.col("birth_date_raw"))).alias("show_birth_date"),
        pl.coalesce(township_label(pl.col("township_code"), names),
                    masked_text(pl.col("township_raw"))).alias("show_township"),
        masked_text(pl.col("mother_name_raw").str.strip_chars()).alias("show_mother_name"),
        mask_id_number(pl.col("child_id_text")).alias("show_child_id"),
        mask_id_number(pl.col("mother_id_text")).alias("show_mother_id"),
    )


def with_case_records(cases: pl.DataFrame, members: pl.DataFrame) -> pl.DataFrame:
    """The record each case is about: its own, else the child's first by survivorship order;
    with its member number (case_order, null if the record is not in use)."""
    first = members.sort("priority", "member_order").unique(
        "person_id", keep="first", maintain_order=True).select(
        "person_id", pl.col("member_key").alias("first_key"))
    return cases.join(first, on="person_id", how="left").with_columns(
        pl.when(pl.col("record_id").is_not_null())
        .then(pl.concat_str(pl.col("source"), pl.lit(":"), pl.col("record_id")))
        .otherwise(pl.col("first_key")).alias("case_record")).drop("first_key").join(
        members.select(pl.col("member_key").alias("case_record"),
                       pl.col("member_order").alias("case_order")),
        on="case_record", how="left")


def _differs(field: str) -> pl.Expr:
    return (pl.col(f"other_{field}") != pl.col(f"case_{field}")).fill_null(False)


# Which other record a case is best explained against, by kind; the default is any record of
# the child from another department. Ties go to the strongest stored link.
PARTNER_PREFERENCE: dict[str, pl.Expr] = {
    K.DUPLICATE_REGISTRATION.value: ~_differs("source"),
    K.SEX_CONFLICT.value: _differs("sex"),
    K.BIRTH_DATE_CONFLICT.value: _differs("birth_date"),
    K.NAME_CONFLICT.value: _differs("child_name"),
    K.MOTHER_CONFLICT.value: _differs("mother_name_pinyin") | _differs("mother_pseudonym"),
    K.SHARED_ID.value: (pl.col("other_person_id") != pl.col("person_id")).fill_null(False),
}


def preferred_partner() -> pl.Expr:
    by_kind = [(pl.col("kind") == kind) & rule for kind, rule in PARTNER_PREFERENCE.items()]
    other_kinds = ~pl.col("kind").is_in(list(PARTNER_PREFERENCE)) & _differs("source")
    return pl.any_horizontal(*by_kind, other_kinds)


def choose_partners(cases: pl.DataFrame, members: pl.DataFrame, pairs: pl.DataFrame
                    ) -> pl.DataFrame:
    """Per case, the other record it concerns (对应记录) and the stored pair between them."""
    match = members.select(MATCH_FIELDS)
    pairs = pairs.with_row_index("pair_no")  # the chosen pair's evidence is fetched by number
    case_side = cases.select("discrepancy_id", "kind", "person_id", "case_record", "case_order"
                             ).join(match.rename({c: f"case_{c}" for c in MATCH_FIELDS}),
                                    left_on="case_order", right_on="case_member_order",
                                    how="left")
    other = match.rename({c: f"other_{c}" for c in MATCH_FIELDS})
    same_child = case_side.join(other, left_on="person_id", right_on="other_person_id",
                                coalesce=False)
    same_id = case_side.filter(pl.col("kind") == K.SHARED_ID.value).join(
        other, left_on="case_child_id_pseudonym", right_on="other_child_id_pseudonym",
        coalesce=False)
    candidates = pl.concat([same_child, same_id], how="diagonal_relaxed").filter(
        pl.col("other_member_key") != pl.col("case_record"))
    lower = pl.col("case_record") < pl.col("other_member_key")
    candidates = candidates.with_columns(
        preferred_partner().alias("preferred"),
        pl.when(lower).then(pl.col("case_record")).otherwise(pl.col("other_member_key"))
        .alias("pair_a"),
        pl.when(lower).then(pl.col("other_member_key")).otherwise(pl.col("case_record"))
        .alias("pair_b"),
    ).join(pairs.select("pair_a", "pair_b", "pair_no",
                        pl.col("match_probability").alias("strength")),
           on=["pair_a", "pair_b"], how="left")
    # rank on narrow rows; the evidence columns join only the chosen pair
    chosen = candidates.select(
        "discrepancy_id", "preferred", pl.col("strength").fill_null(-1.0), "other_priority",
        "other_member_order", "other_member_key", "other_person_id", "person_id", "pair_no",
    ).sort(
        ["preferred", "strength", "other_priority", "other_member_order"],
        descending=[True, True, False, False],
    ).unique("discrepancy_id", keep="first")
    return chosen.join(pairs.drop("pair_a", "pair_b"), on="pair_no", how="left").select(
        "discrepancy_id", pl.col("other_member_key").alias("other_record"),
        "other_member_order",
        (pl.col("other_person_id") == pl.col("person_id")).alias("is_same_child"),
        pl.col("match_probability").round(4), evidence_text(agreeing=True).alias(
            "agreeing_fields"), evidence_text(agreeing=False).alias("disagreeing_fields"))


def level_labels(comparison: Comparison) -> list[str]:
    """"母亲身份证号 exact" -> "母亲身份证号完全一致"."""
    labels = []
    for label in comparison.level_labels:
        field, _, qualifier = label.partition(" ")
        labels.append(field + LEVEL_QUALIFIER_LABELS.get(qualifier, qualifier))
    return labels


def evidence_text(agreeing: bool) -> pl.Expr:
    """The comparisons that pulled a pair together (weight > 0) or apart, with weights."""
    parts = []
    for comparison in COMPARISONS:
        labels = level_labels(comparison)
        level = pl.col(f"{comparison.name}_level").cast(pl.Int32).replace_strict(
            list(range(len(labels))), labels, default=None, return_dtype=pl.String)
        weight = pl.col(f"{comparison.name}_weight")
        text = pl.concat_str(level, pl.lit(" +" if agreeing else " "),
                             weight.round(1).cast(pl.String))
        counts = (weight > 0) if agreeing else (weight < 0)
        parts.append(pl.when(counts.fill_null(False)).then(text))
    # concat_str skips null parts and their separators: a list column per row costs 10x more
    joined = pl.concat_str(parts, separator="；", ignore_nulls=True)
    return pl.when(joined != "").then(joined)


def department_blocks(cases: pl.DataFrame, partners: pl.DataFrame, members: pl.DataFrame
                      ) -> pl.DataFrame:
    """Per case and department the record shown: the case's own, else its partner, else the
    child's first record there, else a partner of another child (一号多人); one column block
    per department."""
    keys = pl.concat([
        cases.select("discrepancy_id", pl.col("case_order").alias("member_order"),
                     pl.lit(0).alias("rank")),
        partners.select("discrepancy_id", pl.col("other_member_order").alias("member_order"),
                        pl.when(pl.col("is_same_child")).then(1).otherwise(3).alias("rank")),
        cases.select("discrepancy_id", "person_id").join(
            members.select("person_id", "member_order"), on="person_id").select(
            "discrepancy_id", "member_order", pl.lit(2).alias("rank")),
    ]).drop_nulls("member_order").join(members.select("member_order", "source"),
                                       on="member_order")
    shown = keys.sort("rank", "member_order").unique(["discrepancy_id", "source"], keep="first")
    fields = [field for field, _, _ in DEPARTMENT_FIELDS]
    blocks = cases.select("discrepancy_id")
    for source in SOURCE_LABELS:
        block = shown.filter(pl.col("source") == source).join(
            members.select("member_order", *(f"show_{f}" for f in fields)), on="member_order"
        ).select("discrepancy_id", *(pl.col(f"show_{f}").alias(f"{source}_{f}")
                                     for f in fields))
        blocks = blocks.join(block, on="discrepancy_id", how="left")
    return blocks


def record_counts(members: pl.DataFrame) -> pl.DataFrame:
    """"计生1 卫生2 公安1" per child: how often each department holds it."""
    counts = members.group_by("person_id").agg(
        (pl.col("source") == source).sum().alias(source) for source in SOURCE_LABELS)
    return counts.select("person_id", pl.concat_str(
        (pl.when(pl.col(source) > 0).then(pl.lit(label) + pl.col(source).cast(pl.String))
         for source, label in SOURCE_LABELS.items()),
        separator=" ", ignore_nulls=True).alias("record_counts"))


def case_rows(state: duckdb.DuckDBPyConnection, names: dict[str, str]) -> pl.DataFrame:
    """One row per open case with every column of a case sheet, plus kind and township."""
    members = load_members(state, names)
    cases = with_case_records(state.sql(open_cases_sql()).pl(), members)
    partners = choose_partners(cases, members, case_pairs(state, cases))
    release_cached_memory(state)
    blocks = department_blocks(cases, partners, members)
    children = members.join(cases.select("person_id").unique(), on="person_id", how="semi")
    rows = cases.join(partners, on="discrepancy_id", how="left").join(
        blocks, on="discrepancy_id", how="left").join(
        record_counts(children), on="person_id", how="left").with_columns(
        pl.col("source").replace_strict(SOURCE_LABELS, default=pl.col("source"),
                                        return_dtype=pl.String).alias("source_label"),
        pl.col("severity").replace_strict(SEVERITY_LABELS, default=pl.col("severity"),
                                          return_dtype=pl.String).alias("severity_label"),
        pl.coalesce(township_label(pl.col("township_code"), names),
                    pl.lit(UNPLACED_TOWNSHIP_LABEL)).alias("township_label"),
        masked_text(pl.col("detail")).alias("detail"),
        *(pl.lit(None, dtype=pl.String).alias(c.name) for c in DECISION_COLUMNS
          if c.name not in ("case_record", "other_record")),
    )
    return rows.sort("township_code", "case_record", "discrepancy_id", nulls_last=True).select(
        "kind", "township_code", *(c.name for c in CASE_COLUMNS))


