"""File naming, folders and applying order (CONTRACT.md section 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.codes import QuarantineReason
from warehouse.inbox_files import list_inbox


def touch(inbox: Path, relative: str, content: bytes = b"x") -> None:
    path = inbox / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content + relative.encode())


def test_files_apply_in_date_then_numeric_n_order(tmp_path: Path) -> None:
    for name in ("gongan_20130702.csv", "gongan_20130701_10.csv", "gongan_20130701_2.csv",
                 "gongan_20130701.csv"):
        touch(tmp_path, f"gongan/{name}")
    accepted, rejected = list_inbox(tmp_path)
    assert rejected == []
    assert [f.relative.split("/")[1] for f in accepted] == [
        "gongan_20130701.csv", "gongan_20130701_2.csv", "gongan_20130701_10.csv",
        "gongan_20130702.csv",
    ]


@pytest.mark.parametrize(
    ("relative", "reason"),
    [
        pytest.param("gongan/gongan-20130701.csv", QuarantineReason.BAD_FILE_NAME, id="dash"),
        pytest.param("gongan/gongan_2013071.csv", QuarantineReason.BAD_FILE_NAME, id="7 digits"),
        pytest.param("gongan/gongan_20130231.csv", QuarantineReason.BAD_FILE_NAME,
                     id="no such date"),
        pytest.param("gongan/weisheng_20130701.csv", QuarantineReason.WRONG_FOLDER,
                     id="wrong folder"),
        pytest.param("weisheng/weisheng_20130701.xlsx", QuarantineReason.UNSUPPORTED_FORMAT,
                     id="xlsx for a csv source"),
    ],
)
def test_badly_named_files_are_rejected(
    tmp_path: Path, relative: str, reason: QuarantineReason
) -> None:
    touch(tmp_path, relative)
    accepted, rejected = list_inbox(tmp_path)
    assert accepted == []
    assert [(r.relative, r.error.reason) for r in rejected] == [(relative, reason)]
    assert relative in str(rejected[0].error)


def test_missing_and_empty_folders_are_normal(tmp_path: Path) -> None:
    (tmp_path / "jisheng").mkdir()
    touch(tmp_path, "jisheng/~$jisheng_20130701.xlsx")
    assert list_inbox(tmp_path) == ([], [])
