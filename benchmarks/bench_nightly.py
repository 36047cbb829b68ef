"""Benchmark: a nightly run on a night's new records, against the full run and a rebuild.

    python benchmarks/bench_nightly.py --births 100000 [--seed 11] [--new-share 0.01]

Takes the generated inbox (cached under benchmarks/out/gen-<births>-<seed>/, made by
bench_linking's helper) and builds two inboxes under benchmarks/out/nightly-<births>-<seed>/:
A, the "before", and B = A plus the night. For each department, the last rows of its latest
file (new-share of the department's data rows, at least one; when that file is shorter,
whole files before it too) move into a new file named for the next day, in the same format
and encoding; A holds the shortened file, B the same bytes plus the new file, and every
other file is hard-linked, so the second run ingests only the new files.

Then, each in a fresh process: `birthrec run` on A (full), `birthrec run` on B into the same
warehouse (nightly), and `birthrec rebuild` on B into a fresh warehouse. For each: wall
time, peak RSS, and the flow's own work (finished_at - started_at of its attempt in the
restricted `runs` table), the rest being process and Prefect start-up. Printed: records
and persons, person ids kept by the nightly run, nightly work / full work (issue 3 wants
< 0.10), how far the nightly sequence's links differ from the rebuild's, and both scored
against the generator's truth.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from bench_linking import BIRTHREC, OUT, ROOT, code_version, generate

# Same key for every run: the rebuild's new ids are then comparable with the nightly's.
BENCH_PSEUDONYM_KEY = "bench-nightly-not-a-secret"
DEPARTMENTS = ("jisheng", "weisheng", "gongan", "minzheng")
# Prefect's log lines: "11:00:05.254 | INFO    | Task run 'link_records-0f3' - Finished ..."
PREFECT_LOG_LINE = re.compile(
    r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) \| \w+\s*\| (Flow run|Task run) '([^']+)' - (.*)$")
LINKING_LINE = re.compile(r"linking \((\w+)\): (\d+) records probed, (\d+) candidate pairs")


@dataclass(frozen=True)
class Move:
    """Rows of one delivered file that arrive on the night instead, as a file of that name."""

    source: str
    original: Path  # in the generated inbox
    new_name: str
    rows: int | None  # the last rows to move; None: the whole file, bytes unchanged
    file_rows: int  # the file's data rows


def plan_night(inbox: Path, truth: Path, share: float) -> tuple[list[Move], dict[str, int]]:
    """Per department, the last share of its data rows (at least one), in the contract's
    order: the tail of its latest file, and when that file is shorter, whole files before
    it and the tail of the one before those. The night's files are named for the day after
    the latest file, numbered in their original order, so they apply after everything in A
    and in the order they were delivered. Also returns each department's rows (those of
    truth/files.csv, byte-copies left out: they are the same records again)."""
    from warehouse.inbox_files import list_inbox

    accepted, _ = list_inbox(inbox)
    files = pl.read_csv(truth / "files.csv", infer_schema=False).filter(
        pl.col("fate") != "duplicate_bytes").with_columns(pl.col("rows").cast(pl.Int64))
    rows_of = dict(files.select("file", "rows").iter_rows())
    moves: list[Move] = []
    department_rows: dict[str, int] = {}
    for source in DEPARTMENTS:
        delivered = sorted((f for f in accepted if f.source == source and f.relative in rows_of),
                           key=lambda f: f.order_key)
        if not delivered:
            continue
        department_rows[source] = int(files.filter(pl.col("source") == source)["rows"].sum())
        need = max(1, round(share * department_rows[source]))
        taken: list[tuple[Path, int | None]] = []
        for inbox_file in reversed(delivered):
            if need <= 0:
                break
            whole = rows_of[inbox_file.relative] <= need and inbox_file is not delivered[0]
            taken.append((inbox_file.path, None if whole else need))
            need -= rows_of[inbox_file.relative]
        night = delivered[-1].extract_date + timedelta(days=1)
        for seq, (path, rows) in enumerate(reversed(taken)):
            name = f"{source}_{night:%Y%m%d}{'_' + str(seq) if seq else ''}{path.suffix}"
            moves.append(Move(source, path, name, rows, rows_of[
                path.relative_to(inbox).as_posix()]))
    return moves, department_rows


def split_csv(original: Path, kept: Path, moved: Path, rows: int, encoding: str) -> int:
    """Split by lines of the decoded text: the header in both, the same encoding, BOM and line
    ending. Returns the rows moved (fewer when the file is shorter)."""
    data = original.read_bytes()
    bom = codecs.BOM_UTF8 if encoding == "utf-8" and data.startswith(codecs.BOM_UTF8) else b""
    text = data[len(bom):].decode(encoding)
    ending = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(ending)
    closing = ending if lines[-1] == "" else ""
    if closing:
        lines.pop()
    header, body = lines[0], lines[1:]
    if any(line.count('"') % 2 for line in body):
        raise SystemExit(f"{original}: a quoted field spans lines; splitting by lines would "
                         "break it")
    rows = min(rows, len(body))
    cut = len(body) - rows

    def encoded(part: list[str]) -> bytes:
        return bom + (ending.join([header, *part]) + closing).encode(encoding)

    if encoded(body) != data:
        raise SystemExit(f"{original}: decoding and encoding again changes its bytes")
    kept.write_bytes(encoded(body[:cut]))
    moved.write_bytes(encoded(body[cut:]))
    return rows


def split_xlsx(original: Path, kept: Path, moved: Path, rows: int) -> int:
    """Split the first sheet's rows into two workbooks, each with the header row.

    Cells keep their type (text, number, date with its number format), so a number-stored
    ID or an Excel date cell reads the same; other sheets, styles and widths are dropped.
    """
    import openpyxl
    import xlsxwriter

    book = openpyxl.load_workbook(original, read_only=True)
    sheet = book.worksheets[0]
    grid = [[(cell.value, getattr(cell, "number_format", None)) for cell in row]
            for row in sheet.iter_rows()]
    created, title = book.properties.created, sheet.title
    book.close()
    while len(grid) > 1 and all(value is None for value, _ in grid[-1]):
        grid.pop()  # trailing blank rows are not records
    header, body = grid[0], grid[1:]
    rows = min(rows, len(body))
    cut = len(body) - rows
    for path, part in ((kept, body[:cut]), (moved, body[cut:])):
        workbook = xlsxwriter.Workbook(str(path), {
            "constant_memory": True, "strings_to_numbers": False, "strings_to_formulas": False,
            "strings_to_urls": False})
        workbook.set_properties({"created": created, "author": "", "title": ""})
        out = workbook.add_worksheet(title)
        formats: dict[str, Any] = {}
        for row_index, cells in enumerate([header, *part]):
            for column, (value, number_format) in enumerate(cells):
                if value is None:
                    continue
                if isinstance(value, str):
                    out.write_string(row_index, column, value)
                elif isinstance(value, bool):
                    out.write_boolean(row_index, column, value)
                elif isinstance(value, int | float):
                    out.write_number(row_index, column, value)
                else:  # a date or datetime cell
                    style = number_format or "yyyy-mm-dd"
                    if style not in formats:
                        formats[style] = workbook.add_format({"num_format": style})
                    out.write_datetime(row_index, column, value, formats[style])
        workbook.close()
    check_workbook_split(original, kept, moved)
    return rows


def split_xls(original: Path, kept: Path, moved: Path, rows: int) -> int:
    """A legacy .xls through fastexcel (as text) and xlwt: number and date cells become text."""
    import fastexcel
    import xlwt

    grid = fastexcel.read_excel(original).load_sheet(
        0, header_row=None, dtypes="string").to_polars().rows()
    header, body = grid[0], grid[1:]
    rows = min(rows, len(body))
    cut = len(body) - rows
    for path, part in ((kept, body[:cut]), (moved, body[cut:])):
        workbook = xlwt.Workbook(encoding="utf-8")
        out = workbook.add_sheet("Sheet1")
        for row_index, cells in enumerate([header, *part]):
            for column, value in enumerate(cells):
                if value is not None:
                    out.write(row_index, column, value)
        workbook.save(str(path))
    print(f"NOTE: {original.name} is a legacy .xls, rewritten with every cell as text: its "
          "number and date cells lose their type")
    return rows


def check_workbook_split(original: Path, kept: Path, moved: Path) -> None:
    """The two parts read (as text, as the product reads them) exactly like the original."""
    import fastexcel

    def cells(path: Path) -> pl.DataFrame:
        return fastexcel.read_excel(path).load_sheet(
            0, header_row=None, dtypes="string").to_polars()

    whole, head, tail = cells(original), cells(kept), cells(moved)
    again = pl.concat([head, tail.slice(1)], how="diagonal_relaxed")
    if not again.equals(whole.select(again.columns)):
        raise SystemExit(f"{original}: the rewritten parts do not read like the original")


def split_file(move: Move, kept: Path, moved: Path) -> int:
    """Move the last rows of one file into the night's file, per the file's format."""
    from schemas.sources import SOURCES

    assert move.rows is not None
    suffix = move.original.suffix.lower()
    if suffix == ".csv":
        return split_csv(move.original, kept, moved, move.rows, SOURCES[move.source].csv_encoding)
    if suffix == ".xls":
        return split_xls(move.original, kept, moved, move.rows)
    return split_xlsx(move.original, kept, moved, move.rows)


def link_or_copy(source: Path, target: Path) -> None:
    """Hard link (same bytes, no space); a copy where the filesystem refuses."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def build_inboxes(generated: Path, work: Path, share: float
                  ) -> tuple[Path, Path, list[dict[str, Any]], dict[str, int]]:
    """Inbox A (without the night's rows) and B (A's bytes plus the night's files)."""
    inbox, before, after = generated / "inbox", work / "inbox-A", work / "inbox-B"
    moves, department_rows = plan_night(inbox, generated / "truth", share)
    by_path = {move.original: move for move in moves}
    for folder in (*DEPARTMENTS, "reference", "review"):
        for root in (before, after):
            (root / folder).mkdir(parents=True, exist_ok=True)
    night: list[dict[str, Any]] = []
    for path in sorted(p for p in inbox.rglob("*") if p.is_file()):
        relative = path.relative_to(inbox)
        move = by_path.get(path)
        if relative.parts[0] == "reference":  # divisions.csv: copied, not linked
            for root in (before, after):
                shutil.copyfile(path, root / relative)
        elif move is None:
            link_or_copy(path, before / relative)
            link_or_copy(before / relative, after / relative)
        elif move.rows is None:  # the whole file arrives on the night, renamed
            link_or_copy(path, after / relative.parent / move.new_name)
        else:
            rows = split_file(move, before / relative, after / relative.parent / move.new_name)
            link_or_copy(before / relative, after / relative)
        if move is not None:
            night.append({"source": move.source, "from": relative.as_posix(),
                          "new_file": move.new_name,
                          "rows_moved": move.file_rows if move.rows is None else rows,
                          "whole_file": move.rows is None})
    return before, after, night, department_rows


