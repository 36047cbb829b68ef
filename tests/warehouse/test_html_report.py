"""The HTML report of a real run, drawn by headless Chromium: every chart mark carries the
warehouse's value, the page fetches nothing, and a screenshot is kept for people to look at.

Needs Debian's `chromium` (`apt-get install -y chromium`); without it the browser tests skip,
unless BIRTHREC_REQUIRE_CHROMIUM is set (as `.ci/run` does), when they fail.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from flows.cli import app
from warehouse.demo_inbox import write_demo
from warehouse.state_paths import StatePaths

REPORT_BIRTHS = 400
REPORT_SEED = 20140301
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_TIMEOUT_SECONDS = 120
SCREENSHOT_WIDTH = 1280
INSTALL_HINT = ("headless Chromium not found: install Debian's package with "
                "`apt-get install -y chromium` (as root) to run the HTML report's browser tests")
# An address nothing listens on: a page that tried the network would fail to load anything.
UNREACHABLE_PROXY = "http://127.0.0.1:9"


class Published(NamedTuple):
    warehouse: Path
    truth: Path  # the generator's truth folder: the ID numbers the page must not hold
    page: Path


def session_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder every xdist worker of this test session shares (its own basetemp otherwise)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, prefect_harness: None
              ) -> Published:
    """A small generated inbox run through the real nightly flow, and `birthrec report` on it
    at its default place: (warehouse, truth folder, page).

    Built once per session: the first worker to get here builds it under a lock and the
    other reuses it, since the flow run is most of this module's time.
    """
    root = session_folder(tmp_path_factory) / "html_report"
    root.mkdir(exist_ok=True)
    warehouse, truth, done = root / "warehouse.duckdb", root / "demo" / "truth", root / "page"
    with (root / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            write_demo(root / "demo", births=REPORT_BIRTHS, seed=REPORT_SEED)
            ran = CliRunner().invoke(app, ["run", "--inbox", str(root / "demo" / "inbox"),
                                           "--warehouse", str(warehouse)])
            assert ran.exit_code == 0, ran.output
            reported = CliRunner().invoke(app, ["report", "--warehouse", str(warehouse)])
            assert reported.exit_code == 0, reported.output
            summary = json.loads(reported.stdout.strip().splitlines()[-1])
            assert summary["status"] == "written"
            done.write_text(summary["report"], encoding="utf-8")
    return Published(warehouse, truth, Path(done.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def report_page(published: Published) -> Path:
    return published.page


def query(warehouse: Path, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as reader:
        return reader.sql(sql).pl()


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("BIRTHREC_REQUIRE_CHROMIUM"):
            pytest.fail(INSTALL_HINT)
        pytest.skip(INSTALL_HINT)
    return found


def run_chromium(chromium: str, profile: Path, *arguments: str) -> str:
    """Headless Chromium with no way out: an unreachable proxy and no name resolution."""
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--hide-scrollbars", f"--user-data-dir={profile}",
        f"--proxy-server={UNREACHABLE_PROXY}", "--host-resolver-rules=MAP * ~NOTFOUND",
        *arguments,
    ]
    done = subprocess.run(command, capture_output=True, text=True,
                          timeout=CHROMIUM_TIMEOUT_SECONDS, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Elements(HTMLParser):
    """Every element of a DOM dump as (tag, attributes), in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {name: value or "" for name, value in attrs}))


def parse_elements(dom: str) -> list[tuple[str, dict[str, str]]]:
    parser = Elements()
    parser.feed(dom)
    return parser.found


def elements(dom: str, tag: str, **wanted: str) -> list[dict[str, str]]:
    """Attributes of the elements with this tag whose attributes include `wanted`
    (underscores in names stand for dashes: data_chart= is data-chart=; class_= is one of
    the element's classes)."""
    wanted = {name.rstrip("_").replace("_", "-"): value for name, value in wanted.items()}

    def matches(attrs: dict[str, str]) -> bool:
        return all(value in attrs.get("class", "").split() if name == "class"
                   else attrs.get(name) == value for name, value in wanted.items())

    return [attrs for name, attrs in parse_elements(dom) if name == tag and matches(attrs)]


