"""Reconcile: golden records by department vote, and the discrepancy register."""

from __future__ import annotations

import random
from datetime import date, timedelta

import polars as pl
import pytest

from schemas.canonical import CANONICAL
from schemas.codes import DiscrepancyKind as K
from schemas.codes import DiscrepancyStatus, IdProblem
from tests.transforms.canonical_rows import frame_of
from transforms.reconcile import (
    SURVIVORSHIP,
    find_discrepancies,
    reconcile_persons,
    surviving_values,
    with_keys,
)
from warehouse.reconciled_tables import RECORD_COLUMNS

# What reconcile gets (warehouse.reconciled_tables.load_linked_records): the record columns
# in use, the person id, keyed pseudonyms and masked ID numbers, never raw ones.
LINKED_SCHEMA: dict[str, pl.DataType] = {
    **{c: CANONICAL.get(c, pl.String()) for c in RECORD_COLUMNS},
    "person_id": pl.String(), "mother_pseudonym": pl.String(), "child_id_masked": pl.String(),
}
BORN = date(2013, 5, 4)
AS_OF = date(2013, 12, 31)
KINDS = {k.value for k in K}
STATUSES = {s.value for s in DiscrepancyStatus}


def record(person: str, source: str, record_id: str, **fields: object) -> dict[str, object]:
    """A department's record of child `person`: a boy born 4 May 2013 to mother M-<person>,
    named 李明, in 大安镇; give only what differs."""
    return {"person_id": person, "source": source, "record_id": record_id, "sex": 1,
            "birth_date": BORN, "township_code": "450821101", "child_name": "李明",
            "mother_name": "单丽", "mother_pseudonym": f"M-{person}",
            "declared_date": BORN if source == "gongan" else None, **fields}


def linked(*rows: dict[str, object]) -> pl.DataFrame:
    """Linked records: unspecified columns null of their declared dtype, pinyin derived."""
    return frame_of(rows, LINKED_SCHEMA, ("mother_name",))


def everywhere(person: str, **fields: object) -> list[dict[str, object]]:
    """The child in 卫生, 公安 and 计生, all agreeing; 计生 has the hukou ID."""
    return [record(person, source, f"{source[0].upper()}-{person}",
                   child_id_pseudonym=None if source == "weisheng" else f"C-{person}", **fields)
            for source in ("weisheng", "gongan", "jisheng")]


def discrepancies(records: pl.DataFrame, as_of: date = AS_OF) -> pl.DataFrame:
    return find_discrepancies(records, reconcile_persons(records), as_of)


def found(records: pl.DataFrame, kind: K, as_of: date = AS_OF) -> set[tuple[str, str, str]]:
    """(person, source, status) of every discrepancy of one kind."""
    rows = discrepancies(records, as_of).filter(pl.col("kind") == kind.value)
    return set(rows.select("person_id", "source", "status").iter_rows())


def test_agreeing_departments_give_one_child_and_no_discrepancy() -> None:
    records = linked(*everywhere("P1"))
    person = reconcile_persons(records).row(0, named=True)
    assert (person["sex"], person["birth_date"], person["child_name"], person["record_count"]) == (
        1, BORN, "李明", 3)
    assert (person["in_weisheng"], person["in_gongan"], person["in_jisheng"],
            person["in_minzheng"]) == (True, True, True, False)
    assert discrepancies(records).height == 0


@pytest.mark.parametrize(("field", "certificate", "others"), [
    pytest.param("sex", 2, 1, id="sex"),
    pytest.param("birth_date", date(2013, 4, 5), BORN, id="birth date"),
    pytest.param("township_code", "450821102", "450821101", id="township"),
])
def test_two_departments_outvote_the_certificate(field: str, certificate: object,
                                                 others: object) -> None:
    records = linked(record("P1", "weisheng", "W1", **{field: certificate}),
                     record("P1", "gongan", "G1", **{field: others}),
                     record("P1", "jisheng", "J1", **{field: others}))
    assert reconcile_persons(records)[field].to_list() == [others]