@dataclass(frozen=True)
class Measured:
    """One `birthrec` command in its own process."""

    label: str
    wall_seconds: float
    work_seconds: float | None
    peak_rss_mb: int
    exit_status: int
    summary: dict[str, Any]
    steps: dict[str, float]
    linking: dict[str, Any]

    @property
    def startup_seconds(self) -> float | None:
        """Process start, imports, Prefect's temporary server and teardown."""
        return None if self.work_seconds is None else self.wall_seconds - self.work_seconds


def run_birthrec(label: str, command: str, inbox: Path, warehouse: Path, logs: Path) -> Measured:
    """Run and time one command; its own peak RSS comes from wait4 on that child alone."""
    env = {**os.environ, "BIRTHREC_PSEUDONYM_KEY": os.environ.get(
        "BIRTHREC_PSEUDONYM_KEY", BENCH_PSEUDONYM_KEY)}
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    out_log, err_log = logs / f"{label}.out", logs / f"{label}.log"
    started = time.perf_counter()
    with open(out_log, "w") as out, open(err_log, "w") as err:
        process = subprocess.Popen(
            [str(BIRTHREC), command, "--inbox", str(inbox), "--warehouse", str(warehouse)],
            stdout=out, stderr=err, cwd=ROOT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    lines = out_log.read_text().strip().splitlines()
    summary = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}
    print(f"{label}: `birthrec {command}` exit {process.returncode} in {wall:.1f} s "
          f"(log {err_log})", flush=True)
    if process.returncode != 0:
        raise SystemExit(f"{label} failed: {summary or 'no summary'}; see {err_log}")
    return Measured(label, round(wall, 2), attempt_seconds(warehouse),
                    usage.ru_maxrss // 1024, process.returncode, summary,
                    step_seconds(err_log), linking_counts(err_log))


