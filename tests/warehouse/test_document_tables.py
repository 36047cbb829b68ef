"""docs/tables.md describes every published table and column."""

from __future__ import annotations

from warehouse.document_tables import DOC_PATH, render_tables_doc


def test_tables_doc_is_current() -> None:
    assert DOC_PATH.read_text(encoding="utf-8") == render_tables_doc(), (
        "docs/tables.md is stale: run python -m warehouse.document_tables")
