"""Declarations only: the sources' columns, the canonical record, the published tables, codes."""
