"""Registration KPI: 计生's coverage, ID entry rate and accuracy on hand-made children."""

from __future__ import annotations

import random
from datetime import date, timedelta

import polars as pl
import pytest

from schemas.canonical import CANONICAL
from tests.transforms.canonical_rows import frame_of
from transforms.indicators import registration_kpi
from transforms.reconcile import reconcile_persons
from warehouse.reconciled_tables import RECORD_COLUMNS

LINKED_SCHEMA: dict[str, pl.DataType] = {
    **{c: CANONICAL.get(c, pl.String()) for c in RECORD_COLUMNS},
    "person_id": pl.String(), "mother_pseudonym": pl.String(), "child_id_masked": pl.String(),
}
BORN = date(2013, 5, 4)
A, B = "450821101", "450821102"
COUNT_COLUMNS = ("children", "children_in_jisheng", "children_in_weisheng", "children_in_gongan",
                 "children_in_minzheng", "jisheng_records", "jisheng_records_with_hukou",
                 "jisheng_records_with_valid_id", "jisheng_records_accurate", "policy_records",
                 "within_policy_records")


def record(person: str, source: str, **fields: object) -> dict[str, object]:
    """A department's record of child `person` (a boy born 4 May 2013 to M-<person>,
    named 李明, in township A); give only what differs."""
    return {"person_id": person, "source": source, "record_id": f"{source[0]}-{person}",
            "sex": 1, "birth_date": BORN, "township_code": A, "child_name": "李明",
            "mother_name": "单丽", "mother_pseudonym": f"M-{person}", **fields}


def linked(*rows: dict[str, object]) -> pl.DataFrame:
    """Linked records: unspecified columns null of their declared dtype, pinyin derived."""
    return frame_of(rows, LINKED_SCHEMA, ("mother_name",))


def kpi_of(records: pl.DataFrame) -> dict[str | None, dict[str, object]]:
    """township_code (None for the county) -> its row."""
    kpi = registration_kpi(records, reconcile_persons(records))
    return {row["township_code"]: row for row in kpi.iter_rows(named=True)}


# Five children with known answers:
# P1 (A) everywhere, 计生 has the hukou ID, agrees, within policy;
# P2 (A) hukou and 计生, 计生 has no ID and the wrong sex, outside policy;
# P3 (A) hukou and certificate only;
# P4 (B) only in 计生, agrees, policy unknown;
# P5 (B) hukou and 计生, 计生 has another child's ID, agrees, within policy.
HAND_MADE = linked(
    record("P1", "weisheng"), record("P1", "gongan", child_id_pseudonym="C1"),
    record("P1", "jisheng", child_id_pseudonym="C1", is_within_policy=True),
    record("P2", "gongan", child_id_pseudonym="C2"),
    record("P2", "jisheng", sex=2, is_within_policy=False),
    record("P3", "gongan", child_id_pseudonym="C3"), record("P3", "weisheng"),
    record("P4", "jisheng", township_code=B),
    record("P5", "gongan", child_id_pseudonym="C5", township_code=B),
    record("P5", "jisheng", child_id_pseudonym="C9", township_code=B, is_within_policy=True),
)


@pytest.mark.parametrize(("township", "expected"), [
    pytest.param(None, {"children": 5, "children_in_jisheng": 4, "coverage": 4 / 5,
                        "jisheng_records_with_hukou": 3, "jisheng_records_with_valid_id": 1,
                        "id_entry_rate": 1 / 3, "jisheng_records": 4,
                        "jisheng_records_accurate": 3, "accuracy": 3 / 4,
                        "within_policy_rate": 2 / 3}, id="county"),
    pytest.param(A, {"children": 3, "children_in_jisheng": 2, "coverage": 2 / 3,
                     "jisheng_records_with_hukou": 2, "jisheng_records_with_valid_id": 1,
                     "id_entry_rate": 1 / 2, "jisheng_records": 2,
                     "jisheng_records_accurate": 1, "accuracy": 1 / 2,
                     "within_policy_rate": 1 / 2}, id="township A"),
    pytest.param(B, {"children": 2, "children_in_jisheng": 2, "coverage": 1.0,
                     "jisheng_records_with_hukou": 1, "jisheng_records_with_valid_id": 0,
                     "id_entry_rate": 0.0, "jisheng_records": 2,
                     "jisheng_records_accurate": 2, "accuracy": 1.0,
                     "within_policy_rate": 1.0}, id="township B"),
])
def test_rates_on_hand_made_children(township: str | None, expected: dict[str, object]) -> None:
    row = kpi_of(HAND_MADE)[township]
    assert {k: row[k] for k in expected} == pytest.approx(expected)


