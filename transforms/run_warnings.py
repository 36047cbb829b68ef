"""Run warnings: a department silent for longer than usual, or a department's latest extract
whose quarantine share or sex ratio lies far outside that department's recent range.

Comes in: the extract history kept in the state (one row per delivered file) and the run's
as-of date. Goes out: a list of RunWarning for the run summary, artifacts and `status`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import date

import polars as pl

from schemas.codes import RunWarningKind, Source
from schemas.labels import SOURCE_LABELS
from transforms.frame_schema import check_frame
from transforms.indicators import share_to_ratio, wilson_bounds

# One row per delivered file; rows_read is null for a file rejected whole.
EXTRACT_HISTORY_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(), "extract_date": pl.Date(), "rows_read": pl.Int64(),
    "rows_quarantined": pl.Int64(), "males": pl.Int64(), "females": pl.Int64(),
}
# Departments that deliver on a rhythm and record births; 民政 sends when events happen.
RHYTHMIC_SOURCES = (Source.JISHENG.value, Source.WEISHENG.value, Source.GONGAN.value)


@dataclass(frozen=True)
class WarningSettings:
    """When something looks wrong enough to say so. Defaults suit monthly extracts."""

    recent_extracts: int = 12  # the recent range: a department's last N extract dates
    min_history: int = 3  # fewer earlier extracts than this: too little to judge
    silence_factor: float = 2.0  # silent for more than this many usual gaps...
    silence_grace_days: int = 7  # ...and more than a week beyond one usual gap
    quarantine_margin: float = 0.05  # above the recent maximum share by more than this
    quarantine_ceiling: float = 0.25  # above this share whatever the history
    quarantine_min_rows: int = 20
    sex_ratio_z: float = 4.0  # z of the latest boys' share against the recent pooled share
    sex_ratio_min_births: int = 30
    sources: tuple[str, ...] = RHYTHMIC_SOURCES


@dataclass(frozen=True)
class RunWarning:
    """One warning, with the number seen and the number expected, for people and alerts."""

    kind: str
    source: str
    message: str
    observed: float | None
    expected: float | None
    extract_date: date | None = None

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "extract_date": str(self.extract_date)
                if self.extract_date else None}


def run_warnings(
    history: pl.DataFrame, as_of: date | None, settings: WarningSettings | None = None
) -> list[RunWarning]:
    """Every warning for this run, by department, silence first.

    Judged on extract dates and counts only, so a resumed run warns exactly as a clean one.
    """
    settings = settings or WarningSettings()
    check_frame(history, EXTRACT_HISTORY_SCHEMA, "extract history")
    by_date = extracts_by_date(history)
    warnings: list[RunWarning] = []
    for source in settings.sources:
        dates = by_date.filter(pl.col("source") == source).sort("extract_date")
        warnings += silence_warnings(source, dates, as_of, settings)
        warnings += quarantine_warnings(source, dates, settings)
        warnings += sex_ratio_warnings(source, dates, settings)
    return warnings


def extracts_by_date(history: pl.DataFrame) -> pl.DataFrame:
    """All files of one department and extract date together (a re-sent _1 file included)."""
    return history.filter(pl.col("extract_date").is_not_null()).group_by(
        "source", "extract_date").agg(
        pl.col("rows_read").fill_null(0).sum(),
        pl.col("rows_quarantined").fill_null(0).sum(),
        pl.col("males").fill_null(0).sum(),
        pl.col("females").fill_null(0).sum(),
    )


def label(source: str) -> str:
    return f"{SOURCE_LABELS[Source(source)]} ({source})"


def silence_warnings(
    source: str, dates: pl.DataFrame, as_of: date | None, settings: WarningSettings
) -> list[RunWarning]:
    """Days since the last extract against the department's usual (median) gap.

    >>> from datetime import date
    >>> dates = pl.DataFrame({"extract_date": [date(2013, m, 5) for m in range(1, 6)]})
    >>> [w.kind for w in silence_warnings("weisheng", dates, date(2013, 8, 1), WarningSettings())]
    ['department_silent']
    """
    if as_of is None or dates.height < settings.min_history + 1:
        return []
    recent = dates.get_column("extract_date").tail(settings.recent_extracts + 1)
    usual = float(recent.diff().drop_nulls().dt.total_days().median())  # type: ignore[arg-type]
    last: date = recent[-1]
    silent_days = (as_of - last).days
    if silent_days <= max(settings.silence_factor * usual, usual + settings.silence_grace_days):
        return []
    return [RunWarning(
        RunWarningKind.DEPARTMENT_SILENT.value, source,
        f"{label(source)} has sent nothing for {silent_days} days (last extract {last}); it "
        f"usually sends every {usual:.0f} days — ask the department for its extract",
        float(silent_days), usual, last)]


def quarantine_warnings(
    source: str, dates: pl.DataFrame, settings: WarningSettings
) -> list[RunWarning]:
    """The latest extract's share of rows quarantined against the recent maximum share."""
    read = dates.filter(pl.col("rows_read") > 0).with_columns(
        (pl.col("rows_quarantined") / pl.col("rows_read")).alias("share"))
    if read.height == 0:
        return []
    latest = read.row(-1, named=True)
    if latest["rows_read"] < settings.quarantine_min_rows:
        return []
    recent = read.head(read.height - 1).tail(settings.recent_extracts).get_column("share")
    share = float(latest["share"])
    # Always above the ceiling; with enough history, also clearly above the recent maximum.
    threshold, basis = settings.quarantine_ceiling, "expected"
    if recent.len() >= settings.min_history:
        recent_max = float(recent.max())  # type: ignore[arg-type]
        if recent_max + settings.quarantine_margin < threshold:
            threshold = recent_max + settings.quarantine_margin
            basis = f"in its last {recent.len()} extracts"
    if share <= threshold:
        return []
    expected = threshold - settings.quarantine_margin if basis != "expected" else threshold
    return [RunWarning(
        RunWarningKind.QUARANTINE_SHARE_HIGH.value, source,
        f"{label(source)} extract of {latest['extract_date']}: {share:.1%} of "
        f"{latest['rows_read']} rows quarantined, against at most {expected:.1%} {basis}"
        " — check the quarantine sheet and the department's export",
        share, expected, latest["extract_date"])]


