"""Generated inboxes for end-to-end runs (small, so the suite stays fast)."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.demo_inbox import write_demo

E2E_BIRTHS = 1500
E2E_SEED = 20131105  # not a seed the generator or linking was tuned on


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated inbox and its truth: DIR/inbox, DIR/truth."""
    out = tmp_path_factory.mktemp("generated")
    write_demo(out, births=E2E_BIRTHS, seed=E2E_SEED)
    return out
