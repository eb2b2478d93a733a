"""The one clock the reports use."""

from __future__ import annotations

import time


def now_iso() -> str:
    """The current UTC time to the second, ISO 8601: ``2026-11-27T14:00:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