def sex_ratio_warnings(
    source: str, dates: pl.DataFrame, settings: WarningSettings
) -> list[RunWarning]:
    """The latest extract's boys' share against the pooled share of the recent extracts.

    A z of 4 on the binomial share: a real shift in a county's sex ratio is slow, so a jump
    this large in one extract usually means a coding change (1/2 swapped, 0 for unknown).
    """
    births = dates.with_columns((pl.col("males") + pl.col("females")).alias("births")).filter(
        pl.col("births") > 0)
    if births.height < settings.min_history + 1:
        return []
    latest = births.row(-1, named=True)
    recent = births.head(births.height - 1).tail(settings.recent_extracts)
    if latest["births"] < settings.sex_ratio_min_births:
        return []
    pooled = float(recent["males"].sum()) / float(recent["births"].sum())
    share = latest["males"] / latest["births"]
    spread = math.sqrt(pooled * (1.0 - pooled) / latest["births"])
    z = (share - pooled) / spread if spread > 0 else math.inf * (share != pooled)
    if abs(z) < settings.sex_ratio_z:
        return []
    low_share, high_share = wilson_bounds(pl.col("m"), pl.col("n"))
    ratio, low, high = pl.DataFrame({"m": [latest["males"]], "n": [latest["births"]]}).select(
        share_to_ratio(pl.col("m") / pl.col("n")).alias("ratio"),
        share_to_ratio(low_share).alias("low"), share_to_ratio(high_share).alias("high")).row(0)
    recent_ratio = 100.0 * pooled / (1.0 - pooled) if pooled < 1.0 else math.inf
    shown = ("no girls" if ratio is None else
             f"{ratio:.0f} (95% CI {low:.0f}-{'∞' if high is None else f'{high:.0f}'})")
    return [RunWarning(
        RunWarningKind.SEX_RATIO_UNUSUAL.value, source,
        f"{label(source)} extract of {latest['extract_date']}: sex ratio {shown} boys per 100 "
        f"girls over {latest['births']} births, against {recent_ratio:.0f} in its last "
        f"{recent.height} extracts (z = {z:.1f}) — check how the export codes sex",
        ratio, recent_ratio, latest["extract_date"])]
