"""Print a run's JSON summary (read from standard input) as a short human summary."""

from __future__ import annotations

import json
import sys


def render_summary(summary: dict[str, object]) -> str:
    files = summary.get("files") or {}
    assert isinstance(files, dict)
    lines = [
        f"status       {summary.get('status')}  (run {summary.get('run_id')}, "
        f"as of {summary.get('as_of')})",
        f"files        {files.get('files_in', 0)} ingested, {files.get('files_rejected', 0)} "
        f"rejected, {files.get('files_duplicate', 0)} already seen",
        f"rows         {files.get('rows_in', 0)} read this run; "
        f"{summary.get('rows_in_use')} records in use, "
        f"{summary.get('rows_superseded')} superseded, "
        f"{summary.get('rows_quarantined_total')} quarantined",
        f"persons      {summary.get('persons')}",
        f"discrepancies {summary.get('discrepancies')}",
        f"warehouse    {summary.get('warehouse')}  (duckdb -readonly {summary.get('warehouse')})",
    ]
    if summary.get("reports"):
        lines.append(f"reports      {summary['reports']}  (report.html, officers' workbooks)")
    for warning in summary.get("warnings") or []:  # type: ignore[attr-defined]
        lines.append(f"warning      {warning.get('message', warning)}")
    if summary.get("error"):
        lines.append(f"error        {summary['error']}")
    return "\n".join(lines)


def main() -> None:
    text = sys.stdin.read().strip().splitlines()
    summary = json.loads(text[-1]) if text else {"status": "no output"}
    sys.stdout.write(render_summary(summary) + "\n")
    if summary.get("status") == "failed":
        sys.exit(1)


if __name__ == "__main__":
    main()
