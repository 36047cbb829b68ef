"""Where everything kept between nights lives: FILE.state/ beside the warehouse FILE.

    FILE.state/
      restricted/          owner-only: raw values and the pseudonym key
        state.duckdb       manifest, every record version, quarantined rows, runs, person ids
        archive/<sha256>   every ingested file, by content hash, for full rebuilds
        pseudonym.key      HMAC key (when none comes from the environment)
      prefect/             PREFECT_HOME: Prefect's own database and results
      run.lock             held while a run is active
    FILE.reports/          officers' workbooks and the HTML report, per run (IDs masked)
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

PSEUDONYM_KEY_ENV = "BIRTHREC_PSEUDONYM_KEY"
OWNER_ONLY_DIR = 0o700
OWNER_ONLY_FILE = 0o600


@dataclass(frozen=True)
class StatePaths:
    """The state folder of one warehouse file."""

    warehouse: Path

    @property
    def root(self) -> Path:
        return self.warehouse.with_name(self.warehouse.name + ".state")

    @property
    def restricted(self) -> Path:
        return self.root / "restricted"

    @property
    def state_db(self) -> Path:
        return self.restricted / "state.duckdb"

    @property
    def archive(self) -> Path:
        return self.restricted / "archive"

    @property
    def key_file(self) -> Path:
        return self.restricted / "pseudonym.key"

    @property
    def prefect_home(self) -> Path:
        return self.root / "prefect"

    @property
    def lock_file(self) -> Path:
        return self.root / "run.lock"

    @property
    def reports(self) -> Path:
        """Officers' workbooks and pages: masked IDs only, so outside the restricted state."""
        return self.warehouse.with_name(self.warehouse.name + ".reports")

    def create(self) -> StatePaths:
        """Make the folders; the restricted part is readable by its owner only."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.prefect_home.mkdir(exist_ok=True)
        for folder in (self.restricted, self.archive):
            folder.mkdir(exist_ok=True)
            folder.chmod(OWNER_ONLY_DIR)
        return self


def load_pseudonym_key(paths: StatePaths) -> bytes:
    """The HMAC key: from the environment, else generated once and kept owner-only.

    Losing this key changes every pseudonym, so it is backed up with the state folder.
    """
    from_env = os.environ.get(PSEUDONYM_KEY_ENV)
    if from_env:
        return from_env.encode("utf-8")
    if paths.key_file.exists():
        return paths.key_file.read_bytes().strip()
    key = secrets.token_hex(32).encode("ascii")
    descriptor = os.open(paths.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY_FILE)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key)
    return key
