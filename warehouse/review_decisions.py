"""Officers' decisions: read the files in inbox/review/, judge each decision once, keep every
one in the restricted state (the audit), and give linking and reconciliation what is in force.

State tables: review_files (each decision file by content hash), review_decisions (every
decision row and every rejected file or sheet, with its verdict, effect and the case's
fingerprint), case_fingerprints (each published run's cases, so a decision is judged against
the workbook the officer saw). The files themselves are archived by hash beside the others.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

import duckdb
import fastexcel
import polars as pl

from schemas.published import REVIEW_DECISION
from schemas.review import (
    REJECTION_LABELS,
    REQUIRED_REVIEW_COLUMNS,
    REVIEW_COLUMN_NAMES,
    REVIEW_CSV_ENCODINGS,
    REVIEW_EXTENSIONS,
    REVIEW_FOLDER,
    Rejection,
    ReviewColumn,
    Verdict,
)
from transforms.apply_decisions import (
    DECISION_ORDER,
    DECISION_SCHEMA,
    case_fingerprint_material,
    check_references,
    close_cases,
    conform,
    decision_effects,
    judge_pair_decisions,
    link_constraints,
    read_decisions,
    rejected_file_row,
)
from warehouse.inbox_files import hash_file
from warehouse.ingest import archive_copy
from warehouse.read_source_file import canonical_header
from warehouse.run_state import default_as_of, last_publish
from warehouse.state_store import insert_frame, registered, transaction

REVIEW_NAME_PATTERN = re.compile(r"_(?P<date>\d{8})(?:_(?P<seq>\d+))?\.[A-Za-z0-9]+$")
HEADER_NAMES = {canonical_header(c.value): name for c, name in REVIEW_COLUMN_NAMES.items()}
SPREADSHEET_EXTENSIONS = (".xlsx", ".xlsm", ".xls")
SUMMARY_MESSAGES = 50  # rejection messages listed in the run summary; the audit has all


def create_review_state_sql() -> list[str]:
    """DDL of the review tables in the state database; idempotent."""
    columns = ",\n  ".join(f"{name} {sql_type(dtype)}" for name, dtype in DECISION_SCHEMA.items())
    return [
        """CREATE TABLE IF NOT EXISTS review_files (
  content_hash VARCHAR PRIMARY KEY, file VARCHAR NOT NULL, file_date DATE, file_seq BIGINT,
  received_order BIGINT NOT NULL, status VARCHAR NOT NULL, decisions BIGINT,
  attempt_id VARCHAR, seen_at TIMESTAMP)""",
        f"""CREATE TABLE IF NOT EXISTS review_decisions (
  {columns},
  judged_attempt VARCHAR, PRIMARY KEY (decision_key))""",
        """CREATE TABLE IF NOT EXISTS case_fingerprints (
  run_id VARCHAR NOT NULL, discrepancy_id VARCHAR NOT NULL, fingerprint VARCHAR NOT NULL)""",
    ]


def sql_type(dtype: pl.DataType) -> str:
    return {pl.String(): "VARCHAR", pl.Date(): "DATE", pl.Int64(): "BIGINT"}[dtype]


@dataclass(frozen=True)
class ReviewFile:
    """A file in inbox/review/; `problem` says why it cannot be read at all."""

    path: Path
    relative: str
    content_hash: str
    file_date: date | None  # from the name; else the run's date, given when first read
    file_seq: int
    extension: str
    problem: str | None = None

    @property
    def order_key(self) -> tuple[date, int, str, str]:
        return (self.file_date or date.max, self.file_seq, self.relative, self.content_hash)


def name_date(name: str) -> tuple[date | None, int]:
    """The _<YYYYMMDD>[_<n>] at the end of a file's name, if it is a real date."""
    match = REVIEW_NAME_PATTERN.search(name)
    if match is None:
        return None, 0
    try:
        day = date(int(match["date"][:4]), int(match["date"][4:6]), int(match["date"][6:]))
    except ValueError:
        return None, 0
    return day, int(match["seq"] or 0)


def classify_review_file(path: Path, inbox: Path) -> ReviewFile:
    """The file's date and number from its name, which order its decisions."""
    extension = path.suffix.lower()
    problem = None
    if extension not in REVIEW_EXTENSIONS:
        problem = (f"decision files must be {' or '.join(REVIEW_EXTENSIONS)}, not "
                   f"{extension or 'without an extension'}")
    file_date, file_seq = name_date(path.name)
    return ReviewFile(path, path.relative_to(inbox).as_posix(), hash_file(path), file_date,
                      file_seq, extension, problem)


