"""The DuckDB side and every byte in and out: inbox, state, publish, exports."""
