"""Layering (STYLE.md): schemas <- transforms <- warehouse <- flows, and pure lower layers."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED: dict[str, set[str]] = {
    "schemas": {"schemas"},
    "transforms": {"schemas", "transforms"},
    "warehouse": {"schemas", "transforms", "warehouse"},
    "flows": {"schemas", "transforms", "warehouse", "flows"},
}
PROJECT_PACKAGES = set(ALLOWED)
IMPURE_MODULES = {"duckdb", "prefect", "fastexcel", "xlsxwriter", "openpyxl", "shutil"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def package_files(package: str) -> list[Path]:
    return sorted((ROOT / package).glob("**/*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_packages_import_only_lower_layers(package: str) -> None:
    for path in package_files(package):
        wrong = (imported_modules(path) & PROJECT_PACKAGES) - ALLOWED[package]
        assert not wrong, f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


@pytest.mark.parametrize("package", ["schemas", "transforms"])
def test_pure_layers_do_no_io(package: str) -> None:
    for path in package_files(package):
        impure = imported_modules(path) & IMPURE_MODULES
        assert not impure, f"{path.relative_to(ROOT)} imports {sorted(impure)}"
        source = path.read_text(encoding="utf-8")
        for call in ("open(", ".read_csv(", ".write_csv(", ".read_excel(", "Path("):
            assert call not in source, f"{path.relative_to(ROOT)} does file I/O: {call}"