def list_review_files(inbox: Path) -> list[ReviewFile]:
    """Every decision file in inbox/review/, in the order its decisions apply."""
    folder = inbox / REVIEW_FOLDER
    if not folder.is_dir():
        return []
    found = [classify_review_file(path, inbox) for path in sorted(folder.iterdir())
             if path.is_file() and not path.name.startswith((".", "~$"))]
    return sorted(found, key=lambda f: f.order_key)


class DecisionFileError(Exception):
    """A decision file that cannot be read at all; its reason goes to the audit."""

    def __init__(self, reason: Rejection, detail: str) -> None:
        self.reason = reason
        super().__init__(detail)


def named_columns(headers: list[str]) -> dict[str, str]:
    """The file's headers that are decision columns, by canonical name (first one wins)."""
    mapping: dict[str, str] = {}
    for header in headers:
        name = HEADER_NAMES.get(canonical_header(header))
        if name is not None and name not in mapping.values():
            mapping[header] = name
    return mapping


def missing_headers(mapping: dict[str, str]) -> list[str]:
    return [c.value for c in REQUIRED_REVIEW_COLUMNS
            if REVIEW_COLUMN_NAMES[c] not in mapping.values()]


def decode_decision_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030; both strict, so mojibake is never read."""
    for encoding in REVIEW_CSV_ENCODINGS:
        try:
            return data.decode("utf-8-sig" if encoding == "utf-8" else encoding)
        except UnicodeDecodeError:
            continue
    raise DecisionFileError(Rejection.BAD_ENCODING,
                            "neither UTF-8 nor GB18030 — save it again as CSV UTF-8")


def read_csv_sheet(path: Path) -> list[tuple[str | None, pl.DataFrame]]:
    """The one 'sheet' of a CSV: every cell as text, header on line 1."""
    text = decode_decision_csv(path.read_bytes())
    if not text.strip():
        raise DecisionFileError(Rejection.MISSING_COLUMNS, "the file is empty")
    try:
        frame = pl.read_csv(io.BytesIO(text.encode("utf-8")), infer_schema=False,
                            has_header=True, truncate_ragged_lines=True)
    except pl.exceptions.PolarsError as error:
        raise DecisionFileError(Rejection.UNREADABLE_FILE,
                                f"cannot be parsed as CSV ({error})") from error
    return [(None, frame)]


def read_workbook_sheets(path: Path) -> list[tuple[str | None, pl.DataFrame]]:
    """Every sheet of a workbook, every cell as text, header on row 1."""
    try:
        reader = fastexcel.read_excel(path)
        names = reader.sheet_names
    except fastexcel.FastExcelError as error:
        raise DecisionFileError(Rejection.UNREADABLE_FILE,
                                f"cannot be opened as a workbook ({error})") from error
    sheets: list[tuple[str | None, pl.DataFrame]] = []
    for index, name in enumerate(names):
        try:
            sheets.append((name, reader.load_sheet(index, header_row=0,
                                                   dtypes="string").to_polars()))
        except fastexcel.FastExcelError:
            continue  # an empty sheet has no header row: not a case sheet
    return sheets


def read_decision_cells(review_file: ReviewFile) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(cells of every case sheet, audit rows of case sheets rejected whole).

    A case sheet is one whose header row has 核查结论; other sheets (the summary, the
    quarantine lists) are skipped. A case sheet lacking another required column is rejected
    whole with the columns it lacks; a file without any case sheet is a DecisionFileError.
    """
    spreadsheet = review_file.extension in SPREADSHEET_EXTENSIONS
    sheets = (read_workbook_sheets if spreadsheet else read_csv_sheet)(review_file.path)
    prefix = review_file.content_hash[:12]
    cells: list[pl.DataFrame] = []
    rejected: list[pl.DataFrame] = []
    decision_name = REVIEW_COLUMN_NAMES[ReviewColumn.DECISION]
    for index, (sheet, frame) in enumerate(sheets):
        mapping = named_columns(frame.columns)
        missing = missing_headers(mapping)
        if decision_name not in mapping.values() and (spreadsheet or not mapping):
            continue
        where = f"{review_file.relative}{f' sheet {sheet}' if sheet else ''}"
        if missing:
            if not spreadsheet:
                raise DecisionFileError(Rejection.MISSING_COLUMNS,
                                        f"missing required column(s) {', '.join(missing)}")
            rejected.append(rejected_file_row(
                f"{prefix}-{index}-sheet", review_file.content_hash, review_file.relative, sheet,
                Rejection.MISSING_COLUMNS,
                f"{where}: missing required column(s) {', '.join(missing)} — sheet not read; "
                "use the workbook's own columns", index))
            continue
        cells.append(frame.select([pl.col(h).alias(n) for h, n in mapping.items()])
                     .with_row_index("row_number", offset=2).with_columns(
            pl.col("row_number").cast(pl.Int64),
            pl.lit(sheet, dtype=pl.String).alias("sheet"),
            pl.lit(index, dtype=pl.Int64).alias("sheet_index")))
    if not cells and not rejected:
        raise DecisionFileError(
            Rejection.MISSING_COLUMNS,
            ("no sheet has" if spreadsheet else "missing")
            + f" the required column(s) {', '.join(c.value for c in REQUIRED_REVIEW_COLUMNS)}")
    if not cells:
        return pl.DataFrame(), pl.concat(rejected)
    every = pl.concat(cells, how="diagonal_relaxed").with_columns(
        pl.col(pl.String).str.strip_chars().replace("", None)).with_columns(
        pl.lit(review_file.content_hash).alias("file_hash"),
        pl.lit(review_file.relative).alias("file"),
        pl.lit(review_file.file_date, dtype=pl.Date).alias("file_date"),
        pl.lit(review_file.file_seq, dtype=pl.Int64).alias("file_seq"),
        pl.concat_str([pl.lit(prefix + "-"), pl.col("sheet_index").cast(pl.String), pl.lit("-"),
                       pl.col("row_number").cast(pl.String)]).alias("decision_key"))
    return every, pl.concat(rejected) if rejected else conform(pl.DataFrame())


