"""Benchmark: birthrec's linking against Splink on the same normalised records.

    python benchmarks/bench_linking.py [--births 100000] [--seed 11] [--dirt-scale 3]
                                       [--sides birthrec,splink] [--verify]

Generates an inbox (cached under benchmarks/out/), ingests it once with `birthrec run`, and
exports the records in use (birthrec's normalised records) to parquet. Then, each in a fresh
child process:

- birthrec: the steps of transforms.link_children.link_children called one by one in its
  order (prepare, block, compare, train = u sampling + EM, score, cluster), timed, with
  peak RSS (`--verify` also runs link_children whole and checks the clusters agree);
- Splink (benchmarks/.venv-splink, see benchmarks/splink_side.py) on birthrec's link
  columns (valid IDs only, as link_records gives them) with birthrec's own blocking rules
  translated to Splink SQL: train, block, predict, and two clusterings (connected
  components; single best link, one record per department).

Both sides' clusters are scored here with transforms/evaluate_links.py against the
generator's truth, and one table is printed. Seed 11 is for reporting; linking was tuned on 7.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
SPLINK_PYTHON = ROOT / "benchmarks" / ".venv-splink" / "bin" / "python"
SPLINK_SIDE = ROOT / "benchmarks" / "splink_side.py"
BIRTHREC = Path(sys.executable).with_name("birthrec")

# What Splink is given: birthrec's link columns (transforms/link_records.py) under the
# names Splink expects. `rec` is birthrec's own row index and stays behind.
SPLINK_COLUMNS = (
    "unique_id", "source_dataset", "child_name", "child_name_pinyin", "child_id",
    "child_id_cleaned", "mother_name", "mother_name_pinyin", "mother_id", "mother_id_cleaned",
    "mother_id_prefix", "father_name", "father_name_pinyin", "father_id", "birth_cert_number",
    "birth_date", "sex", "township_code", "birth_weight_g", "birth_order",
)


def variant_name(births: int, seed: int, dirt_scale: float) -> str:
    suffix = "" if dirt_scale == 1.0 else f"-dirt{dirt_scale:g}"
    return f"{births}-{seed}{suffix}"


def code_version() -> str:
    """The commit the working tree is at, `+dirty` when it has uncommitted changes."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, cwd=ROOT).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True, cwd=ROOT).stdout.strip()
    return head + ("+dirty" if dirty else "")


