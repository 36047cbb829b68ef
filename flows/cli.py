"""The `birthrec` command line: run, generate.

Prefect is configured (state folder, offline) before it is imported, so every import of
the flow happens inside the commands.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from warehouse.state_paths import StatePaths

# The options `run` and `rebuild` share, declared once.
InboxOption = Annotated[Path, typer.Option("--inbox", help="The inbox folder (CONTRACT.md)")]
WarehouseOption = Annotated[Path, typer.Option("--warehouse", help="The DuckDB file to publish")]
AsOfOption = Annotated[str | None, typer.Option("--as-of", help="Judge deadlines by this date")]

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Reconcile birth records across 计生, 卫生, 公安 and 民政.")
# Exit status of a run refused because another is active (1 = failed, 2 = bad arguments).
EXIT_REFUSED = 3


def parse_as_of(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as error:
        raise typer.BadParameter(f"--as-of {value!r} is not a date like 2013-12-31") from error


@app.command()
def run(
    inbox: InboxOption,
    warehouse: WarehouseOption,
    as_of: AsOfOption = None,
) -> None:
    """Ingest what is new in INBOX, link, and publish into WAREHOUSE."""
    run_flow(inbox, warehouse, as_of, rebuild=False)


def run_flow(inbox: Path, warehouse: Path, as_of: str | None, rebuild: bool) -> None:
    """Configure Prefect for this warehouse, run the nightly flow, print the summary.

    The run lock is taken before Prefect starts, so a second run is refused within a second
    (exit status EXIT_REFUSED) and leaves no flow run behind.
    """
    from flows.local_server import recorded_server
    from flows.prefect_env import configure_prefect

    warehouse = warehouse.resolve()
    paths = StatePaths(warehouse)
    configure_prefect(paths.prefect_home)
    if "PREFECT_API_URL" not in os.environ and (served := recorded_server(paths.prefect_home)):
        os.environ["PREFECT_API_URL"] = served  # `birthrec serve` runs this warehouse's server
    from warehouse.errors import BirthrecError, RunLockedError
    from warehouse.run_state import run_lock

    as_of_date = parse_as_of(as_of)
    if not inbox.is_dir():
        print_summary({"status": "failed", "error": f"inbox {inbox} is not a folder"})
        raise typer.Exit(2)
    try:
        with run_lock(paths.lock_file):  # before the heavy imports: a refusal is quick
            from flows.nightly import nightly_reconciliation
            from flows.run_progress import terminal_progress

            with terminal_progress():
                summary = nightly_reconciliation(inbox.resolve(), warehouse, as_of_date,
                                                 rebuild)
    except RunLockedError as error:
        print_summary({"status": "refused", "error": str(error)})
        raise typer.Exit(EXIT_REFUSED) from error
    except BirthrecError as error:
        print_summary({"status": "failed", "error": str(error)})
        raise typer.Exit(1) from error
    except Exception as error:  # a bad run: the previous publish stays; say so and fail
        print_summary({"status": "failed", "error": f"{type(error).__name__}: {error}"})
        raise typer.Exit(1) from error
    print_summary(dataclasses.asdict(summary))


@app.command()
def rebuild(
    inbox: InboxOption,
    warehouse: WarehouseOption,
    as_of: AsOfOption = None,
) -> None:
    """Like run, but retrain the model and re-link every record from scratch."""
    run_flow(inbox, warehouse, as_of, rebuild=True)


@app.command()
def evaluate(
    truth: Annotated[Path, typer.Option("--truth", help="A generator's truth/ folder")],
    warehouse: Annotated[Path, typer.Option("--warehouse", help="The published DuckDB file")],
    errors: Annotated[int, typer.Option("--errors", help="Worst errors to list")] = 10,
) -> None:
    """Compare published links with the ground truth: precision, recall, F1, B-cubed."""
    from warehouse.evaluate_store import evaluate_warehouse

    report = evaluate_warehouse(warehouse, truth, errors)
    sys.stdout.write(json.dumps(report["worst_errors"], ensure_ascii=False, default=str,
                                indent=1) + "\n")
    for row in report["discrepancies"]:  # type: ignore[attr-defined]
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    print_summary(report["figures"])  # type: ignore[arg-type]


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", help="Folder for inbox/ and truth/")],
    births: Annotated[int, typer.Option("--births", help="Number of births")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed")] = 1,
    dirt_scale: Annotated[float, typer.Option("--dirt-scale",
                                              help="Multiply every dirt rate")] = 1.0,
) -> None:
    """Write a realistic demo inbox and its ground truth."""
    from warehouse.demo_inbox import write_demo

    summary = write_demo(out, births=births, seed=seed, dirt_scale=dirt_scale)
    print_summary(dataclasses.asdict(summary))


@app.command()
def report(
    warehouse: Annotated[Path, typer.Option("--warehouse", help="The published DuckDB file")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Where to write the page (default FILE.reports/<run_id>/report.html)")
    ] = None,
) -> None:
    """Write the run's HTML report (Chinese, self-contained, works offline)."""
    from warehouse.errors import BirthrecError
    from warehouse.html_report import write_html_report

    try:
        page = write_html_report(warehouse.resolve(), out)
    except BirthrecError as error:
        print_summary({"status": "failed", "error": str(error)})
        raise typer.Exit(1) from error
    print_summary({"status": "written", "report": str(page)})


