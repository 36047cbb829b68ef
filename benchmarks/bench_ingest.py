"""Benchmark: ingest + normalise + load of a generated inbox, and the whole nightly run.

    python benchmarks/bench_ingest.py --births 1000000 [--seed 11] [--keep]

Generates the inbox once (cached under benchmarks/out/), then, in a fresh child process
per measurement, times ingest+normalise+load per source format (no Prefect) and the full
`birthrec run`, and prints wall time, rows/s and peak memory (max RSS).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


def generate(births: int, seed: int) -> Path:
    target = OUT / f"gen-{births}-{seed}"
    if not (target / "inbox").is_dir():
        shutil.rmtree(target, ignore_errors=True)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "flows.cli", "generate", "--births", str(births),
                        "--seed", str(seed), "--out", str(target)], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        print(f"generated {births:,} births in {time.perf_counter() - started:.1f} s")
    size = sum(p.stat().st_size for p in (target / "inbox").rglob("*") if p.is_file())
    print(f"inbox: {target / 'inbox'} ({size / 1e6:.0f} MB)")
    return target


def measure_ingest(inbox: Path, work: Path) -> dict[str, object]:
    """Ingest, normalise and load every file into a fresh state (runs in a child process)."""
    from concurrent.futures import ThreadPoolExecutor
    from datetime import datetime

    from flows.nightly import STAGE_AHEAD
    from warehouse.errors import BadFileError
    from warehouse.inbox_files import InboxFile, list_inbox
    from warehouse.ingest import PseudonymCache, StagedFile, stage_file, store_staged_file
    from warehouse.read_reference import read_divisions
    from warehouse.state_paths import StatePaths, load_pseudonym_key
    from warehouse.state_store import open_scratch, open_state

    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_at_start = usage.ru_utime + usage.ru_stime  # imports and start-up left out
    paths = StatePaths(work / "bench.duckdb").create()
    pseudonyms = PseudonymCache(load_pseudonym_key(paths))  # one per run, as the flow
    started = time.perf_counter()
    divisions, _ = read_divisions(inbox)
    accepted, _ = list_inbox(inbox)
    listed = time.perf_counter()
    per_source: dict[str, dict[str, float]] = {}
    stage_seconds = store_seconds = 0.0
    seen: set[str] = set()
    new_files = []
    for inbox_file in accepted:
        if inbox_file.content_hash not in seen:
            seen.add(inbox_file.content_hash)
            new_files.append(inbox_file)

    def timed_stage(inbox_file: InboxFile) -> tuple[StagedFile | None, float]:
        t0 = time.perf_counter()
        try:
            with scratch.cursor() as cursor:
                return stage_file(inbox_file, divisions, cursor), time.perf_counter() - t0
        except BadFileError:  # rejected files are part of the data set; skip them here
            return None, time.perf_counter() - t0

    # As the flow does: stage STAGE_AHEAD files at once on threads, store in order.
    with (open_state(paths.state_db) as connection, open_scratch() as scratch,
          ThreadPoolExecutor(STAGE_AHEAD) as pool):
        for inbox_file, (staged, seconds) in zip(
                new_files, pool.map(timed_stage, new_files), strict=True):
            t1 = time.perf_counter()
            if staged is not None:
                store_staged_file(connection, staged, paths, "bench", datetime.now(), pseudonyms)
            t2 = time.perf_counter()
            stage_seconds += seconds
            store_seconds += t2 - t1
            entry = per_source.setdefault(
                f"{inbox_file.source}{inbox_file.extension}", {"rows": 0, "seconds": 0.0})
            entry["rows"] += staged.rows_read if staged else 0
            entry["seconds"] += seconds + (t2 - t1)
    total = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "total_seconds": round(total, 2),
        # CPU of every thread (staging threads, polars' and DuckDB's pools): on a shared
        # machine this compares versions better than wall time.
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime - cpu_at_start, 2),
        "list_and_hash_seconds": round(listed - started, 2),
        "read_normalise_seconds": round(stage_seconds, 2),
        "load_seconds": round(store_seconds, 2),
        "per_source": {k: {"rows": int(v["rows"]), "seconds": round(v["seconds"], 2),
                           "rows_per_second": int(v["rows"] / v["seconds"])}
                       for k, v in per_source.items()},
        "peak_rss_mb": usage.ru_maxrss // 1024,
    }


def measure_run(inbox: Path, work: Path) -> dict[str, object]:
    warehouse = work / "run" / "warehouse.duckdb"
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).with_name("birthrec")), "run", "--inbox", str(inbox),
         "--warehouse", str(warehouse)], capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {"wall_seconds": round(seconds, 2), "status": summary.get("status"),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--births", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--generated", type=Path,
                        help="an already generated folder (with inbox/) to use instead")
    parser.add_argument("--skip-run", action="store_true", help="skip the whole nightly run")
    parser.add_argument("--keep", action="store_true",
                        help="keep the ingest state (to compare record files between versions)")
    parser.add_argument("--out", type=Path, default=OUT,
                        help="folder for the work files (default benchmarks/out)")
    parser.add_argument("--child", choices=["ingest"], help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "ingest":
        print(json.dumps(measure_ingest(Path(args.work) / "inbox", Path(args.work) / "state")))
        return
    target = args.generated or generate(args.births, args.seed)
    work = args.out / f"work-{args.births}-{args.seed}"
    shutil.rmtree(work, ignore_errors=True)
    (work / "state").mkdir(parents=True)
    (work / "inbox").symlink_to((target / "inbox").resolve())
    child = subprocess.run([sys.executable, __file__, "--child", "ingest", "--work", str(work)],
                           capture_output=True, text=True, cwd=ROOT, check=True)
    ingest = json.loads(child.stdout.strip().splitlines()[-1])
    print("ingest + normalise + load (no Prefect):")
    print(json.dumps(ingest, indent=2))
    if not args.skip_run:
        run = measure_run(target / "inbox", work)
        print("whole nightly run (birthrec run, Prefect temporary server included):")
        print(json.dumps(run, indent=2))
    if args.keep:
        print(f"kept: {work / 'state'}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