def test_a_tie_goes_to_the_survivorship_order() -> None:
    """卫生 and 公安 disagree on sex, nobody else says: the certificate made at birth wins."""
    records = linked(record("P1", "weisheng", "W1", sex=2), record("P1", "gongan", "G1", sex=1))
    assert reconcile_persons(records)["sex"].to_list() == [2]


def test_a_department_holding_the_child_twice_votes_once() -> None:
    records = linked(record("P1", "weisheng", "W1", sex=2), record("P1", "gongan", "G1", sex=1),
                     record("P1", "gongan", "G2", sex=1))
    assert reconcile_persons(records)["sex"].to_list() == [2]


def test_the_legal_name_comes_from_hukou_and_birth_order_from_family_planning() -> None:
    records = linked(record("P1", "weisheng", "W1", child_name=None),
                     record("P1", "gongan", "G1", child_name="李明"),
                     record("P1", "jisheng", "J1", child_name="李敏", birth_order=2))
    person = reconcile_persons(records).row(0, named=True)
    assert (person["child_name"], person["birth_order"]) == ("李明", 2)


def test_birth_order_without_family_planning_counts_the_mothers_children() -> None:
    records = linked(*[record(f"P{i}", "gongan", f"G{i}", mother_pseudonym="M",
                              birth_date=date(year, 1, 1))
                       for i, year in enumerate((2010, 2012, 2013, 2014), start=1)])
    orders = dict(reconcile_persons(records).select("person_id", "birth_order").iter_rows())
    assert orders == {"P1": 1, "P2": 2, "P3": 3, "P4": 3}


def test_sex_conflict_names_the_department_that_departs() -> None:
    records = linked(record("P1", "weisheng", "W1", sex=2), record("P1", "gongan", "G1"),
                     record("P1", "jisheng", "J1"))
    assert found(records, K.SEX_CONFLICT) == {("P1", "weisheng", "open")}
    row = discrepancies(records).filter(pl.col("kind") == "sex_conflict").row(0, named=True)
    assert (row["record_id"], row["severity"]) == ("W1", "high")


def test_birth_date_conflict_names_the_department_that_departs() -> None:
    records = linked(record("P1", "weisheng", "W1"), record("P1", "gongan", "G1"),
                     record("P1", "jisheng", "J1", birth_date=date(2013, 4, 5)))
    assert found(records, K.BIRTH_DATE_CONFLICT) == {("P1", "jisheng", "open")}


def test_a_homophone_of_the_mothers_name_is_no_mother_conflict() -> None:
    records = linked(record("P1", "weisheng", "W1", mother_name="善丽"),
                     record("P1", "gongan", "G1"))
    assert found(records, K.MOTHER_CONFLICT) == set()


def test_another_mother_is_a_mother_conflict() -> None:
    records = linked(record("P1", "weisheng", "W1"), record("P1", "gongan", "G1"),
                     record("P1", "jisheng", "J1", mother_name="陈静", mother_pseudonym="M-X"))
    assert found(records, K.MOTHER_CONFLICT) == {("P1", "jisheng", "open")}


def test_duplicate_registration_names_the_department_and_the_second_record() -> None:
    records = linked(*everywhere("P1"), record("P1", "gongan", "G-P1b"))
    rows = discrepancies(records).filter(pl.col("kind") == "duplicate_registration")
    assert rows.select("person_id", "source", "record_id", "status").rows() == [
        ("P1", "gongan", "G-P1b", "open")]


def test_repeated_civil_events_are_no_duplicate_registration() -> None:
    records = linked(*everywhere("P1"),
                     record("P1", "minzheng", "M1", event_type="adoption"),
                     record("P1", "minzheng", "M2", event_type="adoption"))
    assert found(records, K.DUPLICATE_REGISTRATION) == set()