def file_decisions(review_file: ReviewFile, received_order: int) -> pl.DataFrame:
    """One file's decisions checked for form, or the one audit row rejecting it whole."""
    key = f"{review_file.content_hash[:12]}-file"
    if review_file.problem is not None:
        decisions = rejected_file_row(
            key, review_file.content_hash, review_file.relative, None, Rejection.BAD_FILE_NAME,
            f"{review_file.relative}: {review_file.problem} — file not read")
    else:
        try:
            cells, rejected_sheets = read_decision_cells(review_file)
            decisions = pl.concat([read_decisions(cells) if cells.height
                                   else conform(pl.DataFrame()), rejected_sheets])
        except DecisionFileError as error:
            decisions = rejected_file_row(
                key, review_file.content_hash, review_file.relative, None, error.reason,
                f"{review_file.relative}: {error} — file not read; the rest of the run goes on")
    return decisions.with_columns(
        pl.lit(review_file.file_date, dtype=pl.Date).alias("file_date"),
        pl.lit(review_file.file_seq, dtype=pl.Int64).alias("file_seq"),
        pl.lit(received_order, dtype=pl.Int64).alias("received_order"))


def table_exists(connection: duckdb.DuckDBPyConnection, table: str) -> bool:
    rows = connection.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND schema_name = 'main'",
        [table]).fetchall()
    return bool(rows[0][0])


