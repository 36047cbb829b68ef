"""Run warnings: silence, quarantine share and sex ratio against a department's recent range."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from schemas.codes import RunWarningKind
from transforms.run_warnings import (
    EXTRACT_HISTORY_SCHEMA,
    WarningSettings,
    run_warnings,
)

MONTHS = [date(2013, month, 5) for month in range(1, 13)]
Row = tuple[str, date, int | None, int, int, int]


def history(rows: list[Row]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=EXTRACT_HISTORY_SCHEMA, orient="row")


def monthly(source: str, months: list[date] = MONTHS, rows: int = 60, quarantined: int = 1,
            males: int = 31, females: int = 28) -> list[Row]:
    return [(source, month, rows, quarantined, males, females) for month in months]


def normal_county(months: list[date] = MONTHS) -> list[Row]:
    return [*monthly("jisheng", months), *monthly("weisheng", months),
            *monthly("gongan", months)]


def kinds(warnings: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return sorted((w.kind, w.source) for w in warnings)


def test_regular_deliveries_raise_no_warning() -> None:
    assert run_warnings(history(normal_county()), date(2013, 12, 5)) == []


def test_department_silent_for_three_usual_gaps_is_warned() -> None:
    rows = [r for r in normal_county() if not (r[0] == "gongan" and r[1] > date(2013, 9, 5))]
    warnings = run_warnings(history(rows), date(2013, 12, 5))
    assert kinds(warnings) == [(RunWarningKind.DEPARTMENT_SILENT.value, "gongan")]
    assert warnings[0].observed == 91 and warnings[0].expected == pytest.approx(30.5, abs=1)
    assert "公安" in warnings[0].message and "2013-09-05" in warnings[0].message


@pytest.mark.parametrize(
    ("as_of", "warned"),
    [
        pytest.param(date(2014, 1, 5), False, id="one usual gap: normal"),
        pytest.param(date(2014, 2, 4), False, id="two gaps less a day: normal"),
        pytest.param(date(2014, 2, 15), True, id="well over two gaps: silent"),
    ],
)
def test_silence_is_judged_against_the_usual_gap(as_of: date, warned: bool) -> None:
    warnings = run_warnings(history(monthly("weisheng")), as_of,
                            WarningSettings(sources=("weisheng",)))
    assert bool(warnings) is warned


def test_no_judgement_without_enough_history() -> None:
    rows = monthly("weisheng", MONTHS[:3])
    assert run_warnings(history(rows), date(2014, 6, 1),
                        WarningSettings(sources=("weisheng",))) == []


def test_quarantine_share_far_above_recent_range_is_warned() -> None:
    rows = normal_county()
    rows[11] = ("jisheng", MONTHS[11], 60, 12, 31, 28)  # 20% against ~2%
    warnings = run_warnings(history(rows), MONTHS[11])
    assert kinds(warnings) == [(RunWarningKind.QUARANTINE_SHARE_HIGH.value, "jisheng")]
    assert warnings[0].observed == pytest.approx(0.2)
    assert warnings[0].extract_date == MONTHS[11]


def test_quarantine_share_above_ceiling_is_warned_without_history() -> None:
    rows = [("weisheng", MONTHS[0], 40, 20, 10, 10)]
    warnings = run_warnings(history(rows), MONTHS[0], WarningSettings(sources=("weisheng",)))
    assert kinds(warnings) == [(RunWarningKind.QUARANTINE_SHARE_HIGH.value, "weisheng")]


def test_small_extract_is_not_judged_on_its_quarantine_share() -> None:
    rows = [*monthly("weisheng", MONTHS[:11]), ("weisheng", MONTHS[11], 4, 2, 1, 1)]
    assert run_warnings(history(rows), MONTHS[11], WarningSettings(sources=("weisheng",))) == []


def test_sex_codes_swapped_in_one_extract_are_warned() -> None:
    rows = normal_county()
    rows[23] = ("weisheng", MONTHS[11], 60, 1, 50, 9)  # 1/2 swapped or 0 read as boy
    warnings = run_warnings(history(rows), MONTHS[11])
    assert kinds(warnings) == [(RunWarningKind.SEX_RATIO_UNUSUAL.value, "weisheng")]
    assert warnings[0].observed == pytest.approx(555.6, abs=0.1)
    assert "95% CI" in warnings[0].message


def test_ordinary_sampling_noise_is_not_warned() -> None:
    rows = normal_county()
    rows[23] = ("weisheng", MONTHS[11], 60, 1, 36, 23)  # ratio 157 on 59 births: noise
    assert run_warnings(history(rows), MONTHS[11]) == []


def test_files_of_one_extract_date_are_judged_together() -> None:
    rows = [*monthly("gongan", MONTHS[:11]), ("gongan", MONTHS[11], 30, 0, 15, 14),
            ("gongan", MONTHS[11], 30, 0, 16, 14)]
    assert run_warnings(history(rows), MONTHS[11], WarningSettings(sources=("gongan",))) == []


def test_rejected_file_counts_as_a_delivery_but_not_for_shares() -> None:
    rows = [*monthly("gongan", MONTHS[:11]), ("gongan", MONTHS[11], None, 0, 0, 0)]
    assert run_warnings(history(rows), MONTHS[11], WarningSettings(sources=("gongan",))) == []


def test_warning_as_dict_is_json_ready() -> None:
    rows = [("weisheng", MONTHS[0], 40, 20, 10, 10)]
    (warning,) = run_warnings(history(rows), MONTHS[0], WarningSettings(sources=("weisheng",)))
    assert warning.as_dict()["extract_date"] == "2013-01-05"
    assert set(warning.as_dict()) == {"kind", "source", "message", "observed", "expected",
                                      "extract_date"}
