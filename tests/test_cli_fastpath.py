"""cli.fast_collect_args (collect without argparse) agrees with argparse on every argv it
takes, and leaves everything else to argparse."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exposure_audit import cli

TOKENS = [
    "collect", "--no-upnp", "--no-firewall", "-o", "--output", "--igd", "--upnp-timeout",
    "f.json", "-", "--", "-x", "-1", "1e-3", "nan", "2", " 3 ", "1_0", "", "--no-u",
    "--out", "--output=", "--output=r.json", "-of.json", "-o=f.json", "--igd=http://10.0.0.1/",
    "--upnp-timeout=0.5", "--upnp-timeout=x", "--debug", "-h", "--help", "--no-upnp=1",
    "http://192.168.1.1:5000/rootDesc.xml", "collect", "run", "--format", "json",
]  # fmt: skip


def _argparse(av: list[str]) -> dict[str, object] | None:
    """What argparse makes of ``av`` (None: it exits, with an error or --help)."""
    parser = cli.build_parser("collect")
    try:
        ns = parser.parse_args(av)
    except SystemExit:
        return None
    out = vars(ns)
    out.pop("func", None)
    return out


def _fast(av: list[str]) -> dict[str, object] | None:
    ns = cli.fast_collect_args(av)
    if ns is None:
        return None
    out = vars(ns).copy()
    assert out.pop("func").__module__ == "exposure_audit.commands.collect"
    return out


def _nan_as_str(args: dict[str, object] | None) -> dict[str, object] | None:
    if args is None:
        return None
    return {k: "nan" if isinstance(v, float) and math.isnan(v) else v for k, v in args.items()}


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=6), st.booleans())
def test_fast_path_agrees_with_argparse(tail: list[str], env_off: bool) -> None:
    import os

    old = os.environ.get("EXPOSURE_AUDIT_NO_UPNP")
    os.environ["EXPOSURE_AUDIT_NO_UPNP"] = "1" if env_off else "0"
    try:
        av = ["collect", *tail]
        fast = _fast(av)
        if fast is not None:
            # NaN != NaN: compare "nan" with "nan" (both parsers take --upnp-timeout nan)
            assert _nan_as_str(fast) == _nan_as_str(_argparse(av)), av
    finally:
        if old is None:
            del os.environ["EXPOSURE_AUDIT_NO_UPNP"]
        else:
            os.environ["EXPOSURE_AUDIT_NO_UPNP"] = old


@pytest.mark.parametrize(
    "tail",
    [
        [],
        ["--no-upnp"],
        ["--no-upnp", "-o", "facts.json"],
        ["-o", "-", "--no-firewall", "--no-upnp"],
        ["--output=f.json", "--upnp-timeout", "0.5", "--igd", "http://192.168.1.1/d.xml"],
    ],
)
def test_the_usual_command_lines_take_the_fast_path(tail: list[str]) -> None:
    av = ["collect", *tail]
    assert _fast(av) is not None and _fast(av) == _argparse(av)


@pytest.mark.parametrize(
    "tail", [["--help"], ["--no-u"], ["-of.json"], ["-o"], ["--bogus"], ["--upnp-timeout", "x"]]
)
def test_everything_else_goes_to_argparse(tail: list[str]) -> None:
    assert cli.fast_collect_args(["collect", *tail]) is None
    assert cli.fast_collect_args(["--debug", "collect"]) is None


def test_cli_collect_without_argparse_and_its_errors_with_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    code = (
        "import sys, json\n"
        "from exposure_audit.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "print(json.dumps(['argparse' in sys.modules, rc]), file=sys.stderr)\n"
    )
    run = [sys.executable, "-c", code]
    env = {"EXPOSURE_AUDIT_NO_UPNP": "1", "PATH": "/usr/bin:/bin"}
    ok = subprocess.run(
        [*run, "collect", "--no-upnp", "--no-firewall", "-o", str(tmp_path / "f.json")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert json.loads(ok.stderr.splitlines()[-1]) == [False, 0], ok.stderr
    assert json.loads((tmp_path / "f.json").read_text())["schema_version"].startswith("2.")
    bad = subprocess.run(
        [*run, "collect", "--upnp-timeout", "nan"], capture_output=True, text=True, env=env
    )
    assert json.loads(bad.stderr.splitlines()[-1]) == [False, 2]
    assert "--upnp-timeout must be a number of seconds" in bad.stderr
    typo = subprocess.run([*run, "collect", "--no-upnpp"], capture_output=True, text=True, env=env)
    assert typo.returncode == 2 and "unrecognized arguments: --no-upnpp" in typo.stderr
