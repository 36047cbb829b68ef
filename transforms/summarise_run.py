"""The run's summary for people: markdown and small tables for Prefect artifacts.

Comes in: the run's JSON summary, its warnings, and the published headline figures.
Goes out: a markdown page and table rows. Counts and codes only, never an ID number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from schemas.codes import DiscrepancyKind, Source
from schemas.labels import DISCREPANCY_KIND_LABELS, SOURCE_LABELS
from transforms.indicators import REGISTRATION_TARGETS, SRB_NORMAL_RANGE

RECONCILED = "reconciled"
INDICATOR_LABELS = {"coverage": "覆盖率 coverage", "id_entry_rate": "身份证录入率 ID entry rate",
                    "accuracy": "准确率 accuracy"}


@dataclass(frozen=True)
class RunHeadlines:
    """The published figures a run summary shows (county level)."""

    discrepancies: pl.DataFrame  # kind, status, cases
    sex_ratios: pl.DataFrame  # source, births, males, females, ratio, ci_low, ci_high
    indicators: pl.DataFrame  # one row: children and each indicator of REGISTRATION_TARGETS


def source_label(source: str) -> str:
    return SOURCE_LABELS[Source(source)] if source in Source._value2member_map_ else "核对后"


def kind_label(kind: str) -> str:
    known = DiscrepancyKind._value2member_map_.get(kind)
    return DISCREPANCY_KIND_LABELS.get(known, kind) if known else kind  # type: ignore[call-overload]


def ratio_text(row: Mapping[str, object]) -> str:
    """'108.2 (95% CI 101.5-115.3), 2,110 births' — the interval always beside the ratio."""
    if row.get("ratio") is None:
        return f"no girls among {row['births']} births"
    high = "∞" if row.get("ci_high") is None else f"{row['ci_high']:.1f}"
    return f"{row['ratio']:.1f} (95% CI {row['ci_low']:.1f}-{high}), {row['births']:,} births"


def discrepancy_rows(headlines: RunHeadlines) -> list[dict[str, object]]:
    """Cases per kind, one column per status, largest first."""
    if headlines.discrepancies.height == 0:
        return []
    wide = headlines.discrepancies.pivot(on="status", index="kind", values="cases",
                                         aggregate_function="sum").fill_null(0)
    statuses = [c for c in wide.columns if c != "kind"]
    wide = wide.with_columns(pl.sum_horizontal(statuses).alias("total")).sort(
        ["total", "kind"], descending=[True, False])
    return [{"kind": row["kind"], "label": kind_label(row["kind"]),
             **{s: row[s] for s in sorted(statuses)}, "total": row["total"]}
            for row in wide.iter_rows(named=True)]


def sex_ratio_rows(headlines: RunHeadlines) -> list[dict[str, object]]:
    order = {RECONCILED: 0, **{s.value: i + 1 for i, s in enumerate(Source)}}
    rows = sorted(headlines.sex_ratios.iter_rows(named=True),
                  key=lambda row: order.get(row["source"], 9))
    return [{"source": row["source"], "label": source_label(row["source"]),
             "births": row["births"], "males": row["males"], "females": row["females"],
             "ratio": row["ratio"], "ci_low": row["ci_low"], "ci_high": row["ci_high"]}
            for row in rows]


def indicator_rows(headlines: RunHeadlines) -> list[dict[str, object]]:
    if headlines.indicators.height == 0:
        return []
    county = headlines.indicators.row(0, named=True)
    return [{"indicator": name, "label": INDICATOR_LABELS[name], "value": county.get(name),
             "target": target,
             "meets_target": county.get(name) is not None and county[name] >= target}
            for name, target in REGISTRATION_TARGETS.items()]


def render_run_markdown(
    summary: Mapping[str, object],
    warnings: Sequence[Mapping[str, object]],
    headlines: RunHeadlines | None,
) -> str:
    """The run's markdown page: outcome, inputs, warnings, then the published headlines."""
    files = summary.get("files") or {}
    assert isinstance(files, Mapping)
    lines = [
        f"# birthrec nightly run — {summary.get('status')}",
        "",
        f"Run `{summary.get('run_id')}`, as of {summary.get('as_of')}.",
        "",
        "| | this run | in use now |",
        "| --- | ---: | ---: |",
        f"| files ingested | {files.get('files_in', 0)} | |",
        f"| files rejected whole | {files.get('files_rejected', 0)} | |",
        f"| files already seen | {files.get('files_duplicate', 0)} | |",
        f"| rows read | {files.get('rows_in', 0):,} | {summary.get('rows_in_use', 0):,} |",
        f"| rows quarantined | {files.get('rows_quarantined', 0):,} | "
        f"{summary.get('rows_quarantined_total', 0):,} (total) |",
        f"| persons | | {summary.get('persons', 0):,} |",
        f"| discrepancies | | {summary.get('discrepancies', 0):,} |",
        "",
    ]
    rejected = summary.get("rejected_files") or []
    if rejected:
        lines += ["Rejected files: " + ", ".join(f"`{f}`" for f in rejected)  # type: ignore[attr-defined]
                  , ""]
    lines += ["## Warnings", ""]
    lines += [f"- **{w['kind']}**: {w['message']}" for w in warnings] or ["None."]
    lines.append("")
    if headlines is None:
        return "\n".join(lines)
    low, high = SRB_NORMAL_RANGE
    lines += ["## Sex ratio at birth (boys per 100 girls, all periods)", "",
              f"Normal range {low:.0f}-{high:.0f}.", ""]
    lines += [f"- {row['label']}: {ratio_text(row)}" for row in sex_ratio_rows(headlines)]
    lines += ["", "## Registration indicators (county)", "",
              "| indicator | value | target | met |", "| --- | ---: | ---: | --- |"]
    for row in indicator_rows(headlines):
        value = "—" if row["value"] is None else f"{row['value']:.1%}"
        lines.append(f"| {row['label']} | {value} | {row['target']:.0%} | "
                     f"{'yes' if row['meets_target'] else '**no**'} |")
    lines += ["", "## Discrepancies by kind", ""]
    rows = discrepancy_rows(headlines)
    if rows:
        statuses = [k for k in rows[0] if k not in ("kind", "label", "total")]
        lines += ["| kind | " + " | ".join(statuses) + " | total |",
                  "| --- | " + " | ".join("---:" for _ in statuses) + " | ---: |"]
        lines += [f"| {row['label']} `{row['kind']}` | "
                  + " | ".join(f"{row[s]:,}" for s in statuses) + f" | {row['total']:,} |"
                  for row in rows]
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"
