"""reporting/grouping.py on its own: what keeps two listeners apart, and what does not."""

from __future__ import annotations

import pytest

from exposure_audit.reporting.grouping import _without_port, span


@pytest.mark.parametrize(
    ("text", "port", "blanked"),
    [
        ("run it as: manage.py runserver 127.0.0.1:8000", 8000, "127.0.0.1:\0"),
        ("18000, 8000 and 80001", 8000, "18000, \0 and 80001"),
        ("8080", 80, "8080"),  # not a whole number: kept
        ("808080 80", 80, "808080 \0"),
        ("port 80 or 80", 80, "port \0 or \0"),
        ("no port here", 22, "no port here"),
    ],
)
def test_a_fix_without_its_own_port(text: str, port: int, blanked: str) -> None:
    assert blanked in _without_port(text, {str(port)})
    assert _without_port(text, {str(port)}).count("\0") == blanked.count("\0")


def test_fixes_that_differ_only_in_their_port_compare_equal() -> None:
    a = _without_port("next dev -H 127.0.0.1 -p 3000", {"3000"})
    b = _without_port("next dev -H 127.0.0.1 -p 3001", {"3001"})
    c = _without_port("start node with --inspect=127.0.0.1:3001", {"3001"})
    assert a == b and a != c


def test_span_in_words() -> None:
    assert span(4000, 4000) == "4,000 ports"
    assert span(2, 1) == "2 sockets on 1 port"
    assert span(3, 2) == "3 sockets on 2 ports"
