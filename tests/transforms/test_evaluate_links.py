"""The discrepancy evaluator: recall over what the records in use can show."""

from __future__ import annotations

import polars as pl

from transforms.evaluate_links import evaluate_discrepancies


def test_a_child_with_no_record_in_use_is_unobservable_not_missed() -> None:
    assigned = pl.DataFrame({"person_id": ["P1", "P1", "P2"],
                             "child_key": ["C1", "C1", "C2"]})
    problems = pl.DataFrame({
        "child_key": ["C1", "C2", "C3"],
        "problem": ["missing_in_gongan", "missing_in_gongan", "missing_in_gongan"],
    })
    found = pl.DataFrame({"person_id": ["P1"], "kind": ["missing_in_gongan"]})
    row = evaluate_discrepancies(found, assigned, problems).row(0, named=True)
    assert row["injected"] == 3
    assert row["unobservable"] == 1  # C3 is in no department
    assert row["recall"] == 0.5  # C1 found, C2 missed
    assert row["precision"] == 1.0


def test_a_person_stands_for_the_child_most_of_its_records_belong_to() -> None:
    assigned = pl.DataFrame({"person_id": ["P1", "P1", "P1"],
                             "child_key": ["C1", "C1", "C2"]})
    problems = pl.DataFrame({"child_key": ["C2"], "problem": ["sex_conflict"]})
    found = pl.DataFrame({"person_id": ["P1"], "kind": ["sex_conflict"]})
    row = evaluate_discrepancies(found, assigned, problems).row(0, named=True)
    assert row["recall"] == 0.0
    assert row["precision"] == 0.0