@pytest.mark.parametrize(("born", "as_of", "missing"), [
    pytest.param(date(2013, 5, 4), date(2013, 5, 20), False, id="a fortnight old"),
    pytest.param(date(2013, 5, 4), date(2013, 6, 4), False, id="exactly a month old"),
    pytest.param(date(2013, 5, 4), date(2013, 6, 5), True, id="a month and a day"),
    pytest.param(date(2013, 1, 31), date(2013, 2, 28), False, id="end of a short month"),
    pytest.param(date(2013, 1, 31), date(2013, 3, 1), True, id="after the short month"),
    pytest.param(date(2013, 12, 15), date(2014, 1, 16), True, id="across new year"),
])
def test_missing_hukou_is_judged_one_calendar_month_after_birth_as_of_the_run_date(
        born: date, as_of: date, missing: bool) -> None:
    """The as-of date, not the wall clock (years later), decides."""
    records = linked(record("P1", "weisheng", "W1", birth_date=born),
                     record("P1", "jisheng", "J1", birth_date=born))
    expected = {("P1", "gongan", "open")} if missing else set()
    assert found(records, K.MISSING_IN_GONGAN, as_of) == expected


def test_children_missing_from_certificate_and_family_planning_are_found() -> None:
    records = linked(record("P1", "gongan", "G1"), record("P2", "weisheng", "W2"),
                     record("P2", "gongan", "G2"))
    assert found(records, K.MISSING_IN_WEISHENG) == {("P1", "weisheng", "open")}
    assert found(records, K.MISSING_IN_JISHENG) == {("P1", "jisheng", "open"),
                                                    ("P2", "jisheng", "open")}


def test_an_infant_death_explains_the_missing_hukou_and_family_planning_record() -> None:
    records = linked(record("P1", "weisheng", "W1"),
                     record("P1", "minzheng", "M1", event_type="infant_death",
                            event_date=date(2013, 5, 10)),
                     record("P2", "weisheng", "W2", mother_pseudonym="M-P2"))
    assert found(records, K.INFANT_DEATH) == {("P1", "minzheng", "explained")}
    assert found(records, K.MISSING_IN_GONGAN) == {("P1", "gongan", "explained"),
                                                   ("P2", "gongan", "open")}
    assert found(records, K.MISSING_IN_JISHENG) == {("P1", "jisheng", "explained"),
                                                    ("P2", "jisheng", "open")}


def test_a_foundling_alone_is_missing_everywhere_and_all_of_it_explained() -> None:
    records = linked(record("P1", "minzheng", "M1", event_type="foundling", mother_name=None,
                            mother_pseudonym=None, event_date=date(2013, 6, 1)))
    rows = discrepancies(records)
    assert set(rows.select("kind", "status").iter_rows()) == {
        ("foundling", "explained"), ("missing_in_gongan", "explained"),
        ("missing_in_weisheng", "explained"), ("missing_in_jisheng", "explained")}


def test_one_id_on_two_children_is_shared_id_for_both() -> None:
    records = linked(*everywhere("P1"),
                     record("P1", "gongan", "G-P1", child_id_pseudonym="C1"),
                     record("P2", "gongan", "G-P2", child_id_pseudonym="C1", sex=2,
                            mother_pseudonym="M-P2"))
    assert found(records, K.SHARED_ID) == {("P1", "gongan", "open"), ("P2", "gongan", "open")}


def test_one_id_on_one_child_in_two_departments_is_not_shared() -> None:
    records = linked(record("P1", "gongan", "G1", child_id_pseudonym="C1"),
                     record("P1", "jisheng", "J1", child_id_pseudonym="C1"))
    assert found(records, K.SHARED_ID) == set()