def test_targets_are_flagged() -> None:
    rows = kpi_of(HAND_MADE)
    assert (rows[None]["meets_coverage_target"], rows[B]["meets_coverage_target"]) == (False, True)
    assert rows[B]["meets_accuracy_target"] is True
    assert rows[A]["meets_id_entry_rate_target"] is False


@pytest.mark.parametrize(("jisheng", "accurate"), [
    pytest.param({}, True, id="agrees"),
    pytest.param({"child_name": None}, True, id="no name yet"),
    pytest.param({"child_name": "李敏"}, False, id="another name"),
    pytest.param({"birth_date": date(2013, 5, 5)}, False, id="a day off"),
    pytest.param({"mother_pseudonym": "M-X"}, False, id="another mother"),
    pytest.param({"sex": None}, False, id="sex unknown"),
])
def test_accuracy_needs_sex_birth_date_mother_and_any_name_to_agree(
        jisheng: dict[str, object], accurate: bool) -> None:
    records = linked(record("P1", "weisheng"), record("P1", "gongan"),
                     record("P1", "jisheng", **jisheng))
    assert kpi_of(records)[None]["jisheng_records_accurate"] == int(accurate)


def test_no_family_planning_records_give_no_accuracy_rather_than_zero() -> None:
    rows = kpi_of(linked(record("P1", "gongan")))
    assert rows[None]["jisheng_records"] == 0
    assert rows[None]["accuracy"] is None and rows[None]["id_entry_rate"] is None
    assert rows[None]["coverage"] == 0.0


def random_county(seed: int, children: int = 120) -> pl.DataFrame:
    """Children in four townships (and some unmapped), each in a random set of departments,
    with random slips in 计生."""
    rng = random.Random(seed)
    rows = []
    for k in range(children):
        person = f"P{k}"
        township = rng.choice([A, B, "450821103", "450821104", None])
        born = BORN + timedelta(days=rng.randrange(-200, 200))
        sex = rng.choice((1, 2))
        base = {"township_code": township, "birth_date": born, "sex": sex}
        sources = [s for s in ("weisheng", "gongan", "jisheng", "minzheng")
                   if rng.random() < (0.1 if s == "minzheng" else 0.8)] or ["weisheng"]
        for source in sources:
            fields = dict(base)
            if source == "gongan":
                fields["child_id_pseudonym"] = f"C{k}"
            if source == "jisheng":
                fields["child_id_pseudonym"] = rng.choice([f"C{k}", None, f"C{k + 1}"])
                fields["is_within_policy"] = rng.choice([True, False, None])
                if rng.random() < 0.2:
                    fields["sex"] = 3 - sex
                if rng.random() < 0.1:
                    fields["township_code"] = B
            rows.append(record(person, source, **fields))
            if source == "jisheng" and rng.random() < 0.05:
                rows.append(record(person, source, record_id=f"j2-{person}", **fields))
    return linked(*rows)


@pytest.mark.parametrize("records", [
    pytest.param(HAND_MADE, id="hand-made"),
    *[pytest.param(random_county(seed), id=f"random county {seed}") for seed in (1, 2, 3)],
])
def test_county_row_is_the_sum_of_its_townships(records: pl.DataFrame) -> None:
    kpi = registration_kpi(records, reconcile_persons(records))
    county = kpi.filter(pl.col("township_code").is_null())
    townships = kpi.filter(pl.col("township_code").is_not_null())
    assert county.height == 1
    assert townships["township_code"].is_duplicated().sum() == 0
    for column in COUNT_COLUMNS:
        assert county[column].item() == townships[column].sum(), column


def test_children_of_an_unmapped_township_have_their_own_row() -> None:
    records = linked(record("P1", "jisheng", township_code=None), record("P2", "jisheng"))
    rows = kpi_of(records)
    assert set(rows) == {None, A, "unknown"}
    assert rows["unknown"]["children"] == 1
