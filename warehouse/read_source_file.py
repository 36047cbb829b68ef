"""Read one department file into a staged frame: every cell as text, exactly as stored.

Spreadsheet ID-number and date columns also get the cell's type beside them, because an
18-digit ID stored as a number has already lost its last digits and only the type says so.
"""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

import fastexcel
import polars as pl

from schemas.canonical import CELL_NUMBER, CELL_TEXT, CELL_TYPE_SUFFIX
from schemas.source_spec import SourceSpec, ValueKind
from warehouse.errors import (
    BadEncodingError,
    BadFileError,
    EmptyFileError,
    MissingColumnsError,
)
from warehouse.inbox_files import InboxFile

CELL_TYPED_KINDS = (ValueKind.ID_NUMBER, ValueKind.DATE, ValueKind.RECORD_ID)
SPREADSHEET_EXTENSIONS = (".xlsx", ".xls", ".xlsm")
UTF8_BOM = b"\xef\xbb\xbf"


def canonical_header(header: str) -> str:
    """Headers are matched after Unicode NFKC and trimming (CONTRACT.md section 1)."""
    return unicodedata.normalize("NFKC", header).strip()


def match_headers(headers: list[str], spec: SourceSpec, file: str) -> dict[str, str]:
    """Map the file's header strings to canonical column names; report every missing one."""
    by_header = {canonical_header(c.header): c.name for c in spec.columns}
    mapping: dict[str, str] = {}
    for header in headers:
        name = by_header.get(canonical_header(header))
        if name is not None and name not in mapping.values():
            mapping[header] = name
    missing = [h for h in spec.required_headers if by_header[h] not in mapping.values()]
    if missing:
        raise MissingColumnsError(
            file,
            f"missing required column(s) {', '.join(missing)} — file quarantined; "
            "check the export template",
        )
    return mapping


def decode_csv_bytes(data: bytes, encoding: str, file: str) -> str:
    """Decode strictly; a file that is not in its source's encoding is rejected whole."""
    codec = "utf-8-sig" if encoding == "utf-8" else encoding
    try:
        return data.decode(codec)
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        other = "utf-8" if encoding != "utf-8" else "gb18030"
        try:
            data.decode("utf-8-sig" if other == "utf-8" else other)
            hint = f" (it reads as {other})"
        except UnicodeDecodeError:
            hint = ""
        raise BadEncodingError(
            file,
            f"not valid {encoding} at byte {error.start} (line {line}){hint} — "
            f"file quarantined; export it again as {encoding}",
        ) from error


def read_csv_cells(path: Path, spec: SourceSpec, file: str) -> pl.DataFrame:
    """All cells as text; the header row is spreadsheet row 1, blank lines kept as rows."""
    data = path.read_bytes()
    text = decode_csv_bytes(data, spec.csv_encoding, file)
    # isspace stops at the first other character; strip() copied the whole text.
    if not text or text.isspace():
        raise EmptyFileError(file, "the file is empty — file quarantined")
    # UTF-8 bytes that decoded are what polars reads: only other encodings are re-encoded.
    utf8 = data.removeprefix(UTF8_BOM) if spec.csv_encoding == "utf-8" else text.encode("utf-8")
    del text
    try:
        raw = pl.read_csv(
            io.BytesIO(utf8),
            infer_schema=False,
            has_header=True,
            truncate_ragged_lines=True,
        )
    except pl.exceptions.PolarsError as error:
        raise BadFileError(file, f"cannot be parsed as CSV ({error}) — file quarantined") from error
    try:
        mapping = match_headers(raw.columns, spec, file)
    except MissingColumnsError:
        raise_if_other_encoding(data, spec, file)
        raise
    return raw.select([pl.col(h).alias(n) for h, n in mapping.items()])


def raise_if_other_encoding(data: bytes, spec: SourceSpec, file: str) -> None:
    """UTF-8 bytes often decode as GB18030 without error, as mojibake; say what really happened."""
    other = "utf-8" if spec.csv_encoding != "utf-8" else "gb18030"
    try:
        header_line = data.decode("utf-8-sig" if other == "utf-8" else other).splitlines()[0]
    except (UnicodeDecodeError, IndexError):
        return
    headers = [h.strip().strip('"') for h in header_line.split(",")]
    try:
        match_headers(headers, spec, file)
    except MissingColumnsError:
        return
    raise BadEncodingError(
        file, f"the file is {other}, not {spec.csv_encoding} — file quarantined; "
        f"export it again as {spec.csv_encoding}")


def read_spreadsheet_cells(path: Path, spec: SourceSpec, file: str) -> pl.DataFrame:
    """The first sheet as text, plus the cell type of ID-number, date and record-id columns."""
    try:
        reader = fastexcel.read_excel(path)
        text_sheet = reader.load_sheet(0, header_row=0, dtypes="string")
        headers = [c.name for c in text_sheet.available_columns()]
    except fastexcel.FastExcelError as error:
        raise BadFileError(file, f"cannot be opened as a workbook ({error}) — "
                           "file quarantined") from error
    if not headers:
        raise EmptyFileError(file, "the first sheet has no header row — file quarantined")
    mapping = match_headers(headers, spec, file)
    text = text_sheet.to_polars().select([pl.col(h).alias(n) for h, n in mapping.items()])
    typed = [h for h, n in mapping.items() if spec.column(n).kind in CELL_TYPED_KINDS]
    if typed:
        # Only number (and boolean) cells survive a boolean read: that reveals the cell type.
        numeric = reader.load_sheet(0, header_row=0, dtypes="boolean",
                                    use_columns=typed).to_polars()
        text = text.with_columns(
            pl.when(pl.col(mapping[h]).is_null())
            .then(None)
            .when(numeric.get_column(h).is_not_null())
            .then(pl.lit(CELL_NUMBER))
            .otherwise(pl.lit(CELL_TEXT))
            .alias(mapping[h] + CELL_TYPE_SUFFIX)
            for h in typed
        )
    return text


def read_source_file(inbox_file: InboxFile, spec: SourceSpec) -> pl.DataFrame:
    """A staged frame: STAGED_META, one text column per canonical name present, cell types."""
    file = inbox_file.relative
    if inbox_file.extension in SPREADSHEET_EXTENSIONS:
        cells = read_spreadsheet_cells(inbox_file.path, spec, file)
    else:
        cells = read_csv_cells(inbox_file.path, spec, file)
    cells = cells.with_columns(pl.col(pl.String).str.strip_chars().replace("", None))
    return cells.with_row_index("row_number", offset=2).select(
        pl.lit(inbox_file.source, dtype=pl.String).alias("source"),
        pl.lit(file, dtype=pl.String).alias("file"),
        pl.lit(inbox_file.content_hash, dtype=pl.String).alias("file_hash"),
        pl.lit(inbox_file.extract_date, dtype=pl.Date).alias("extract_date"),
        pl.lit(inbox_file.file_seq, dtype=pl.Int64).alias("file_seq"),
        pl.col("row_number").cast(pl.Int64),
        *cells.columns,
    )
