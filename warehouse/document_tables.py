"""Render docs/tables.md from schemas/published.py, so the docs cannot drift from the tables.

Run `python -m warehouse.document_tables` after changing a published table.
"""

from __future__ import annotations

from pathlib import Path

from schemas.published import PUBLISHED_SCHEMA_VERSION, PUBLISHED_TABLES

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "tables.md"
HEADER = """# Published tables

Generated from `schemas/published.py` by `python -m warehouse.document_tables`; do not edit
by hand. Schema version {version}. Every table lives in DuckDB's default schema of the
warehouse file and carries `run_id`. The same descriptions are set as DuckDB `COMMENT`s
(`SELECT * FROM duckdb_columns()` shows them).

Readers connect read-only (`duckdb -readonly FILE`, `duckdb.connect(FILE, read_only=True)`)
and reconnect to see a newer run: each run builds a new file and renames it over the old
one, so an open connection keeps the run it opened, whole.
"""


def render_tables_doc() -> str:
    parts = [HEADER.format(version=PUBLISHED_SCHEMA_VERSION)]
    for table in PUBLISHED_TABLES:
        parts.append(f"\n## `{table.name}`\n\n{table.description} "
                     f"Key: {', '.join(f'`{k}`' for k in table.key)}.\n\n"
                     "| column | type | meaning |\n| --- | --- | --- |")
        parts.extend(f"| `{c.name}` | {c.sql_type} | {c.description} |" for c in table.columns)
    return "\n".join(parts) + "\n"


def main() -> None:
    DOC_PATH.parent.mkdir(exist_ok=True)
    DOC_PATH.write_text(render_tables_doc(), encoding="utf-8")


if __name__ == "__main__":
    main()
