"""Condition and table values: each TOML value checked and parsed into what a test takes.

Every error is one ``ConfigError`` naming the file, the rule (or port, framework) and
the key (``Where.error``). ``parser_for`` gives the parser of an operator's ``Value``
(conditions.py): a new kind of value gets its parser here.
"""

from __future__ import annotations

import bisect
import fnmatch
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from exposure_audit.core.errors import ConfigError, shown
from exposure_audit.core.model import SCOPE_RANK, SCOPES
from exposure_audit.core.records import record
from exposure_audit.policy.files import did_you_mean, type_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from exposure_audit.policy.conditions import Value

MAX_REGEX_CHARS = 1000


@record
class Where:
    file: str
    what: str  # "rule EA-DEV-001", "port 8000", "framework django"

    def error(self, key: str, message: str) -> ConfigError:
        # shown(message) too: it may quote the hostile value itself (a port of "\n")
        return ConfigError(f"{self.file}: {self.what}: key '{shown(key)}': {shown(message)}")


def str_value(where: Where, key: str, value: Any, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise where.error(key, f"expected a string, got {type_name(value)}")
    if not empty and not value.strip():
        raise where.error(key, "must not be empty")
    return value


def str_list(where: Where, key: str, value: Any) -> list[str]:
    """A string or a list of strings (a lone string is a list of one)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise where.error(key, f"expected a string or a non-empty list, got {type_name(value)}")
    for item in items:
        if not isinstance(item, str):
            raise where.error(key, f"expected strings in the list, got {type_name(item)}")
        if not item.strip():
            raise where.error(key, "empty string in the list")
    return items


def choice(where: Where, key: str, value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise where.error(
            key,
            f"unknown {what} '{value}'{did_you_mean(value, allowed)}"
            f" (expected one of: {', '.join(allowed)})",
        )
    return value


def check_keys(where: Where, prefix: str, table: dict[str, Any], allowed: Iterable[str]) -> None:
    allowed = tuple(allowed)
    for key in table:
        if key not in allowed:
            raise where.error(
                f"{prefix}{key}",
                f"unknown key{did_you_mean(key, allowed)} (allowed: {', '.join(sorted(allowed))})",
            )


def port_range(where: Where, key: str, item: Any) -> range:
    if isinstance(item, int) and not isinstance(item, bool):
        lo = hi = item
    elif isinstance(item, str):
        m = re.fullmatch(r"\s*(\d{1,5})\s*-\s*(\d{1,5})\s*", item) or re.fullmatch(
            r"\s*(\d{1,5})\s*", item
        )
        if not m:
            raise where.error(key, f"bad port range '{item}' (expected a number or \"8000-8099\")")
        lo = int(m.group(1))
        hi = int(m.group(m.lastindex or 1))
    else:
        raise where.error(key, f'expected a port number or "from-to" range, got {type_name(item)}')
    if not (0 < lo <= 65535 and 0 < hi <= 65535):
        raise where.error(key, f"bad port range '{item}' (ports are 1-65535)")
    if lo > hi:
        raise where.error(key, f"bad port range '{item}' (start is after end)")
    return range(lo, hi + 1)


MAX_PORT_ITEMS = 1000  # numbers and ranges in one ports value


@record
class PortSet:
    """Ports as sorted, merged, inclusive intervals: ``"1-65535"`` is one pair, not a
    65,535-element set (1,000 such rules took 4 GB as sets)."""

    intervals: tuple[tuple[int, int], ...]

    def __contains__(self, port: object) -> bool:
        if not isinstance(port, int):
            return False
        i = bisect.bisect_right(self.intervals, (port, 65536)) - 1
        return i >= 0 and self.intervals[i][0] <= port <= self.intervals[i][1]

    def __len__(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.intervals)

    def __iter__(self) -> Iterator[int]:
        for lo, hi in self.intervals:
            yield from range(lo, hi + 1)

    @classmethod
    def of(cls, ranges: Iterable[range]) -> PortSet:
        merged: list[list[int]] = []
        for lo, hi in sorted((r.start, r.stop - 1) for r in ranges if len(r)):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        return cls(tuple((lo, hi) for lo, hi in merged))


def ports(where: Where, key: str, value: Any) -> PortSet:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise where.error(key, "empty list")
    if len(items) > MAX_PORT_ITEMS:
        raise where.error(key, f"more than {MAX_PORT_ITEMS} ports or ranges (use ranges)")
    return PortSet.of(port_range(where, key, item) for item in items)


def choices(allowed: Sequence[str], what: str) -> Callable[[Where, str, Any], frozenset[str]]:
    def parse(where: Where, key: str, value: Any) -> frozenset[str]:
        return frozenset(choice(where, key, v, allowed, what) for v in str_list(where, key, value))

    return parse


def scope_rank(where: Where, key: str, value: Any) -> int:
    return SCOPE_RANK[choice(where, key, str_value(where, key, value), SCOPES, "scope")]


def boolean(where: Where, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise where.error(key, f"expected true or false, got {type_name(value)}")
    return value


def globs(where: Where, key: str, value: Any) -> re.Pattern[str]:
    """Globs (any of), case-insensitive, compiled into one anchored regex."""
    parts = [fnmatch.translate(g) for g in str_list(where, key, value)]
    return re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE)


# Memory RE2 may use per regex (its DFA cache and program): a bound, not a budget.
REGEX_MAX_MEM = 8 * 1024 * 1024


class RegexMatch(Protocol):
    """What a LinearRegex match offers (re.Match and RE2's match both do)."""

    def group(self, *groups: int | str) -> Any: ...

    def groupdict(self) -> dict[str, str | None]: ...


class LinearRegex:
    """A rule's regex, run by RE2 (google-re2): matching time is linear in the text,
    whatever the pattern. Python's re backtracks: '(a+)+$' hangs on 41 characters, and
    even '\\bflask\\b.*\\brun\\b' takes minutes on a 240 KB command line any user can
    give a process (bench/bench_redos.py). RE2 has no backreferences or lookarounds
    (and no \\Z: use $); such a pattern is a rule error."""

    __slots__ = ("_re", "pattern")

    def __init__(self, pattern: str) -> None:
        import re2

        options = re2.Options()
        options.max_mem = REGEX_MAX_MEM
        options.log_errors = False
        self.pattern = pattern
        self._re = re2.compile(pattern, options)

    @property
    def groupindex(self) -> dict[str, int]:
        return dict(self._re.groupindex)

    def search(self, text: str) -> RegexMatch | None:
        found: RegexMatch | None
        try:
            found = self._re.search(text)
        except UnicodeEncodeError:  # lone surrogates (non-UTF-8 bytes of a cmdline)
            found = self._re.search(_plain(text))
        return found

    def match(self, text: str) -> RegexMatch | None:
        found: RegexMatch | None
        try:
            found = self._re.match(text)
        except UnicodeEncodeError:
            found = self._re.match(_plain(text))
        return found

    def __repr__(self) -> str:
        return f"LinearRegex({self.pattern!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LinearRegex) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)


def _plain(text: str) -> str:
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def regex(where: Where, key: str, value: Any) -> LinearRegex:
    text = str_value(where, key, value)
    if len(text) > MAX_REGEX_CHARS:
        raise where.error(key, f"regex longer than {MAX_REGEX_CHARS} characters")
    try:
        return LinearRegex(text)
    except Exception as exc:  # re2.error: a construct RE2 refuses, or over max_mem
        refused = exc
    # Python's own message for plain syntax errors (compiled only then: ~0.1 ms a regex)
    try:
        re.compile(text)
    except re.error as exc:
        raise where.error(key, f"bad regex '{text}': {exc}") from None
    except RecursionError:
        raise where.error(key, "bad regex: nested too deeply") from None
    why = str(refused.args[0] if refused.args else refused)
    if why.startswith("b'") or why.startswith('b"'):
        why = why[2:-1]
    raise where.error(
        key,
        f"regex '{text}' is not supported by the linear-time engine (RE2): {why} "
        "(no backreferences or lookarounds; use $ for \\Z)",
    ) from None


def regexes(where: Where, key: str, value: Any) -> tuple[LinearRegex, ...]:
    return tuple(regex(where, key, v) for v in str_list(where, key, value))


def container(where: Where, key: str, value: Any) -> bool | re.Pattern[str]:
    if isinstance(value, bool):
        return value
    if isinstance(value, (str, list)):
        return globs(where, key, value)
    raise where.error(key, f"expected true, false or container-id globs, got {type_name(value)}")


def names(where: Where, key: str, value: Any) -> frozenset[str]:
    return frozenset(str_list(where, key, value))


Parser = Callable[[Where, str, Any], Any]

_PARSERS: dict[str, Parser] = {
    "ports": ports,
    "scope_rank": scope_rank,
    "bool": boolean,
    "names": names,
    "globs": globs,
    "regexes": regexes,
    "container": container,
}


def parser_for(value: Value) -> Parser:
    """The parser of a condition's value, as its operator describes it."""
    if value.kind == "choices":
        return choices(value.choices, value.noun)
    return _PARSERS[value.kind]