def stored_decisions(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every decision judged so far, in DECISION_SCHEMA."""
    if not table_exists(connection, "review_decisions"):
        return conform(pl.DataFrame())
    columns = ", ".join(DECISION_SCHEMA)
    return conform(connection.sql(f"SELECT {columns} FROM review_decisions").pl())


def published_cases(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The cases of the latest publish with their fingerprints: what the workbook showed."""
    latest = last_publish(connection)
    empty = pl.DataFrame(schema={"discrepancy_id": pl.String, "fingerprint": pl.String})
    if latest is None or not table_exists(connection, "case_fingerprints"):
        return empty
    return connection.sql(
        "SELECT discrepancy_id, fingerprint FROM case_fingerprints WHERE run_id = ?",
        params=[latest[0]]).pl()


def records_named(connection: duckdb.DuckDBPyConnection, keys: pl.Series) -> pl.DataFrame:
    """member_key and person_id (null before a record is first linked) of the records in
    use among `keys`."""
    empty = pl.DataFrame(schema={"member_key": pl.String, "person_id": pl.String})
    if keys.len() == 0:
        return empty
    linked = table_exists(connection, "record_person")
    person = "p.person_id" if linked else "NULL::VARCHAR"
    join = "LEFT JOIN record_person p USING (member_key)" if linked else ""
    with registered(connection, "named_keys", keys.unique().to_frame("member_key")):
        return connection.sql(f"""
SELECT k.member_key, {person} AS person_id
FROM (SELECT DISTINCT source || ':' || record_id AS member_key FROM records_in_use) u
JOIN named_keys k USING (member_key) {join}""").pl()


@dataclass(frozen=True)
class ReviewOutcome:
    """Tonight's decision files, for the run's content key and its summary."""

    content: dict[str, str] = field(default_factory=dict)  # changes when a file arrives
    summary: dict[str, object] = field(default_factory=dict)


def judge_new_decisions(connection: duckdb.DuckDBPyConnection, decisions: pl.DataFrame
                        ) -> pl.DataFrame:
    """Check tonight's decisions against the cases, records and earlier decisions."""
    cases_ever = (connection.sql("SELECT discrepancy_id FROM discrepancy_register").pl()
                  if table_exists(connection, "discrepancy_register")
                  else pl.DataFrame(schema={"discrepancy_id": pl.String}))
    keys = pl.concat([decisions.get_column("record_key"),
                      decisions.get_column("other_record_key")]).drop_nulls()
    checked = check_references(decisions, cases_ever, published_cases(connection),
                               records_named(connection, keys))
    earlier = stored_decisions(connection).filter(pl.col("verdict") == Verdict.ACCEPTED.value)
    return judge_pair_decisions(checked, earlier)


def ingest_review_decisions(
    connection: duckdb.DuckDBPyConnection, inbox: Path, archive: Path, attempt: str,
    seen_at: datetime,
) -> ReviewOutcome:
    """Read the decision files not seen before (by content), judge every decision in
    order, archive the files and store files and decisions in one transaction."""
    for statement in create_review_state_sql():
        connection.execute(statement)
    files = list_review_files(inbox)
    known = {row[0] for row in connection.execute(
        "SELECT content_hash FROM review_files").fetchall()}
    # A file without a date in its name is as new as the latest extract read with it.
    run_date = default_as_of(connection)
    new: dict[str, ReviewFile] = {}
    for review_file in files:
        if review_file.content_hash not in known:
            new.setdefault(review_file.content_hash, replace(
                review_file, file_date=review_file.file_date or run_date))
    if new:
        arriving = sorted(new.values(), key=lambda f: f.order_key)
        first = int(connection.execute(
            "SELECT coalesce(max(received_order), 0) + 1 FROM review_files").fetchall()[0][0])
        for review_file in arriving:
            archive_copy(review_file.path, archive, review_file.content_hash,
                         review_file.extension)
        decisions = pl.concat([file_decisions(f, first + i) for i, f in enumerate(arriving)])
        judged = judge_new_decisions(connection, decisions).sort(DECISION_ORDER)
        store_review_files(connection, arriving, judged, first, attempt, seen_at)
    hashes = sorted(known | set(new))
    content = {"review_files": ",".join(hashes)} if hashes else {}
    return ReviewOutcome(content, review_summary(connection, list(new)))


def store_review_files(connection: duckdb.DuckDBPyConnection, files: list[ReviewFile],
                       judged: pl.DataFrame, first_order: int, attempt: str,
                       seen_at: datetime) -> None:
    rows = judged.group_by("file_hash").agg(pl.col("row_number").is_not_null().sum().alias(
        "decisions"))
    manifest = pl.DataFrame({
        "content_hash": [f.content_hash for f in files], "file": [f.relative for f in files],
        "file_date": [f.file_date for f in files], "file_seq": [f.file_seq for f in files],
        "received_order": list(range(first_order, first_order + len(files))),
        "status": ["rejected" if f.problem else "read" for f in files],
    }, schema={"content_hash": pl.String, "file": pl.String, "file_date": pl.Date,
               "file_seq": pl.Int64, "received_order": pl.Int64, "status": pl.String}).join(
        rows.rename({"file_hash": "content_hash"}), on="content_hash", how="left").with_columns(
        pl.lit(attempt).alias("attempt_id"), pl.lit(seen_at).alias("seen_at"))
    with transaction(connection):
        insert_frame(connection, "review_files", manifest)
        insert_frame(connection, "review_decisions",
                     judged.with_columns(pl.lit(attempt).alias("judged_attempt")))


def review_summary(connection: duckdb.DuckDBPyConnection, hashes: list[str]) -> dict[str, object]:
    """Counts and rejection messages of tonight's decision files, for the run summary."""
    if not hashes:
        return {}
    with registered(connection, "tonight", pl.DataFrame({"file_hash": hashes})):
        judged = connection.sql(
            "SELECT verdict, message, row_number FROM review_decisions "
            "JOIN tonight USING (file_hash) ORDER BY " + ", ".join(DECISION_ORDER)).pl()
    rejected = judged.filter(pl.col("verdict") == Verdict.REJECTED.value)
    return {
        "files_in": len(hashes),
        "accepted": judged.filter(pl.col("verdict") == Verdict.ACCEPTED.value).height,
        "rejected": rejected.height,
        "rejections": rejected.get_column("message").head(SUMMARY_MESSAGES).to_list(),
    }


def load_link_constraints(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The 同一人 / 非同一人 pairs in force: key_l, key_r, is_must_link."""
    return link_constraints(stored_decisions(connection))


def store_case_fingerprints(connection: duckdb.DuckDBPyConnection, material: pl.DataFrame,
                            run_id: str, carried_cases: pl.DataFrame | None = None
                            ) -> pl.DataFrame:
    """Keep tonight's case fingerprints (md5 of their material) beside the latest publish's;
    older runs' are dropped. `carried_cases` (discrepancy_id): cases of the latest publish
    that stand unchanged tonight; their fingerprints carry over. Returns discrepancy_id,
    fingerprint."""
    for statement in create_review_state_sql():
        connection.execute(statement)
    latest = last_publish(connection)
    keep = [run_id, latest[0]] if latest else [run_id]
    carried = carried_cases if carried_cases is not None else pl.DataFrame(
        schema={"discrepancy_id": pl.String})
    with (registered(connection, "case_material", material),
          registered(connection, "carried_cases", carried), transaction(connection)):
        connection.execute(
            "DELETE FROM case_fingerprints WHERE run_id NOT IN "
            f"({', '.join('?' for _ in keep)}) OR run_id = ?", [*keep, run_id])
        connection.execute("INSERT INTO case_fingerprints SELECT ?, discrepancy_id, "
                           "md5(material) FROM case_material", [run_id])
        if latest and carried_cases is not None:
            connection.execute(
                "INSERT INTO case_fingerprints SELECT ?, f.discrepancy_id, f.fingerprint "
                "FROM case_fingerprints f SEMI JOIN carried_cases USING (discrepancy_id) "
                "WHERE f.run_id = ?", [run_id, latest[0]])
    return connection.sql("SELECT discrepancy_id, fingerprint FROM case_fingerprints "
                          "WHERE run_id = ?", params=[run_id]).pl()


def apply_review_decisions(
    connection: duckdb.DuckDBPyConnection, discrepancies: pl.DataFrame, records: pl.DataFrame,
    run_id: str, carried_cases: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Close the cases decisions in force still match, record what new decisions changed,
    and build the published audit table. Returns (discrepancies, review_decision).

    `records`: source, record_id, person_id, version_key of every record in use, or (a
    nightly patch) of the children whose cases are given, with `carried_cases` the
    discrepancy ids of the latest publish that stand unchanged.
    """
    material = case_fingerprint_material(discrepancies, records)
    fingerprints = store_case_fingerprints(connection, material, run_id, carried_cases)
    decisions = stored_decisions(connection)
    resolved, standing = close_cases(discrepancies, fingerprints, decisions)
    applied = decision_effects(standing, named_assignments(records, decisions), run_id)
    newly = applied.join(decisions.filter(pl.col("applied_run_id").is_null()).select(
        "decision_key"), on="decision_key")
    if newly.height:
        with registered(connection, "applied_frame", newly):
            connection.execute("""
UPDATE review_decisions d SET effect = a.effect, person_after = a.person_after,
  other_person_after = a.other_person_after, applied_run_id = a.applied_run_id
FROM applied_frame a WHERE d.decision_key = a.decision_key""")
    return resolved, published_decisions(applied, run_id)


def named_assignments(records: pl.DataFrame, decisions: pl.DataFrame) -> pl.DataFrame:
    """member_key and person_id of the records that decisions name (decision_effects' input).

    Filtered by record id before the keys are spelled out: a whole run would otherwise build
    2.8M `source:record_id` strings and hash them twice for a handful of decisions.
    """
    keys = pl.concat([decisions.get_column("record_key"),
                      decisions.get_column("other_record_key")]).drop_nulls()
    named_ids = keys.str.splitn(":", 2).struct.field("field_1").drop_nulls().unique()
    return records.filter(pl.col("record_id").is_in(named_ids.implode())).select(
        (pl.col("source") + pl.lit(":") + pl.col("record_id")).alias("member_key"), "person_id")


def published_decisions(applied: pl.DataFrame, run_id: str) -> pl.DataFrame:
    """The `review_decision` table: every decision and rejected file, in the order applied."""
    labels = {r.value: label for r, label in REJECTION_LABELS.items()}
    return applied.sort(DECISION_ORDER).with_columns(
        pl.col("reason").replace_strict(labels, default=None, return_dtype=pl.String)
        .alias("reason_label"),
        pl.lit(run_id).alias("run_id"),
    ).select(REVIEW_DECISION.column_names)
