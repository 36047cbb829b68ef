"""Read the township reference list, reference/divisions.csv (UTF-8)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl

from schemas.divisions import DIVISIONS, DIVISIONS_PATH
from warehouse.errors import BadFileError
from warehouse.read_source_file import decode_csv_bytes, match_headers

DIVISIONS_SCHEMA = {"township_code": pl.String, "township_name": pl.String, "aliases": pl.String}


def read_divisions(inbox: Path) -> tuple[pl.DataFrame, str | None]:
    """The divisions and the hash of their bytes; empty (all townships unmapped) if absent."""
    path = inbox / DIVISIONS_PATH
    if not path.is_file():
        return pl.DataFrame(schema=DIVISIONS_SCHEMA), None
    data = path.read_bytes()
    text = decode_csv_bytes(data, DIVISIONS.csv_encoding, DIVISIONS_PATH)
    try:
        raw = pl.read_csv(text.encode("utf-8"), infer_schema=False)
    except pl.exceptions.PolarsError as error:
        raise BadFileError(DIVISIONS_PATH, f"cannot be parsed as CSV ({error})") from error
    mapping = match_headers(raw.columns, DIVISIONS, DIVISIONS_PATH)
    divisions = raw.select([pl.col(h).str.strip_chars().alias(n) for h, n in mapping.items()])
    if "aliases" not in divisions.columns:
        divisions = divisions.with_columns(pl.lit(None, dtype=pl.String).alias("aliases"))
    divisions = divisions.filter(pl.col("township_code").str.contains(r"^\d{9}$"))
    return divisions.select(list(DIVISIONS_SCHEMA)), hashlib.sha256(data).hexdigest()