def attempt_seconds(warehouse: Path) -> float | None:
    """The last attempt's finished_at - started_at in the restricted run log."""
    state = Path(f"{warehouse}.state") / "restricted" / "state.duckdb"
    with duckdb.connect(str(state), read_only=True) as connection:
        rows = connection.execute("SELECT started_at, finished_at FROM runs "
                                  "ORDER BY started_at DESC LIMIT 1").fetchall()
    if not rows or rows[0][1] is None:
        return None
    return round((rows[0][1] - rows[0][0]).total_seconds(), 2)


def step_seconds(log: Path) -> dict[str, float]:
    """Seconds per task from Prefect's log: each task's finish minus the previous finish (from
    the flow's start), summed by task name. Work between tasks counts to the next task."""
    steps: dict[str, float] = {}
    mark: float | None = None
    for line in log.read_text(errors="replace").splitlines():
        match = PREFECT_LOG_LINE.match(line)
        if match is None:
            continue
        hours, minutes, seconds, millis, kind, name, message = match.groups()
        now = int(hours) * 3600 + int(minutes) * 60 + int(seconds) + int(millis) / 1000
        if kind == "Flow run" and message.startswith("Beginning flow run"):
            mark = now
            continue
        if mark is None or not message.startswith("Finished in state"):
            continue
        if now < mark:  # past midnight
            now += 86_400
        step = "(flow, after its last task)" if kind == "Flow run" else name.rsplit("-", 1)[0]
        steps[step] = round(steps.get(step, 0.0) + now - mark, 2)
        mark = now
    return steps


