"""Checking a webhook URL the user gave (on the command line or in the config file)."""

from __future__ import annotations

from urllib.parse import urlsplit

from exposure_audit.core.errors import UsageError


def validate_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a bad port
    except ValueError:
        raise UsageError("--webhook: not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError("--webhook: expected an http:// or https:// URL with a host")
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        raise UsageError("--webhook: the URL contains spaces or control characters")
    return url
