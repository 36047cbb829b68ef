"""The error levels of STYLE.md: a bad file raises a BadFileError, a bad run a RunError."""

from __future__ import annotations

from schemas.codes import QuarantineReason


class BirthrecError(Exception):
    """Base of every error birthrec raises on purpose."""


class BadFileError(BirthrecError):
    """A file that cannot be used at all; it is quarantined whole and the run goes on."""

    reason: QuarantineReason = QuarantineReason.UNREADABLE_FILE

    def __init__(self, file: str, detail: str) -> None:
        self.file = file
        self.detail = detail
        super().__init__(f"{file}: {detail}")


class BadFileNameError(BadFileError):
    """The name does not fit <source>_<YYYYMMDD>[_<n>].<ext>."""

    reason = QuarantineReason.BAD_FILE_NAME


class WrongFolderError(BadFileError):
    """The file names one source but sits in another source's folder."""

    reason = QuarantineReason.WRONG_FOLDER


class UnsupportedFormatError(BadFileError):
    """The extension is not one the source sends."""

    reason = QuarantineReason.UNSUPPORTED_FORMAT


class BadEncodingError(BadFileError):
    """The bytes do not decode in the source's declared encoding."""

    reason = QuarantineReason.BAD_ENCODING


class MissingColumnsError(BadFileError):
    """The header lacks one or more required columns."""

    reason = QuarantineReason.MISSING_COLUMNS


class EmptyFileError(BadFileError):
    """No header row at all."""

    reason = QuarantineReason.EMPTY_FILE


class RunError(BirthrecError):
    """The run cannot publish; the previous publish stays as it was."""


class RowCountMismatchError(RunError):
    """Rows read != rows in use + quarantined + superseded for some file."""


class RunLockedError(RunError):
    """Another run holds the warehouse's state folder."""


class StateLockedError(RunError):
    """The state database stayed locked by another process (a reader or a run)."""
