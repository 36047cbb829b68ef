"""The demo inbox on disk: contract names, schema headers, encodings, same bytes per seed."""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zipfile
from pathlib import Path

import fastexcel
import polars as pl
import pytest

from schemas.divisions import DIVISIONS, DIVISIONS_PATH
from schemas.sources import SOURCES
from transforms.synthesise_births import EXTRA_COLUMN_HEADERS, REJECTED_FILE_DROPPED_COLUMN
from warehouse.demo_inbox import TRUTH_FILES, DemoSummary, write_demo

BIRTHS, SEED = 300, 7
NAME = re.compile(r"^(?P<source>[a-z]+)_(?P<date>\d{8})(?:_(?P<seq>\d+))?\.(?P<ext>csv|xlsx|xls)$")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoSummary:
    return write_demo(tmp_path_factory.mktemp("demo"), births=BIRTHS, seed=SEED)


@pytest.fixture(scope="module")
def files(demo: DemoSummary) -> pl.DataFrame:
    return pl.read_csv(demo.truth_dir / "files.csv", infer_schema=False)


def digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def headers_of(path: Path, encoding: str | None) -> list[str]:
    if path.suffix == ".csv":
        text = path.read_bytes().decode(encoding or "utf-8")
        return text.splitlines()[0].split(",")
    sheet = fastexcel.read_excel(path).load_sheet(0, header_row=None, n_rows=1,
                                                   dtypes="string")
    return [str(v) for v in sheet.to_polars().row(0)]


def canonical(header: str) -> str:
    return unicodedata.normalize("NFKC", header).strip()


def test_same_seed_writes_the_same_bytes(demo: DemoSummary, tmp_path: Path) -> None:
    again = write_demo(tmp_path, births=BIRTHS, seed=SEED)
    assert digests(again.inbox_dir) == digests(demo.inbox_dir)
    assert digests(again.truth_dir) == digests(demo.truth_dir)


def test_inbox_has_every_folder_and_contract_names(demo: DemoSummary) -> None:
    for folder in (*SOURCES, "reference", "review"):
        assert (demo.inbox_dir / folder).is_dir(), folder
    written = [p for p in demo.inbox_dir.rglob("*") if p.is_file()]
    assert len(written) == demo.files_written
    for path in written:
        if path.parent.name == "reference":
            continue
        match = NAME.match(path.name)
        assert match is not None, path.name
        assert match["source"] == path.parent.name
        assert "." + match["ext"] in SOURCES[match["source"]].extensions


def test_every_planned_file_is_written(demo: DemoSummary, files: pl.DataFrame) -> None:
    on_disk = {p.relative_to(demo.inbox_dir).as_posix() for p in demo.inbox_dir.rglob("*")
               if p.is_file()}
    assert set(files["file"]) | {DIVISIONS_PATH} == on_disk
    assert set(files["extension"]) == {"csv", "xlsx", "xls"}


def test_headers_come_from_the_schemas(demo: DemoSummary, files: pl.DataFrame) -> None:
    for plan in files.iter_rows(named=True):
        spec = SOURCES[plan["source"]]
        headers = [canonical(h) for h in headers_of(demo.inbox_dir / plan["file"],
                                                    plan["encoding"])]
        known = {c.header for c in spec.columns} | set(EXTRA_COLUMN_HEADERS)
        assert set(headers) <= known, plan["file"]
        missing = set(spec.required_headers) - set(headers)
        if plan["fate"] == "reject_missing_columns":
            assert missing == {spec.column(REJECTED_FILE_DROPPED_COLUMN).header}
        else:
            assert not missing, plan["file"]


def test_weisheng_files_are_gb18030_not_utf8(demo: DemoSummary) -> None:
    paths = sorted((demo.inbox_dir / "weisheng").glob("*.csv"))
    assert paths
    for path in paths:
        data = path.read_bytes()
        assert "出生" in data.decode("gb18030")
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")


def test_other_csv_files_are_utf8(demo: DemoSummary, files: pl.DataFrame) -> None:
    for plan in files.filter((pl.col("extension") == "csv")
                             & (pl.col("source") != "weisheng")).iter_rows(named=True):
        data = (demo.inbox_dir / plan["file"]).read_bytes()
        assert data.startswith(b"\xef\xbb\xbf") == (plan["encoding"] == "utf-8-sig")
        data.decode("utf-8")


def test_duplicate_delivery_has_the_same_bytes(demo: DemoSummary, files: pl.DataFrame) -> None:
    copies = files.filter(pl.col("fate") == "duplicate_bytes")
    assert copies.height == 1
    copy, original = copies.row(0, named=True)["file"], copies.row(0, named=True)["copy_of"]
    assert copy != original
    assert (demo.inbox_dir / copy).read_bytes() == (demo.inbox_dir / original).read_bytes()


def test_workbooks_carry_a_fixed_creation_date(demo: DemoSummary) -> None:
    workbook = next((demo.inbox_dir / "jisheng").glob("*.xlsx"))
    with zipfile.ZipFile(workbook) as archive:
        core = archive.read("docProps/core.xml").decode()
    extract = NAME.match(workbook.name)["date"]  # type: ignore[index]
    assert f"{extract[:4]}-{extract[4:6]}-{extract[6:]}T08:30:00Z" in core


def test_divisions_csv_has_the_declared_header(demo: DemoSummary) -> None:
    divisions = pl.read_csv(demo.inbox_dir / DIVISIONS_PATH, infer_schema=False)
    assert divisions.columns == [c.header for c in DIVISIONS.columns]
    assert divisions.height >= 15


def test_truth_record_ids_are_at_their_rows(demo: DemoSummary, files: pl.DataFrame) -> None:
    records = pl.read_csv(demo.truth_dir / "records.csv", infer_schema=False).filter(
        pl.col("record_id").is_not_null())
    for plan in files.filter(pl.col("fate") == "ingest").iter_rows(named=True):
        path = demo.inbox_dir / plan["file"]
        record_header = SOURCES[plan["source"]].column("record_id").header
        if path.suffix == ".csv":
            frame = pl.read_csv(path.read_bytes().decode(plan["encoding"]).encode(),
                                infer_schema=False)
        else:
            frame = fastexcel.read_excel(path).load_sheet(0, dtypes="string").to_polars()
        frame.columns = [canonical(c) for c in frame.columns]
        ids = frame[record_header].to_list()
        expected = records.filter(pl.col("file") == plan["file"])
        for record_id, row_number in expected.select("record_id", "row_number").iter_rows():
            assert ids[int(row_number) - 2] == record_id, (plan["file"], row_number)


def test_truth_tables_are_written(demo: DemoSummary) -> None:
    for name in TRUTH_FILES:
        table = pl.read_csv(demo.truth_dir / name, infer_schema=False)
        assert table.height > 0, name
    children = pl.read_csv(demo.truth_dir / "children.csv", infer_schema=False)
    assert children.height == BIRTHS
    assert demo.records == pl.read_csv(demo.truth_dir / "records.csv").height
    assert sum(demo.rows_by_source.values()) > BIRTHS * 2