@pytest.fixture(scope="module")
def dom(report_page: Path, chromium: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The page's DOM after its script ran, as Chromium serialises it."""
    profile = tmp_path_factory.mktemp("chromium_profile")
    return run_chromium(chromium, profile, "--window-size=1280,900", "--dump-dom",
                        report_page.as_uri())


def number(value: str) -> float | None:
    return None if value == "" else float(value)


def test_report_written_beside_the_warehouse_per_run(published: Published,
                                                     report_page: Path) -> None:
    warehouse = published.warehouse
    run_id = query(warehouse, "SELECT any_value(run_id) FROM label_source").item()
    assert report_page == StatePaths(warehouse.resolve()).reports / run_id / "report.html"


def test_page_references_nothing_outside_itself(report_page: Path) -> None:
    page = report_page.read_text(encoding="utf-8")
    assert not re.search(r"""\b(src|href|action|srcset|poster)\s*=""", page, re.I)
    assert not re.search(r"<(link|iframe|object|embed|img|base)\b", page, re.I)
    assert not re.search(r"@import|url\(", page, re.I)
    assert "default-src 'none'" in page.replace("&#x27;", "'")


def test_page_holds_no_id_number(published: Published, report_page: Path) -> None:
    truth = published.truth
    page = report_page.read_text(encoding="utf-8")
    assert not re.search(r"(?<!\d)\d{6}(19|20)\d{2}[01]\d[0-3]\d{4}[\dXx]?(?!\d)", page)
    children = pl.read_csv(truth / "children.csv", infer_schema=False)
    numbers = {value for column in ("child_id_number", "mother_id_number", "father_id_number")
               for value in children.get_column(column).drop_nulls().to_list()}
    assert numbers and not [n for n in numbers if n in page]


def test_browser_draws_the_page_without_fetching_anything(dom: str) -> None:
    root = elements(dom, "html")[0]
    assert root["data-rendered"] == "ok"
    assert root["data-resource-count"] == "0"
    for _, attrs in parse_elements(dom):
        for name in ("src", "href", "xlink:href"):
            assert not attrs.get(name, "").startswith(("http:", "https:", "//")), attrs


def assert_ratio_rows(drawn: list[dict[str, str]], expected: pl.DataFrame, key: str) -> None:
    """Drawn rows carry exactly the warehouse's births, ratio and bounds, in that order."""
    assert [row["data-key"] for row in drawn] == expected.get_column(key).to_list()
    for row, cell in zip(drawn, expected.iter_rows(named=True), strict=True):
        assert int(row["data-births"]) == cell["births"], row
        assert number(row["data-ratio"]) == cell["ratio"], row
        assert number(row["data-ci-low"]) == cell["ci_low"], row
        assert number(row["data-ci-high"]) == cell["ci_high"], row


def test_sex_ratio_by_department_drawn_with_the_warehouse_values(
        published: Published, dom: str) -> None:
    warehouse = published.warehouse
    expected = query(warehouse, """
        SELECT source, births, ratio, ci_low, ci_high FROM sex_ratio
        WHERE township_code IS NULL AND birth_order IS NULL AND period = 'all'
        ORDER BY CASE source WHEN 'reconciled' THEN 0 WHEN 'jisheng' THEN 1
                             WHEN 'weisheng' THEN 2 ELSE 3 END""")
    drawn = elements(dom, "g", class_="ratio-row", data_chart="ratio-by-source")
    assert_ratio_rows(drawn, expected, "source")
    assert len(elements(dom, "circle", class_="point")) >= len(drawn)


def test_sex_ratio_by_township_drawn_with_the_warehouse_values(
        published: Published, dom: str) -> None:
    warehouse = published.warehouse
    expected = query(warehouse, """
        SELECT coalesce(township_code, 'county') AS township_code, births, ratio, ci_low,
               ci_high
        FROM sex_ratio WHERE source = 'reconciled' AND birth_order IS NULL AND period = 'all'
        ORDER BY sex_ratio.township_code NULLS FIRST""")
    drawn = elements(dom, "g", class_="ratio-row", data_chart="ratio-by-township")
    assert len(drawn) > 10
    assert_ratio_rows(drawn, expected, "township_code")


def test_normal_range_is_marked_on_every_sex_ratio_chart(dom: str) -> None:
    bands = elements(dom, "rect", class_="normal-band")
    assert len(bands) == 3  # departments, townships, months
    assert {(band["data-low"], band["data-high"]) for band in bands} == {("103", "107")}


def test_monthly_trends_drawn_with_the_warehouse_values(
        published: Published, dom: str) -> None:
    warehouse = published.warehouse
    months = query(warehouse, """
        SELECT source, period, births, ratio, ci_low, ci_high FROM sex_ratio
        WHERE township_code IS NULL AND birth_order IS NULL AND length(period) = 7
          AND period NOT LIKE '%Q%'
        ORDER BY period""")
    reconciled = months.filter(pl.col("source") == "reconciled")
    bars = elements(dom, "rect", class_="bar", data_series="reconciled")
    assert [(b["data-period"], int(b["data-births"])) for b in bars] == list(
        reconciled.select("period", "births").iter_rows())
    for source in ("jisheng", "weisheng", "gongan"):
        drawn = {p["data-period"]: int(p["data-births"])
                 for p in elements(dom, "circle", class_="point", data_series=source)}
        births = dict(months.filter(pl.col("source") == source).select(
            "period", "births").iter_rows())
        assert drawn == {period: births.get(period, 0) for period in drawn}, source
        assert set(births) <= set(drawn), source
    drawn_ratio = elements(dom, "g", class_="ratio-row", data_chart="monthly-ratio")
    assert_ratio_rows(drawn_ratio, reconciled, "period")


def test_discrepancies_by_kind_and_township_drawn_with_the_warehouse_counts(
        published: Published, dom: str) -> None:
    warehouse = published.warehouse
    by_status = query(warehouse, "SELECT kind, status, count(*) AS n FROM discrepancy "
                                 "GROUP BY ALL")
    drawn = {(b["data-kind"], b["data-status"]): int(b["data-count"])
             for b in elements(dom, "rect", class_="bar") if "data-status" in b}
    assert {k: n for k, n in drawn.items() if n} == {
        (kind, status): n for kind, status, n in by_status.iter_rows()}
    open_by_place = query(warehouse, """
        SELECT CASE WHEN d.person_id IS NULL THEN 'none'
                    ELSE coalesce(p.township_code, 'unknown') END AS place, d.kind, count(*)
        FROM discrepancy d LEFT JOIN person p USING (person_id)
        WHERE d.status = 'open' GROUP BY ALL""")
    cells = {(c["data-township"], c["data-kind"]): int(c["data-count"])
             for c in elements(dom, "td", class_="cell")}
    assert {k: n for k, n in cells.items() if n} == {
        (place, kind): n for place, kind, n in open_by_place.iter_rows()}


def test_indicators_drawn_against_their_targets(published: Published, dom: str) -> None:
    warehouse = published.warehouse
    kpi = query(warehouse, """
        SELECT coalesce(township_code, 'county') AS township_code, coverage, id_entry_rate,
               accuracy, meets_coverage_target, meets_id_entry_rate_target,
               meets_accuracy_target
        FROM registration_kpi""")
    targets = {p["data-indicator"]: p["data-target"] for p in elements(dom, "g", class_="panel")}
    assert targets == {"coverage": "0.95", "id_entry_rate": "0.95", "accuracy": "0.9"}
    bars = {(b["data-township"], b["data-indicator"]): b
            for b in elements(dom, "rect", class_="bar") if "data-indicator" in b}
    assert len(bars) == 3 * kpi.height
    for row in kpi.iter_rows(named=True):
        for name in targets:
            bar = bars[(row["township_code"], name)]
            assert number(bar["data-value"]) == row[name]
            meets = row[f"meets_{name}_target"]
            assert bar["data-meets"] == ("" if meets is None else str(meets).lower())


def test_screenshot_kept_as_an_artifact(report_page: Path, dom: str, chromium: str,
                                        tmp_path: Path) -> None:
    height = int(elements(dom, "html")[0]["data-page-height"])
    screenshot = tmp_path / "html_report.png"
    run_chromium(chromium, tmp_path / "profile", f"--window-size={SCREENSHOT_WIDTH},{height}",
                 f"--screenshot={screenshot}", report_page.as_uri())
    png = screenshot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(png[16:20], "big") == SCREENSHOT_WIDTH
    assert int.from_bytes(png[20:24], "big") == height
    assert len(png) > 100_000  # a blank page compresses to a few kilobytes
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(screenshot, ARTIFACTS / "html_report.png")
    shutil.copyfile(report_page, ARTIFACTS / "html_report.html")
    print(f"HTML report screenshot: {ARTIFACTS / 'html_report.png'}")
