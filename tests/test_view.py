"""One block per listener shows each fix once, even when several rules phrase it apart."""

from __future__ import annotations

from exposure_audit.render.view import distinct_fixes


def test_same_fix_behind_different_lead_ins_is_shown_once() -> None:
    fix = "publish it on loopback only: docker run -p 127.0.0.1:6379:6379."
    got = distinct_fixes(
        [
            f"Keep it on this machine: {fix}",
            f"Restrict it: {fix}",
            "Delete the mapping (upnpc -d 6379 TCP).",
        ]
    )
    assert got == [f"Keep it on this machine: {fix}", "Delete the mapping (upnpc -d 6379 TCP)."]


def test_different_fixes_are_all_kept_in_order() -> None:
    fixes = ["Bind it to 127.0.0.1.", "Delete the mapping: upnpc -d 8000 TCP.", "Set a token."]
    assert distinct_fixes(fixes) == fixes