@pytest.mark.parametrize(("born", "declared", "late"), [
    pytest.param(date(2013, 5, 4), date(2013, 6, 4), False, id="on the last day"),
    pytest.param(date(2013, 5, 4), date(2013, 6, 5), True, id="a day late"),
    pytest.param(date(2013, 1, 31), date(2013, 2, 28), False, id="short month"),
    pytest.param(date(2013, 1, 31), date(2013, 3, 1), True, id="after the short month"),
    pytest.param(date(2013, 5, 4), None, False, id="no declaration date"),
])
def test_late_registration_is_more_than_one_calendar_month_after_birth(
        born: date, declared: date | None, late: bool) -> None:
    records = linked(record("P1", "gongan", "G1", birth_date=born, declared_date=declared))
    assert found(records, K.LATE_REGISTRATION) == ({("P1", "gongan", "open")} if late else set())


@pytest.mark.parametrize(("problem", "expected_kinds"), [
    pytest.param(None, {"id_sex_mismatch"}, id="valid ID"),
    pytest.param(IdProblem.UPGRADED_15.value, {"id_sex_mismatch"}, id="upgraded 15-digit ID"),
    pytest.param(IdProblem.BAD_CHECK_DIGIT.value, {"invalid_id"}, id="bad check digit"),
])
def test_id_sex_digit_contradicting_the_record(problem: str | None,
                                               expected_kinds: set[str]) -> None:
    records = linked(record("P1", "gongan", "G1", child_id_number_sex=2,
                            child_id_number_birth_date=BORN, child_id_number_problem=problem,
                            child_id_masked="4508**********3X"))
    kinds = set(discrepancies(records).filter(pl.col("source") == "gongan")["kind"])
    assert kinds & {"id_sex_mismatch", "invalid_id"} == expected_kinds


def test_id_birth_date_contradicting_the_record() -> None:
    records = linked(record("P1", "gongan", "G1", child_id_number_sex=1,
                            child_id_number_birth_date=date(2013, 5, 5)))
    assert found(records, K.ID_BIRTH_DATE_MISMATCH) == {("P1", "gongan", "open")}
    assert found(records, K.ID_SEX_MISMATCH) == set()


def test_the_register_is_keyed_by_person_kind_and_source_within_its_codes() -> None:
    records = linked(
        *everywhere("P1"), record("P1", "gongan", "G-P1b", sex=2),
        record("P2", "weisheng", "W2", mother_pseudonym="M-P2", sex=2),
        record("P2", "jisheng", "J2", mother_pseudonym="M-P2", birth_date=date(2013, 5, 5)),
        record("P3", "gongan", "G3", child_id_pseudonym="C3", declared_date=date(2013, 9, 1)),
        record("P4", "gongan", "G4", child_id_pseudonym="C3", sex=2),
        record("P5", "minzheng", "M5", event_type="infant_death"),
    )
    rows = discrepancies(records)
    assert rows.height > 0
    assert rows.select("person_id", "kind", "source").is_duplicated().sum() == 0
    assert set(rows["kind"]) <= KINDS
    assert set(rows["status"]) <= STATUSES
    assert set(rows["source"]) <= {"weisheng", "gongan", "jisheng", "minzheng"}
    assert rows["severity"].is_not_null().all()


def test_a_department_that_disagrees_with_itself_gives_the_same_child_on_every_run() -> None:
    rows = []
    for i in range(100):
        rows += [record(f"P{i:03d}", "gongan", f"G{i:03d}a", sex=1),
                 record(f"P{i:03d}", "gongan", f"G{i:03d}b", sex=2, birth_date=date(2013, 5, 5))]
    records = linked(*rows)
    first = reconcile_persons(records)
    for _ in range(3):
        assert reconcile_persons(records).equals(first)


