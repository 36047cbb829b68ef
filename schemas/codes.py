"""Code lists: sources, sex, problems with values, quarantine reasons, discrepancy kinds."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Source(StrEnum):
    JISHENG = "jisheng"
    WEISHENG = "weisheng"
    GONGAN = "gongan"
    MINZHENG = "minzheng"


class Sex(IntEnum):
    """GB/T 2261.1: 1 male, 2 female; 0 and 9 (unknown) become null."""

    MALE = 1
    FEMALE = 2


class IdProblem(StrEnum):
    """What is wrong with an ID number cell; null when it is a valid 18-character number."""

    MALFORMED = "malformed"  # wrong length or characters after cleaning
    BAD_CHECK_DIGIT = "bad_check_digit"  # GB 11643-1999 check digit fails
    BAD_BIRTH_DATE = "bad_birth_date"  # the embedded birth date is not a real date
    STORED_AS_NUMBER = "stored_as_number"  # a spreadsheet number cell: last digits destroyed
    SCIENTIFIC = "scientific_notation"  # 4.50123E+17: digits destroyed
    UPGRADED_15 = "upgraded_from_15"  # old 15-digit form, upgraded (valid, informational)


class DateProblem(StrEnum):
    UNPARSEABLE = "unparseable"
    IMPOSSIBLE = "impossible"  # parsed parts, but no such day (2013-02-30)
    OUT_OF_RANGE = "out_of_range"  # before 1900 or absurdly far in the future


class TownshipMatch(StrEnum):
    """How a free-text township was mapped to a division code."""

    EXACT = "exact"
    ALIAS = "alias"
    STRIPPED = "stripped"  # suffix or county/city prefix removed
    CONTAINED = "contained"  # the official name or an alias occurs inside the text
    FUZZY = "fuzzy"
    UNMAPPED = "unmapped"


class QuarantineReason(StrEnum):
    """Why a file or a row was rejected (the `quarantine.reason` column)."""

    BAD_FILE_NAME = "bad_file_name"
    WRONG_FOLDER = "wrong_folder"
    UNSUPPORTED_FORMAT = "unsupported_format"
    UNREADABLE_FILE = "unreadable_file"
    BAD_ENCODING = "bad_encoding"
    MISSING_COLUMNS = "missing_columns"
    EMPTY_FILE = "empty_file"
    NO_RECORD_ID = "no_record_id"
    NO_IDENTIFYING_FIELDS = "no_identifying_fields"
    FOOTER_ROW = "footer_row"
    BLANK_ROW = "blank_row"  # every cell empty


class RowFate(StrEnum):
    """Where every input row ends: in use, superseded by a later version, or quarantined."""

    IN_USE = "in_use"
    SUPERSEDED = "superseded"
    QUARANTINED = "quarantined"


class DiscrepancyKind(StrEnum):
    SEX_CONFLICT = "sex_conflict"
    BIRTH_DATE_CONFLICT = "birth_date_conflict"
    NAME_CONFLICT = "name_conflict"
    MOTHER_CONFLICT = "mother_conflict"
    DUPLICATE_REGISTRATION = "duplicate_registration"
    MISSING_IN_GONGAN = "missing_in_gongan"
    MISSING_IN_WEISHENG = "missing_in_weisheng"
    MISSING_IN_JISHENG = "missing_in_jisheng"
    INFANT_DEATH = "infant_death"
    ADOPTION = "adoption"
    FOUNDLING = "foundling"
    INVALID_ID = "invalid_id"
    ID_BIRTH_DATE_MISMATCH = "id_birth_date_mismatch"
    ID_SEX_MISMATCH = "id_sex_mismatch"
    SHARED_ID = "shared_id"
    LATE_REGISTRATION = "late_registration"
    MISSING_CHILD_ID = "missing_child_id"


class DiscrepancyStatus(StrEnum):
    OPEN = "open"
    EXPLAINED = "explained"
    RESOLVED = "resolved"


class RunStatus(StrEnum):
    PUBLISHED = "published"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    REFUSED = "refused"  # another run was active on the same warehouse; nothing was done
    RUNNING = "running"  # in the restricted run log while an attempt is under way
    CRASHED = "crashed"  # an attempt that never finished (killed); found by the next start


class RunWarningKind(StrEnum):
    """Something that looks wrong in a run's input (transforms/run_warnings.py)."""

    DEPARTMENT_SILENT = "department_silent"
    QUARANTINE_SHARE_HIGH = "quarantine_share_high"
    SEX_RATIO_UNUSUAL = "sex_ratio_unusual"
