"""core.atomicio.publish: several outputs, all-or-none."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from exposure_audit.core import atomicio
from exposure_audit.core.errors import OutputError


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith((".tmp", ".old")))


def test_publish_replaces_every_file(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.json", tmp_path / "b.txt", tmp_path / "c.html"
    a.write_text("old a")
    b.write_text("old b")
    atomicio.publish([(a, b"new a"), (str(b), b"new b"), (c, b"new c")])
    assert (a.read_bytes(), b.read_bytes(), c.read_bytes()) == (b"new a", b"new b", b"new c")
    assert oct(c.stat().st_mode & 0o777) == oct(0o644)
    assert _leftovers(tmp_path) == []


def test_publish_writes_special_files_in_place_and_stdout_last(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    a = tmp_path / "a.txt"
    atomicio.publish([("-", b"to stdout\n"), ("/dev/null", b"nothing"), (a, b"file")])
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    assert a.read_bytes() == b"file"
    assert capfd.readouterr().out == "to stdout\n"


def test_a_failure_while_staging_keeps_every_old_file_and_no_staged_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    a, b, c = tmp_path / "a.json", tmp_path / "b.txt", tmp_path / "c.html"
    for p in (a, b, c):
        p.write_text(f"old {p.name}")
    real_stage = atomicio.stage
    calls: list[str] = []

    def failing_stage(target: str, data: bytes, mode: int = 0o644) -> str:
        calls.append(target)
        if len(calls) == 3:  # the third output: two are staged already
            raise OutputError(f"cannot write {target}: disk full")
        return real_stage(target, data, mode)

    monkeypatch.setattr(atomicio, "stage", failing_stage)
    with pytest.raises(OutputError, match="disk full"):
        atomicio.publish([(a, b"new"), (b, b"new"), (c, b"new"), ("-", b"never printed")])
    assert [p.read_text() for p in (a, b, c)] == ["old a.json", "old b.txt", "old c.html"]
    assert _leftovers(tmp_path) == []
    assert capfd.readouterr().out == ""


def test_a_directory_target_fails_before_anything_is_replaced(tmp_path: Path) -> None:
    a = tmp_path / "a.json"
    a.write_text("old")
    (tmp_path / "d").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        atomicio.publish([(a, b"new"), (tmp_path / "d", b"x")])
    assert a.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_a_failing_rename_puts_back_the_files_already_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b, c = tmp_path / "a.json", tmp_path / "b.txt", tmp_path / "c.html"
    for p in (a, b, c):
        p.write_text("old")
    real_replace = os.replace
    seen: list[str] = []

    def failing_replace(src: str, dst: str) -> None:
        seen.append(dst)
        if len(seen) == 2:
            raise PermissionError(13, "Permission denied")
        real_replace(src, dst)

    monkeypatch.setattr(atomicio.os, "replace", failing_replace)
    with pytest.raises(OutputError, match=r"cannot write .*b\.txt: Permission denied"):
        atomicio.publish([(a, b"new"), (b, b"new"), (c, b"new")])
    # All or none: a.json, already renamed, is rolled back to its old content.
    assert [p.read_text() for p in (a, b, c)] == ["old", "old", "old"]
    assert _leftovers(tmp_path) == []


def test_a_failing_rename_removes_a_new_file_it_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = tmp_path / "new.json", tmp_path / "b.txt"
    b.write_text("old")
    real_replace = os.replace

    def failing_replace(src: str, dst: str) -> None:
        if dst == str(b):
            raise PermissionError(13, "Permission denied")
        real_replace(src, dst)

    monkeypatch.setattr(atomicio.os, "replace", failing_replace)
    with pytest.raises(OutputError):
        atomicio.publish([(a, b"new"), (b, b"new")])
    assert not a.exists() and b.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_sigterm_while_staging_leaves_no_temporary_file(tmp_path: Path) -> None:
    """A SIGTERM in the middle of staging a large output: the staged files go."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        f"""
        import os, signal
        from exposure_audit.core import atomicio
        real = atomicio.stage
        def stage(target, data, mode=0o644):
            tmp = real(target, data, mode)
            if target.endswith("b.json"):
                os.kill(os.getpid(), signal.SIGTERM)
            return tmp
        atomicio.stage = stage
        atomicio.publish([({str(tmp_path / "a.json")!r}, b"x" * 50_000_000),
                          ({str(tmp_path / "b.json")!r}, b"y"),
                          ({str(tmp_path / "c.json")!r}, b"z")])
        """
    )
    (tmp_path / "a.json").write_text("old")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert res.returncode != 0
    assert sorted(os.listdir(tmp_path)) == ["a.json"]
    assert (tmp_path / "a.json").read_text() == "old"


def test_write_atomic_is_publish_of_one(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    a = tmp_path / "a.txt"
    atomicio.write_atomic(a, "text é")
    assert a.read_text(encoding="utf-8") == "text é"
    atomicio.write_atomic("-", "to stdout")
    atomicio.write_atomic("-", b" and bytes")
    assert capfd.readouterr().out == "to stdout and bytes"


def test_without_hard_links_outputs_are_still_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filesystem with no hard links (vfat): the rollback copy is skipped, not the write."""

    def no_links(*_args: object, **_kw: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    a = tmp_path / "a.json"
    a.write_text("old")
    monkeypatch.setattr(atomicio.os, "link", no_links)
    atomicio.publish([(a, b"new"), (tmp_path / "b.json", b"b")])
    assert a.read_text() == "new" and (tmp_path / "b.json").read_text() == "b"
    assert _leftovers(tmp_path) == []


def _chunks(*parts: bytes) -> atomicio.Streamed:
    def write(fh: Any) -> int:
        return sum(fh.write(p) for p in parts)

    return atomicio.Streamed(write)


def test_streamed_content_is_written_into_the_staged_file(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.txt"
    a.write_text("old a")
    streamed = _chunks(b"new ", b"a")
    atomicio.publish([(a, streamed), (b, b"new b"), ("-", _chunks(b"out", b"\n"))])
    assert (a.read_bytes(), b.read_bytes()) == (b"new a", b"new b")
    assert streamed.size == 5
    assert capfd.readouterr().out == "out\n"
    assert _leftovers(tmp_path) == []
    # in pieces of a kilobyte, several times the staged file's buffer
    big = [bytes([65 + n % 26]) * 1000 for n in range(3 * atomicio.STAGED_BUFFER // 1000 + 7)]
    streamed = _chunks(*big)
    atomicio.publish([(a, streamed)])
    assert a.read_bytes() == b"".join(big)
    assert streamed.size == len(b"".join(big))


# a first go within the staged file's buffer, and one of which most was written out
@pytest.mark.parametrize("pieces", [1, 3 * atomicio.STAGED_BUFFER // 1000 + 7])
def test_a_streamed_writer_that_starts_over_leaves_only_its_second_go(
    tmp_path: Path, pieces: int
) -> None:
    a = tmp_path / "a.json"

    def write(fh: Any) -> int:
        for _ in range(pieces):
            fh.write(b"a first attempt that is longer".ljust(1000, b"."))
        fh.seek(0)
        fh.truncate()
        return int(fh.write(b"second"))

    atomicio.publish([(a, atomicio.Streamed(write))])
    assert a.read_bytes() == b"second"


def test_a_streamed_writer_failing_midway_keeps_every_old_file(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    a, b = tmp_path / "a.txt", tmp_path / "b.json"
    a.write_text("old a")
    b.write_text("old b")

    def write(fh: Any) -> int:
        fh.write(b"half of it")
        raise ValueError("the report could not be encoded")

    with pytest.raises(ValueError, match="encoded"):
        atomicio.publish([(a, b"new a"), (b, atomicio.Streamed(write)), ("-", b"never")])
    assert (a.read_text(), b.read_text()) == ("old a", "old b")
    assert _leftovers(tmp_path) == []
    assert capfd.readouterr().out == ""
