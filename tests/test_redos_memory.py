"""Rule regexes cannot backtrack catastrophically, port sets cost no memory per port,
and rule sets are bounded. Time and peak RSS are measured and printed (pytest -s), and
only generous bounds are asserted: a hang guard, not a benchmark (bench/bench_redos.py
compares the engines)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from netns import cli_argv

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests/fixtures/facts/upnp_home.json"
ENV = {**os.environ, "EXPOSURE_AUDIT_NO_UPNP": "1", "NO_COLOR": "1"}


def measured(*args: str) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """Run the CLI; (result, seconds, peak RSS in MiB of that child)."""
    t0 = time.monotonic()
    script = (
        "import sys\n"
        "from exposure_audit.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "sys.stdout.flush()\n"
        # VmHWM, not ru_maxrss: the latter keeps the forking parent's (pytest's) peak
        # across exec, the former belongs to this process's own address space.
        "rss = next(int(l.split()[1]) for l in open('/proc/self/status') "
        "if l.startswith('VmHWM:'))\n"
        "print(f'RSS_KIB {rss}', file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    res = subprocess.run(
        [str(Path(cli_argv()[0]).with_name("python")), "-c", script, *args],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - t0
    rss = [ln for ln in res.stderr.splitlines() if ln.startswith("RSS_KIB ")]
    return res, elapsed, int(rss[-1].split()[1]) // 1024 if rss else -1


def facts_with_cmdlines(tmp_path: Path, *cmdlines: str) -> Path:
    doc: dict[str, Any] = json.loads(FIXTURE.read_text())
    base = next(lst for lst in doc["listeners"] if isinstance(lst.get("process"), dict))
    for i, cmd in enumerate(cmdlines):
        lst = json.loads(json.dumps(base))
        lst["port"] = 40000 + i
        lst["inode"] = 900000 + i
        lst["process"]["pid"] = 90000 + i
        lst["process"]["name"] = "python3"
        lst["process"]["cmdline"] = cmd.split(" ")
        doc["listeners"].append(lst)
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(doc))
    return path


def rule(i: int, match: str) -> str:
    return (
        f'[[rule]]\nid = "T-{i}"\ntitle = "t"\nseverity = "low"\n{match}\n'
        'message = "{endpoint}"\nremediation = "{fix}"\n\n'
    )


def test_catastrophic_regex_runs_in_linear_time(tmp_path: Path) -> None:
    """'(a+)+$' passed rules check, then a 41-character command line hung every run;
    '\\bflask\\b.*\\brun\\b' (a built-in framework pattern) is quadratic in Python's re
    on a 240 KB command line any user can give a process."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "evil.toml").write_text(rule(1, "match.cmdline = '(a+)+$'"))
    res, _t, _rss = measured("rules", "check", str(rules))
    assert res.returncode == 0, res.stderr
    facts = facts_with_cmdlines(tmp_path, "a" * 40 + "!", "flask " * 40_000 + "x", "a" * 240_000)
    res, seconds, rss = measured("run", "--facts", str(facts), "--rules", str(rules), "-q")
    print(f"\nReDoS run: {seconds:.2f} s, peak RSS {rss} MiB")
    assert res.returncode in (0, 1), res.stderr


def test_unsupported_regex_constructs_are_rule_errors(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    for pattern in (r"(a)\1", r"a(?=b)", r"a\Z"):
        (rules / "r.toml").write_text(rule(1, f"match.cmdline = '{pattern}'"))
        res, _t, _rss = measured("rules", "check", str(rules))
        assert res.returncode == 2 and "linear-time engine (RE2)" in res.stderr, res.stderr
        assert res.stderr.count("\n") == 2  # the error line, and our RSS line


def test_full_port_ranges_are_intervals(tmp_path: Path) -> None:
    """1,000 rules of match.port = ["1-65535"] took 4 GB as sets of ports."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "wide.toml").write_text(
        "".join(rule(i, 'match.port = ["1-65535"]') for i in range(1000))
    )
    res, seconds, rss = measured("rules", "check", str(rules))
    print(f"\n1000 full-range rules: {seconds:.2f} s, peak RSS {rss} MiB")
    assert res.returncode == 0, res.stderr
    assert 0 < rss < 400  # sets: ~4 GB


def test_rule_count_is_bounded_with_a_clear_message(tmp_path: Path) -> None:
    """8,000 such rules hit the OOM killer; now: more than 5,000 rules is an error."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "many.toml").write_text(
        "".join(rule(i, 'match.port = ["1-65535"]') for i in range(8000))
    )
    res, seconds, rss = measured("rules", "check", str(rules))
    print(f"\n8000 rules: {seconds:.2f} s, peak RSS {rss} MiB")
    assert res.returncode == 2 and "more than 5000 rules" in res.stderr, res.stderr
