"""Prefect flows, tasks and the command line: orchestration only."""
