"""Where the built-in rules and report templates are.

Installed: inside the package (``exposure_audit/_data/{rules,reports}``, put there by
the wheel build). From a source checkout: the top-level ``rules/`` and ``reports/``.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent.parent  # the exposure_audit package


def data_dir(name: str) -> Path:
    """``name`` is "rules" or "reports"."""
    installed = _PKG / "_data" / name
    if installed.is_dir():
        return installed
    checkout = _PKG.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"built-in {name}/ not found (looked in {installed} and {checkout})")


def rules_dir() -> Path:
    return data_dir("rules")


def reports_dir() -> Path:
    return data_dir("reports")
