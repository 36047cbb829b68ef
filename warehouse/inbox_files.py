"""Find the inbox's files, check their names and folders, and order them as the contract says."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from schemas.sources import SOURCES
from warehouse.errors import (
    BadFileError,
    BadFileNameError,
    UnsupportedFormatError,
    WrongFolderError,
)

FILE_NAME_PATTERN = re.compile(
    r"^(?P<source>[a-z]+)_(?P<date>\d{8})(?:_(?P<seq>\d+))?(?P<ext>\.[A-Za-z0-9]+)$"
)
HASH_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class InboxFile:
    """A department's file whose name and folder fit the contract."""

    path: Path
    relative: str  # e.g. "weisheng/weisheng_20130721.csv"
    source: str
    extract_date: date
    file_seq: int
    extension: str
    size_bytes: int
    content_hash: str

    @property
    def order_key(self) -> tuple[date, int, str]:
        """Files of a source apply in (date, n, name) order; a missing n counts as 0."""
        return (self.extract_date, self.file_seq, self.relative)


@dataclass(frozen=True)
class RejectedFile:
    """A file that cannot be used, with the error saying why."""

    relative: str
    source: str | None
    content_hash: str | None
    error: BadFileError


def hash_file(path: Path) -> str:
    """sha256 of the bytes: the content, not the name, decides what was already ingested."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def classify_file(path: Path, inbox: Path) -> InboxFile | RejectedFile:
    """Check one file's name against the folder it sits in."""
    relative = path.relative_to(inbox).as_posix()
    folder = path.parent.name
    content_hash = hash_file(path)
    match = FILE_NAME_PATTERN.match(path.name)
    if match is None:
        return RejectedFile(
            relative, folder, content_hash,
            BadFileNameError(relative, "name does not fit <source>_<YYYYMMDD>[_<n>].<ext> — "
                             "file quarantined; rename it and deliver it again"),
        )
    named_source = match["source"]
    if named_source != folder:
        return RejectedFile(
            relative, folder, content_hash,
            WrongFolderError(relative, f"named for source {named_source!r} but sits in "
                             f"{folder}/ — file quarantined; move it to {named_source}/"),
        )
    try:
        extract_date = date(int(match["date"][:4]), int(match["date"][4:6]),
                            int(match["date"][6:]))
    except ValueError:
        return RejectedFile(
            relative, folder, content_hash,
            BadFileNameError(relative, f"extract date {match['date']!r} is not a real date — "
                             "file quarantined; rename it with the extract date"),
        )
    extension = match["ext"].lower()
    spec = SOURCES[folder]
    if extension not in spec.extensions:
        return RejectedFile(
            relative, folder, content_hash,
            UnsupportedFormatError(relative, f"{spec.label} files must be "
                                   f"{' or '.join(spec.extensions)}, not {extension} — "
                                   "file quarantined"),
        )
    return InboxFile(
        path=path,
        relative=relative,
        source=folder,
        extract_date=extract_date,
        file_seq=int(match["seq"] or 0),
        extension=extension,
        size_bytes=path.stat().st_size,
        content_hash=content_hash,
    )


def list_inbox(inbox: Path) -> tuple[list[InboxFile], list[RejectedFile]]:
    """Every file under the four source folders, accepted ones in applying order.

    A missing or empty folder is normal on a given night. Hidden files (editor locks such
    as ~$x.xlsx, .DS_Store) are not deliveries and are skipped.
    """
    accepted: list[InboxFile] = []
    rejected: list[RejectedFile] = []
    for source in SOURCES:
        folder = inbox / source
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if not path.is_file() or path.name.startswith((".", "~$")):
                continue
            found = classify_file(path, inbox)
            (accepted if isinstance(found, InboxFile) else rejected).append(found)  # type: ignore[arg-type]
    accepted.sort(key=lambda f: (f.source, *f.order_key))
    return accepted, rejected