def generate(births: int, seed: int, dirt_scale: float, fresh: bool) -> Path:
    """The generated inbox and truth (shared with bench_ingest.py for the default dirt)."""
    target = OUT / f"gen-{variant_name(births, seed, dirt_scale)}"
    if fresh or not (target / "truth" / "records.csv").is_file():
        shutil.rmtree(target, ignore_errors=True)
        started = time.perf_counter()
        subprocess.run([str(BIRTHREC), "generate", "--births", str(births), "--seed",
                        str(seed), "--dirt-scale", str(dirt_scale), "--out", str(target)],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        (target / "made_by.txt").write_text(code_version())
        print(f"generated {births:,} births in {time.perf_counter() - started:.0f} s: {target}")
    return target


def log_lines(path: Path) -> list[str]:
    return path.read_text(errors="replace").strip().splitlines()


def ingest(generated: Path, work: Path, fresh: bool) -> Path:
    """`birthrec run` once; the state DB's records in use are what both sides link.

    A run that fails after storing its records (in publish, say) still leaves them in use:
    the benchmark says so and goes on, since it measures linking only.
    """
    warehouse = work / "warehouse.duckdb"
    state = Path(f"{warehouse}.state") / "restricted" / "state.duckdb"
    if not fresh and state.is_file() and (work / "run.done").is_file():
        return state
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    started = time.perf_counter()
    with open(work / "run.log", "w") as log:
        done = subprocess.run([str(BIRTHREC), "run", "--inbox", str(generated / "inbox"),
                               "--warehouse", str(warehouse)], cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT)
    print(f"birthrec run (ingest, link, publish) in {time.perf_counter() - started:.0f} s, "
          f"exit {done.returncode}")
    if done.returncode != 0:
        if not state.is_file():
            sys.exit(f"birthrec run failed before storing records; see {work / 'run.log'}")
        summary = next((line for line in reversed(log_lines(work / "run.log"))
                        if line.startswith("{")), "")
        print(f"WARNING: birthrec run failed (see {work / 'run.log'}), but its records in use "
              f"are stored; linking them anyway. Its summary: {summary[:300]}")
    (work / "run.done").write_text(str(done.returncode))
    (work / "made_by.txt").write_text(code_version())
    return state


def export_records(state: Path, work: Path) -> Path:
    """records_in_use as canonical parquet, in the order birthrec's nightly run loads them."""
    import duckdb

    from schemas.canonical import CANONICAL

    canonical = work / "records_in_use.parquet"
    if not canonical.is_file():
        with duckdb.connect(str(state), read_only=True) as connection:
            connection.execute(f"COPY (SELECT {', '.join(CANONICAL)} FROM records_in_use "
                               f"ORDER BY source, record_id) TO '{canonical}' (FORMAT parquet)")
    return canonical


def blocking_key_sql(keys: tuple[Any, ...], prefix: str) -> tuple[list[str], dict[str, Any]]:
    """Column names for one side of a blocking rule's keys; derived keys become columns."""
    names, derived = [], {}
    for i, key in enumerate(keys):
        if key.meta.is_column():
            names.append(key.meta.output_name())
        else:
            names.append(f"{prefix}_{i}")
            derived[f"{prefix}_{i}"] = key
    return names, derived


def export_for_splink(canonical: Path, work: Path) -> tuple[Path, Path]:
    """What Splink links: birthrec's link columns (link_records), plus birthrec's blocking
    rules (transforms/block.py) as Splink SQL, each key a column (a derived key such as
    birth date + 1 day is computed here with birthrec's own expression), so that both sides
    block on exactly the same keys whatever BLOCKING_RULES says today. Splink keeps only
    l.id < r.id, so an asymmetric rule becomes two rules, one per direction."""
    import polars as pl

    from transforms.block import BLOCKING_RULES
    from transforms.link_records import LINK_INPUT_COLUMNS, link_records

    links = link_records(pl.read_parquet(canonical, columns=list(LINK_INPUT_COLUMNS)))
    rules: list[dict[str, str]] = []
    derived: dict[str, Any] = {}
    for index, rule in enumerate(BLOCKING_RULES):
        probe, probe_derived = blocking_key_sql(rule.probe, f"block{index}_probe")
        build, build_derived = blocking_key_sql(rule.build_keys, f"block{index}_build")
        derived |= probe_derived | build_derived
        forward = " AND ".join(f"l.{p} = r.{b}" for p, b in zip(probe, build, strict=True))
        rules.append({"name": rule.name, "sql": forward})
        if rule.build is not None:
            backward = " AND ".join(f"r.{p} = l.{b}" for p, b in zip(probe, build, strict=True))
            rules.append({"name": f"{rule.name} (reversed)", "sql": backward})
    for_splink, rules_file = work / "splink_input.parquet", work / "splink_blocking.json"
    links.with_columns(
        (pl.col("source") + ":" + pl.col("record_id")).alias("unique_id"),
        pl.col("source").alias("source_dataset"),
        *[key.alias(name) for name, key in derived.items()],
    ).select(*SPLINK_COLUMNS, *derived).write_parquet(for_splink)
    rules_file.write_text(json.dumps(rules, indent=2, ensure_ascii=False))
    return for_splink, rules_file


def peak_rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def link_with_birthrec(canonical: Path, out: Path, verify: bool) -> dict[str, Any]:
    """Child process: link_children's own steps called one by one in its order, timed.

    With `verify`, link_children itself then runs on the same records and its clusters must
    be the same (a check that the staged path is still the product's path).
    """
    import polars as pl

    from transforms.block import block_pairs
    from transforms.cluster import DEFAULT_CLUSTER_SETTINGS, cluster_records
    from transforms.compare import compare_pairs
    from transforms.link_children import (
        flag_pairs,
        link_children,
        record_link_probability,
        train_model,
        with_member_keys,
    )
    from transforms.link_records import LINK_INPUT_COLUMNS, link_records
    from transforms.score import score_pairs

    seconds: dict[str, float] = {}
    peak_after: dict[str, int] = {}

    def stage(name: str, since: float) -> float:
        now = time.perf_counter()
        seconds[name] = now - since
        peak_after[name] = peak_rss_mb()
        print(f"{name}: {seconds[name]:.1f} s, peak RSS so far {peak_after[name]:,} MB",
              file=sys.stderr, flush=True)
        return now

    mark = time.perf_counter()
    records = pl.read_parquet(canonical, columns=list(LINK_INPUT_COLUMNS))
    mark = stage("load", mark)
    links = with_member_keys(link_records(records), records)
    mark = stage("prepare", mark)
    pairs, blocking = block_pairs(links, links)
    mark = stage("block", mark)
    levels = compare_pairs(pairs, links)
    mark = stage("compare", mark)
    model = train_model(links, levels)
    mark = stage("train", mark)
    scored = flag_pairs(score_pairs(levels, links, model), links)
    mark = stage("score", mark)
    clusters, _ = cluster_records(links, scored, DEFAULT_CLUSTER_SETTINGS, None, None)
    clusters = clusters.join(record_link_probability(clusters, scored), on="rec", how="left")
    stage("cluster", mark)
    assigned = clusters.join(links.select("rec", "member_key"), on="rec").select(
        pl.col("member_key").alias("unique_id"), pl.col("cluster").cast(pl.String).alias(
            "cluster_id"))
    assigned.write_parquet(out / "clusters-birthrec.parquet")
    summary = {
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "peak_rss_mb": peak_rss_mb(),
        "peak_rss_mb_after": peak_after,
        "candidate_pairs": pairs.height,
        "pairs_per_rule": dict(blocking.select("rule", "pairs").iter_rows()),
        "oversized_keys": int(blocking["oversized_keys"].sum()),
        "linked_pairs_at_0.5": scored.filter(pl.col("match_probability") >= 0.5).height,
        "em_iterations": model.iterations,
        "prior": model.prior,
        "clusters": {"birthrec": str(out / "clusters-birthrec.parquet")},
    }
    if verify:
        whole = link_children(records)
        again = whole.clusters.join(whole.records.select("rec", "member_key"), on="rec")
        summary["verified_same_as_link_children"] = again.select(
            pl.col("member_key").alias("unique_id"), pl.col("cluster").cast(pl.String).alias(
                "cluster_id")).sort("unique_id").equals(assigned.sort("unique_id"))
    return summary


def run_child(command: list[str], log: Path, timeout_s: float) -> dict[str, Any]:
    """Run one side in a fresh process; its last stdout line is its JSON summary.

    A side that dies (killed for memory, say) or overruns the timeout is reported, not fatal:
    the other side still runs. Its log's last line tells how far it got.
    """
    started = time.perf_counter()
    with open(log, "w") as errors:
        try:
            done = subprocess.run(command, stdout=subprocess.PIPE, stderr=errors, text=True,
                                  cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                                  timeout=timeout_s)
            failure = f"exit {done.returncode}" + (
                " (SIGKILL: out of memory?)" if done.returncode == -9 else "")
        except subprocess.TimeoutExpired:
            done, failure = None, f"timed out after {timeout_s:.0f} s"
    seconds = round(time.perf_counter() - started, 1)
    if done is None or done.returncode != 0:
        last = log_lines(log)[-1:] or [""]
        return {"failed": failure, "process_seconds": seconds, "log": str(log),
                "last_log_line": last[0][:200]}
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    summary["process_seconds"] = seconds
    return summary


def evaluate(clusters: Path, truth: Path) -> dict[str, float]:
    """Pairwise and B-cubed scores and twins merged, with birthrec's evaluation code."""
    import polars as pl

    from transforms.evaluate_links import bcubed_scores, pairwise_scores, twins_merged

    records = pl.read_csv(truth / "records.csv", infer_schema=False).select(
        (pl.col("source") + ":" + pl.col("record_id")).alias("unique_id"), "child_key")
    children = pl.read_csv(truth / "children.csv", infer_schema=False)
    assigned = pl.read_parquet(clusters).select(
        "unique_id", pl.col("cluster_id").cast(pl.String).alias("person_id")
    ).join(records, on="unique_id").with_row_index("rec").with_columns(
        pl.col("rec").cast(pl.Int64))
    return {**pairwise_scores(assigned), **bcubed_scores(assigned),
            "twins_merged": float(twins_merged(assigned, children)),
            "persons_found": float(assigned["person_id"].n_unique()),
            "true_children": float(assigned["child_key"].n_unique())}


BIRTHREC_STAGES = ("prepare", "block", "compare", "train", "score", "cluster")
SPLINK_STAGES = ("train", "block", "predict")


def result_rows(label: str, results: dict[str, dict[str, Any]],
                truth: Path) -> list[dict[str, Any]]:
    """One row per side and clustering, scored against the truth; failed sides say so."""
    rows: list[dict[str, Any]] = []
    for side, summary in results.items():
        if "failed" in summary:
            rows.append({"variant": label, "side": side, "failed": summary})
            continue
        names = BIRTHREC_STAGES if side == "birthrec" else SPLINK_STAGES
        for method, path in summary["clusters"].items():
            stages = {k: summary["seconds"][k] for k in names}
            if side != "birthrec":
                stages["cluster"] = summary["seconds"][f"cluster_{method}"]
            rows.append({"variant": label, "side": method if side == "birthrec"
                         else f"splink {method}", "stages": stages,
                         "total": round(sum(stages.values()), 2),
                         "peak_mb": summary["peak_rss_mb"], "pairs": summary["candidate_pairs"],
                         **evaluate(Path(path), truth)})
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    header = (f"{'variant':<16} {'side':<28} {'link s':>7} {'peak MB':>8} {'cand. pairs':>11} "
              f"{'P':>6} {'R':>6} {'F1':>6} {'B3 F1':>6} {'twins':>5}  stages (s)")
    print(header)
    print("-" * (len(header) + 60))
    for row in rows:
        if "failed" in row:
            failed = row["failed"]
            print(f"{row['variant']:<16} {row['side']:<28} FAILED after "
                  f"{failed['process_seconds']:.0f} s: {failed['failed']}; last log line: "
                  f"{failed['last_log_line']!r} ({failed['log']})")
            continue
        stages = " ".join(f"{k}={v:g}" for k, v in row["stages"].items())
        print(f"{row['variant']:<16} {row['side']:<28} {row['total']:>7.1f} "
              f"{row['peak_mb']:>8,} {row['pairs']:>11,} {row['pairwise_precision']:>6.4f} "
              f"{row['pairwise_recall']:>6.4f} {row['pairwise_f1']:>6.4f} "
              f"{row['bcubed_f1']:>6.4f} {int(row['twins_merged']):>5}  {stages}")
    ours = next((r for r in rows if r["side"] == "birthrec"), None)
    for row in rows:
        if ours is not None and row["side"].startswith("splink") and "failed" not in row:
            print(f"birthrec speed-up over {row['side']}: {row['total'] / ours['total']:.1f}x "
                  f"({row['total']:.1f} s / {ours['total']:.1f} s of linking)")


def warn_if_sides_differ(results: dict[str, dict[str, Any]]) -> None:
    """Splink's comparisons are written by hand after transforms/compare.py: say so when
    birthrec's comparisons have moved on (names or level counts)."""
    from transforms.compare import COMPARISONS

    splink = results.get("splink", {}).get("comparisons")
    ours = {c.name: c.level_count for c in COMPARISONS}
    if splink is not None and splink != ours:
        print(f"WARNING: Splink's comparisons {splink} no longer mirror birthrec's {ours}: "
              "update benchmarks/splink_side.py")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--births", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--dirt-scale", type=float, default=1.0)
    parser.add_argument("--sides", default="birthrec,splink")
    parser.add_argument("--threshold", type=float, default=0.5,
                        help="Splink's match probability to link at (birthrec's own is 0.5)")
    parser.add_argument("--timeout-minutes", type=float, default=30,
                        help="a side still running after this long is stopped and reported")
    parser.add_argument("--fresh", action="store_true",
                        help="generate and ingest again instead of reusing benchmarks/out/")
    parser.add_argument("--verify", action="store_true",
                        help="also run link_children whole and check it clusters the same")
    parser.add_argument("--child", choices=["birthrec"], help=argparse.SUPPRESS)
    parser.add_argument("--records", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "birthrec":
        print(json.dumps(link_with_birthrec(args.records, args.out, args.verify)))
        return
    sides = set(args.sides.split(","))
    if "splink" in sides and not SPLINK_PYTHON.is_file():
        sys.exit(f"{SPLINK_PYTHON} is missing: run `make bench-linking` to create it")
    name = variant_name(args.births, args.seed, args.dirt_scale)
    generated = generate(args.births, args.seed, args.dirt_scale, args.fresh)
    work = OUT / f"link-{name}"
    state = ingest(generated, work, args.fresh)
    canonical = export_records(state, work)
    results: dict[str, dict[str, Any]] = {}
    timeout_s = args.timeout_minutes * 60
    if "birthrec" in sides:
        results["birthrec"] = run_child(
            [sys.executable, str(Path(__file__).resolve()), "--child", "birthrec",
             "--records", str(canonical), "--out", str(work),
             *(["--verify"] if args.verify else [])], work / "birthrec-side.log", timeout_s)
        print("birthrec:", json.dumps(results["birthrec"]))
    if "splink" in sides:
        for_splink, rules_file = export_for_splink(canonical, work)
        results["splink"] = run_child(
            [str(SPLINK_PYTHON), str(SPLINK_SIDE), "--records", str(for_splink), "--blocking",
             str(rules_file), "--out", str(work / "splink"), "--threshold",
             str(args.threshold)], work / "splink-side.log", timeout_s)
        print("splink:", json.dumps(results["splink"]))
    (work / "results.json").write_text(json.dumps(results, indent=2))
    warn_if_sides_differ(results)
    import polars as pl

    records = pl.scan_parquet(canonical).select(pl.len()).collect().item()
    load = os.getloadavg()
    made = {path.parent.name: path.read_text() for path in (
        generated / "made_by.txt", work / "made_by.txt") if path.is_file()}
    print(f"\nlinking {name}: {records:,} records in use; load average {load[0]:.1f} "
          f"(1 min) at the end, on {os.cpu_count()} cores; linked at {code_version()}; "
          f"generated/ingested at {made or 'unrecorded commits'}")
    print_table(result_rows(name, results, generated / "truth"))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
