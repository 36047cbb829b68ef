"""The four departments' declarations, in one lookup."""

from __future__ import annotations

from schemas.gongan import GONGAN
from schemas.jisheng import JISHENG
from schemas.minzheng import MINZHENG
from schemas.source_spec import SourceSpec
from schemas.weisheng import WEISHENG

SOURCES: dict[str, SourceSpec] = {s.code: s for s in (JISHENG, WEISHENG, GONGAN, MINZHENG)}