def linking_counts(log: Path) -> dict[str, Any]:
    """The link task's mode and counts, as it logged them."""
    match = LINKING_LINE.search(log.read_text(errors="replace"))
    if match is None:
        return {}
    return {"mode": match[1], "records_probed": int(match[2]), "candidate_pairs": int(match[3])}


def read_published(warehouse: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.sql(sql).pl()


def person_id_stability(before: pl.DataFrame, after: pl.DataFrame, history: pl.DataFrame,
                        run_id: str, truth: Path) -> dict[str, Any]:
    """Of the persons published before, how many keep their id after.

    A person keeps its id when every record it had still carries that id. For the others:
    the reason in person_history (merged: the id was retired; split: part of the child got a
    new id), or records moved to another existing child; and whether the truth agrees (the
    person held records of more than one true child before, or its records went to a true
    child's other records).
    """
    joined = before.join(after.rename({"person_id": "person_id_after"}),
                         on=["source", "record_id"], how="left")
    per_person = joined.group_by("person_id").agg(
        (pl.col("person_id_after") == pl.col("person_id")).fill_null(False).all()
        .alias("kept"), pl.col("person_id_after").is_null().sum().alias("records_gone"))
    retired = history.filter(pl.col("retired_run_id") == run_id)
    alive = after.select("person_id").unique().with_columns(pl.lit(True).alias("id_alive"))
    changed = per_person.filter(~pl.col("kept")).join(alive, on="person_id", how="left").join(
        retired.select(pl.col("retired_id").alias("person_id"), "reason").unique("person_id"),
        on="person_id", how="left").with_columns(
        pl.col("reason").fill_null(pl.when(pl.col("id_alive")).then(
            pl.lit("records moved to another person")).otherwise(pl.lit("no history row"))))
    true_children = pl.read_csv(truth / "records.csv", infer_schema=False).select(
        "source", "record_id", "child_key")
    mixed_before = before.join(changed.select("person_id"), on="person_id").join(
        true_children, on=["source", "record_id"]).group_by("person_id").agg(
        (pl.col("child_key").n_unique() > 1).alias("was_a_false_merge"))
    new_records = after.join(before, on=["source", "record_id"], how="anti")
    ids_before = before.select("person_id").unique()
    return {
        "persons_before": per_person.height,
        "persons_keeping_id": int(per_person["kept"].sum()),
        "persons_changed": changed.height,
        "changed_by_reason": dict(changed.group_by("reason").len().sort("reason").iter_rows()),
        "changed_that_were_false_merges_per_truth": int(
            mixed_before["was_a_false_merge"].sum()),
        "records_of_before_missing_after": int(per_person["records_gone"].sum()),
        "history_rows_this_run": retired.height,
        "new_records": new_records.height,
        "new_records_joining_existing_person": new_records.join(
            ids_before, on="person_id").height,
        "new_persons": after.select("person_id").unique().join(
            ids_before, on="person_id", how="anti").height,
    }


def compare_links(nightly: pl.DataFrame, rebuild: pl.DataFrame) -> dict[str, Any]:
    """Nightly sequence vs full rebuild on the same records: the rebuild's persons stand as
    truth, so precision is the share of nightly pairs the rebuild also makes."""
    from transforms.evaluate_links import bcubed_scores, pairwise_scores

    both = nightly.join(rebuild.rename({"person_id": "child_key"}), on=["source", "record_id"],
                        how="inner").with_row_index("rec").with_columns(pl.col("rec").cast(
                            pl.Int64))
    sizes = both.with_columns(
        pl.len().over("person_id").alias("nightly_size"),
        pl.len().over("child_key").alias("rebuild_size"),
        pl.len().over("person_id", "child_key").alias("overlap"))
    differing = sizes.filter((pl.col("overlap") != pl.col("nightly_size"))
                             | (pl.col("overlap") != pl.col("rebuild_size")))
    return {
        **{k: round(v, 6) for k, v in {**pairwise_scores(both), **bcubed_scores(both)}.items()},
        "records_compared": both.height,
        "records_only_nightly": nightly.join(rebuild, on=["source", "record_id"],
                                             how="anti").height,
        "records_only_rebuild": rebuild.join(nightly, on=["source", "record_id"],
                                             how="anti").height,
        "records_whose_cluster_differs": differing.height,
        "persons_nightly": both["person_id"].n_unique(),
        "persons_rebuild": both["child_key"].n_unique(),
        "persons_with_same_id_and_records": sizes.filter(
            (pl.col("person_id") == pl.col("child_key"))
            & (pl.col("overlap") == pl.col("nightly_size"))
            & (pl.col("overlap") == pl.col("rebuild_size"))).select("person_id").n_unique(),
    }


def score_against_truth(warehouse: Path, truth: Path) -> dict[str, float]:
    """Pairwise and B-cubed figures as `birthrec evaluate` computes them."""
    from transforms.evaluate_links import evaluate_links
    from warehouse.evaluate_store import load_assignments

    assigned, children = load_assignments(warehouse, truth)
    return {k: round(v, 6) for k, v in evaluate_links(assigned, children).items()}


def print_report(runs: list[Measured], stability: dict[str, Any], difference: dict[str, Any],
                 truth_scores: dict[str, dict[str, float]]) -> float | None:
    """The table and figures; returns nightly work / full work."""
    header = (f"{'run':<10} {'wall s':>7} {'work s':>7} {'start-up s':>10} {'peak MB':>8} "
              f"{'files in':>8} {'rows in':>8} {'in use':>8} {'persons':>8}  linking")
    print(header)
    print("-" * (len(header) + 30))
    for run in runs:
        files = run.summary.get("files", {})
        print(f"{run.label:<10} {run.wall_seconds:>7.1f} {run.work_seconds or float('nan'):>7.1f} "
              f"{run.startup_seconds or float('nan'):>10.1f} {run.peak_rss_mb:>8,} "
              f"{files.get('files_in', 0):>8} {files.get('rows_in', 0):>8,} "
              f"{run.summary.get('rows_in_use', 0):>8,} {run.summary.get('persons', 0):>8,}  "
              f"{run.linking.get('mode')}: {run.linking.get('records_probed', 0):,} records "
              f"probed, {run.linking.get('candidate_pairs', 0):,} pairs")
    for run in runs:
        top = sorted(run.steps.items(), key=lambda kv: -kv[1])[:6]
        print(f"  {run.label} work by task (s, from Prefect's log): "
              + ", ".join(f"{k}={v:g}" for k, v in top))
    full, nightly, rebuild = runs

    def share(part: float | None, whole: float | None) -> float | None:
        return round(part / whole, 3) if part and whole else None

    ratio = share(nightly.work_seconds, full.work_seconds)
    print(f"\nnightly work / full work: {nightly.work_seconds} s / {full.work_seconds} s = "
          f"{ratio} (target < 0.10: {'met' if ratio is not None and ratio < 0.10 else 'NOT met'})"
          f"; against the rebuild's work (also a full run, on B): "
          f"{share(nightly.work_seconds, rebuild.work_seconds)}; wall {nightly.wall_seconds} s / "
          f"{full.wall_seconds} s = {share(nightly.wall_seconds, full.wall_seconds)}")
    print(f"person ids: {stability['persons_keeping_id']:,} of {stability['persons_before']:,} "
          f"persons published after A keep their id after the nightly run "
          f"({stability['persons_changed']} changed: {stability['changed_by_reason'] or 'none'}"
          f", of which {stability['changed_that_were_false_merges_per_truth']} held two true "
          f"children before); "
          f"{stability['new_records']:,} new records, "
          f"{stability['new_records_joining_existing_person']:,} joined an existing person, "
          f"{stability['new_persons']:,} new persons")
    print(f"nightly sequence vs full rebuild on B ({difference['records_compared']:,} records): "
          f"pairwise P {difference['pairwise_precision']:.6f} R "
          f"{difference['pairwise_recall']:.6f} F1 {difference['pairwise_f1']:.6f}, B-cubed F1 "
          f"{difference['bcubed_f1']:.6f}; {difference['records_whose_cluster_differs']:,} "
          f"records in a cluster that differs; persons {difference['persons_nightly']:,} vs "
          f"{difference['persons_rebuild']:,}; {difference['persons_with_same_id_and_records']:,} "
          "with the same id too (a rebuild into a fresh warehouse seeds every id anew)")
    print(f"{'against truth':<16} {'P':>8} {'R':>8} {'F1':>8} {'B3 F1':>8} {'persons':>8} "
          f"{'children':>8} {'twins':>5}")
    for label, scores in truth_scores.items():
        print(f"{label:<16} {scores['pairwise_precision']:>8.5f} {scores['pairwise_recall']:>8.5f} "
              f"{scores['pairwise_f1']:>8.5f} {scores['bcubed_f1']:>8.5f} "
              f"{int(scores['persons_found']):>8,} {int(scores['true_children']):>8,} "
              f"{int(scores['twins_merged']):>5}")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--births", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--new-share", type=float, default=0.01,
                        help="share of each department's rows that arrive on the night")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    generated = generate(args.births, args.seed, 1.0, fresh=False)
    truth = generated / "truth"
    work = OUT / f"nightly-{args.births}-{args.seed}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "logs").mkdir(parents=True)
    before, after, moved, department_rows = build_inboxes(generated, work, args.new_share)
    total_moved = sum(m["rows_moved"] for m in moved)
    total_rows = sum(department_rows.values())
    print(f"inboxes: {before} and {after}; the night's files: " + "; ".join(
        f"{m['new_file']} ({m['rows_moved']:,} rows: "
        f"{'all of' if m['whole_file'] else 'the last rows of'} {m['from']})" for m in moved)
        + f" = {total_moved:,} rows, {total_moved / total_rows:.2%} of {total_rows:,} data rows")
    print("NOTE: shortened workbooks and the night's workbooks are rewritten (openpyxl -> "
          "xlsxwriter) with text, number and date cells kept; first sheet only, styles "
          "dropped. CSVs keep their bytes line for line.")

    warehouse = work / "nightly" / "warehouse.duckdb"
    rebuilt = work / "rebuild" / "warehouse.duckdb"
    logs = work / "logs"
    full = run_birthrec("full-A", "run", before, warehouse, logs)
    published_after_a = read_published(
        warehouse, "SELECT source, record_id, person_id FROM person_source")
    published_after_a.write_parquet(work / "person_source-after-A.parquet")
    truth_scores = {"full run on A": score_against_truth(warehouse, truth)}
    nightly = run_birthrec("nightly-B", "run", after, warehouse, logs)
    rebuild = run_birthrec("rebuild-B", "rebuild", after, rebuilt, logs)
    truth_scores["nightly on B"] = score_against_truth(warehouse, truth)
    truth_scores["rebuild on B"] = score_against_truth(rebuilt, truth)

    published_after_b = read_published(
        warehouse, "SELECT source, record_id, person_id FROM person_source")
    history = read_published(warehouse, "SELECT * FROM person_history")
    stability = person_id_stability(published_after_a, published_after_b, history,
                                    str(nightly.summary.get("run_id")), truth)
    difference = compare_links(published_after_b, read_published(
        rebuilt, "SELECT source, record_id, person_id FROM person_source"))

    load = os.getloadavg()
    print(f"\nnightly {args.births:,} births, seed {args.seed}, new share {args.new_share:g}, "
          f"code {code_version()}; load average {load[0]:.1f} (1 min) on {os.cpu_count()} "
          f"cores at the end: timings on a shared machine are noisy. work = the flow's "
          f"finished_at - started_at in the restricted run log; start-up = wall - work "
          f"(process, imports, Prefect's temporary server, teardown)"
          + ("; PREFECT_API_URL is set" if "PREFECT_API_URL" in os.environ else ""))
    runs = [full, nightly, rebuild]
    ratio = print_report(runs, stability, difference, truth_scores)
    results = {
        "births": args.births, "seed": args.seed, "new_share": args.new_share,
        "code": code_version(), "load_average_1min": round(load[0], 1), "night": moved,
        "department_rows": department_rows,
        "runs": {r.label: {"wall_seconds": r.wall_seconds, "work_seconds": r.work_seconds,
                           "startup_seconds": r.startup_seconds, "peak_rss_mb": r.peak_rss_mb,
                           "summary": r.summary, "steps": r.steps, "linking": r.linking}
                 for r in runs},
        "nightly_work_over_full_work": ratio, "person_ids": stability,
        "nightly_vs_rebuild": difference, "against_truth": truth_scores,
    }
    (work / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(json.dumps(results, ensure_ascii=False, default=str))


if __name__ == "__main__":
    main()