@app.command()
def serve(
    inbox: InboxOption,
    warehouse: WarehouseOption,
    cron: Annotated[str, typer.Option("--cron", help="When to run, cron syntax")] = "0 2 * * *",
    timezone: Annotated[str, typer.Option("--timezone", help="IANA time zone of --cron")
                        ] = "Asia/Shanghai",
) -> None:
    """Run the nightly flow on a schedule (02:00 Beijing time) until stopped.

    Uses PREFECT_API_URL when set; otherwise starts a local Prefect server in the state
    folder and stops it on exit.
    """
    from flows.prefect_env import configure_prefect

    warehouse = warehouse.resolve()
    configure_prefect(StatePaths(warehouse).prefect_home)
    from flows.serve_nightly import serve_nightly
    from warehouse.errors import BirthrecError

    if not inbox.is_dir():
        print_summary({"status": "failed", "error": f"inbox {inbox} is not a folder"})
        raise typer.Exit(2)
    try:
        serve_nightly(inbox.resolve(), warehouse, cron, timezone)
    except (BirthrecError, ValueError, RuntimeError) as error:
        print_summary({"status": "failed", "error": str(error)})
        raise typer.Exit(1) from error
    print_summary({"status": "stopped", "warehouse": str(warehouse)})


@app.command()
def status(
    warehouse: WarehouseOption,
    inbox: Annotated[Path | None, typer.Option(
        "--inbox", help="Also list the files waiting in this inbox")] = None,
    runs: Annotated[int, typer.Option("--runs", help="How many recent runs to show")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object only")] = False,
) -> None:
    """Last runs, their outcome and warnings, and what waits in the inbox; safe during a run."""
    from flows.prefect_env import configure_prefect

    warehouse = warehouse.resolve()
    configure_prefect(StatePaths(warehouse).prefect_home)
    from flows.run_status import collect_status, render_status

    found = collect_status(warehouse, inbox.resolve() if inbox else None, runs)
    if not as_json:
        sys.stdout.write(render_status(found) + "\n")
    print_summary(found)


@app.command()
def workbook(
    warehouse: Annotated[Path, typer.Option("--warehouse", help="The published DuckDB file")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder for the workbooks (default FILE.reports/<run_id>/)")] = None,
) -> None:
    """Write the officers' workbooks (全县 and one per township) of the published run."""
    from warehouse.errors import BirthrecError
    from warehouse.officer_workbook import published_run_id, write_officer_workbooks
    from warehouse.read_only_state import open_state_read_only

    warehouse = warehouse.resolve()
    try:
        with open_state_read_only(warehouse) as state:
            run_id = published_run_id(state, warehouse)
            paths = write_officer_workbooks(state, warehouse, run_id, out)
    except BirthrecError as error:
        print_summary({"status": "failed", "error": str(error)})
        raise typer.Exit(1) from error
    print_summary({"status": "written", "run_id": run_id, "folder": str(paths[0].parent),
                   "workbooks": len(paths), "county": paths[0].name})


@app.command()
def case(
    case_id: Annotated[str, typer.Argument(help="The case's 案件编号 (discrepancy_id)")],
    warehouse: Annotated[Path, typer.Option("--warehouse", help="The published DuckDB file")],
) -> None:
    """Show one case in full, UNMASKED, from the restricted store (for the officer checking
    it); refused while a run is active."""
    from rich.console import Console

    from warehouse.case_detail import load_case_detail, print_case_detail
    from warehouse.errors import BirthrecError
    from warehouse.read_only_state import open_state_read_only

    warehouse = warehouse.resolve()
    try:
        with open_state_read_only(warehouse) as state:
            detail = load_case_detail(state, warehouse, case_id)
    except BirthrecError as error:
        sys.stderr.write(f"{error}\n")
        raise typer.Exit(1) from error
    print_case_detail(detail, Console())


def print_summary(summary: dict[str, object]) -> None:
    """The contract's last line on standard output: one line of JSON."""
    sys.stdout.write(json.dumps(summary, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def main() -> None:
    app()


if __name__ == "__main__":  # `python -m flows.cli` (benchmarks call it so)
    main()