def test_the_order_records_come_in_changes_no_child_and_no_case() -> None:
    """A nightly run reads only some children's records, in another order than a whole run:
    twins' inferred birth orders and a duplicate's departing record must not depend on it."""
    rows = []
    for i in range(40):
        twins = [record(f"T{i:02d}{t}", "gongan", f"G{i:02d}{t}", mother_pseudonym=f"M{i}",
                        child_name=f"李{t}") for t in "ab"]
        twice = [record(f"D{i:02d}", "weisheng", f"W{i:02d}{n}", child_name="陈思琪")
                 for n in "xy"] + [record(f"D{i:02d}", "gongan", f"G{i:02d}", child_name="陈斯琪")]
        rows += twins + twice
    records = linked(*rows)
    first_persons = reconcile_persons(records)
    first_cases = discrepancies(records)
    assert first_cases.filter(pl.col("kind") == K.NAME_CONFLICT.value).height == 40
    for seed in range(3):
        shuffled = records.sample(fraction=1.0, shuffle=True, seed=seed)
        assert reconcile_persons(shuffled).equals(first_persons)
        assert discrepancies(shuffled).equals(first_cases)


def contested_county(children: int = 60, seed: int = 5) -> pl.DataFrame:
    """Children whose departments often disagree (sex, date, name, mother, township, birth
    order), some held twice by one department, in no particular order."""
    rng = random.Random(seed)
    rows = []
    for i in range(children):
        person = f"P{rng.randrange(10**6):06d}-{i}"
        for n in range(rng.randint(1, 5)):
            rows.append(record(
                person, rng.choice(["weisheng", "gongan", "jisheng", "minzheng"]),
                f"R{rng.randrange(10**6):06d}-{i}-{n}", sex=rng.choice([1, 2, None]),
                birth_date=BORN + timedelta(days=rng.choice([0, 0, 1])),
                child_name=rng.choice(["李明", "李敏", None]),
                township_code=rng.choice(["450821101", "450821102"]),
                birth_order=rng.choice([1, 2, None]),
                mother_pseudonym=rng.choice([f"M{i}", f"M{i + 1}", None]),
                mother_name=rng.choice(["单丽", "陈芳"])))
    return linked(*rows).sample(fraction=1.0, shuffle=True, seed=seed)


def test_keys_order_like_the_ids_and_sort_the_records() -> None:
    keyed = with_keys(contested_county())
    assert keyed.get_column("person_key").is_sorted()
    assert keyed.get_column("person_id").is_sorted()  # person_key ranks person_id
    assert keyed.select(pl.col("record_id").is_sorted().over("person_key").all()).item()
    assert with_keys(keyed) is keyed  # sorted once


def test_a_field_the_departments_agree_on_skips_the_vote_and_gets_its_result() -> None:
    """reconcile_persons votes only where a child's departments differ; everywhere the
    result is what the full vote (surviving_values over every child) gives."""
    records = with_keys(contested_county())
    persons = reconcile_persons(records)
    for field in SURVIVORSHIP:
        voted = persons.select("person_key").join(
            surviving_values(records, field), on="person_key", how="left",
            maintain_order="left")
        if field == "birth_order":  # then inferred from the mother's children where null
            voted = voted.filter(persons.get_column("birth_order").is_not_null()
                                 & voted.get_column(field).is_not_null())
            assert voted.join(persons, on=["person_key", field], how="anti").height == 0
        else:
            assert persons.get_column(field).to_list() == voted.get_column(field).to_list()


def test_keys_given_by_the_reader_give_the_same_children_and_cases() -> None:
    """The warehouse reads records sorted by the ids and numbers them in that order
    (warehouse.reconciled_tables.load_linked_records): the same as keys computed here."""
    records = contested_county()
    from_reader = records.sort("person_id", "record_id", "source").with_columns(
        pl.col("person_id").ne_missing(pl.col("person_id").shift()).cum_sum()
        .cast(pl.UInt32).set_sorted().alias("person_key"),
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("record_rank"))
    assert reconcile_persons(from_reader).equals(reconcile_persons(records))
    assert discrepancies(from_reader).equals(discrepancies(records))
