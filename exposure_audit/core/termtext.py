"""The one escaping function for text that reaches a terminal (or a one-line message).

Every command (run, diff, port, upnp, rules, fleet) and the error messages pass
strings from elsewhere (process names and command lines, router descriptions, rule and
report files) through :func:`terminal_text`: C0 and C1 controls, DEL, ESC (so no escape
sequence), every Unicode bidi control (U+061C, U+200E/F, U+202A-E, U+2066-9), other
format characters, line and paragraph separators, lone surrogates and unassigned code
points are shown as visible escapes (``\\x1b``, ``\\u202e``), never passed through; a
long value is cut with a marker saying how much was left out.
"""

from __future__ import annotations


def escape_char(ch: str) -> str:
    """One character as an unambiguous escape: ``\\xHH``, ``\\uHHHH`` or ``\\UHHHHHHHH``
    (a fixed width each, so no following character can be read as part of it)."""
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


class _Escapes(dict[int, str]):
    """str.translate table: each code point to itself or its escape, filled on first
    sight (text with a newline then costs one C-level pass, not a Python call per
    character). Bounded: past _MAX_CACHED distinct code points, not stored."""

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        out = ch if ch.isprintable() else escape_char(ch)
        if len(self) < _MAX_CACHED:
            self[code] = out
        return out


_MAX_CACHED = 4096
_ESCAPES = _Escapes()


def terminal_text(value: object, limit: int | None = None) -> str:
    """``value`` as text that cannot drive a terminal or reorder what it shows; cut to
    ``limit`` characters (before escaping) with a marker when longer."""
    s = str(value)
    cut = ""
    if limit is not None and len(s) > limit:
        cut = f"... [{len(s) - limit} more characters]"
        s = s[:limit]
    if not s.isprintable():
        s = s.translate(_ESCAPES)
    return s + cut
