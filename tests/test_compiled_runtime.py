"""The built-in terminal template runs from its precompiled code on reporting/compiled.py,
not jinja2 (issue 16: importing jinja2 was a quarter of a 100-listener run). It must say
exactly what jinja2 says: every fixture is rendered both ways and compared, and the
runtime's pieces (undefined values, the sandbox's lookups, the filters) are compared
with jinja2's own on the same inputs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
import precompile_script
import pytest
import report_fixture
import scale_fixture
from netns import cli_argv

from exposure_audit.core.errors import ConfigError
from exposure_audit.core.resources import reports_dir
from exposure_audit.reporting import RenderContext, compiled, terminal
from exposure_audit.reporting.compiled import Environment, Undefined, render_builtin
from exposure_audit.reporting.document import build_report
from exposure_audit.reporting.precompiled import TEMPLATES
from exposure_audit.reporting.rendering import finalize_terminal
from exposure_audit.reporting.templating import environment, render_template
from exposure_audit.reporting.view import build_view

ROOT = Path(__file__).resolve().parent.parent
FACTS = sorted((ROOT / "tests" / "fixtures" / "facts").glob("*.json"))
STAMP = "2026-11-27T14:00:05Z"


def _variables(report: dict[str, Any], width: int, quiet: bool, color: bool) -> dict[str, Any]:
    return {
        "report": report,
        "summary": report["summary"],
        "view": build_view(report),
        "width": width,
        "quiet": quiet,
        "color": color,
    }


def _both(report: dict[str, Any], width: int = 100, quiet: bool = False, color: bool = False):
    ctx = RenderContext(color=color, width=width, quiet=quiet)
    filters = terminal._filters(ctx)
    variables = _variables(report, width, quiet, color)
    ours = render_builtin(terminal.TEMPLATE, variables, filters, finalize_terminal)
    env = environment("terminal", None, filters)
    theirs = render_template(env, terminal.TEMPLATE, None, variables)
    return ours, theirs


def _reports() -> list[tuple[str, dict[str, Any]]]:
    from exposure_audit.commands.run import load_facts_file

    out = [
        ("fixture", build_report(report_fixture.build(), generated_at=STAMP)),
        ("hostile", build_report(report_fixture.build(hostile=True), generated_at=STAMP)),
        ("quiet", build_report(report_fixture.quiet_host(), generated_at=STAMP)),
        ("proxies", scale_fixture.report(scale_fixture.build_proxies())),
    ]
    for path in FACTS:
        facts = load_facts_file(str(path))
        out.append((path.stem, scale_fixture.report(facts)))
    return out


REPORTS = _reports()


def test_the_terminal_template_is_precompiled_for_this_runtime() -> None:
    version, *_rest, module = TEMPLATES[terminal.TEMPLATE]
    assert version == compiled.RUNTIME
    first = (ROOT / "exposure_audit" / "reporting" / "precompiled" / f"{module}.py").read_text()
    assert first.startswith("from exposure_audit.reporting.compiled import ")


@pytest.mark.parametrize(("name", "report"), REPORTS, ids=[n for n, _r in REPORTS])
@pytest.mark.parametrize(
    ("width", "quiet", "color"), [(100, False, False), (40, False, True), (160, True, False)]
)
def test_every_fixture_reads_as_jinja2_renders_it(
    name: str, report: dict[str, Any], width: int, quiet: bool, color: bool
) -> None:
    ours, theirs = _both(report, width, quiet, color)
    assert ours is not None, "the precompiled code was not used"
    assert ours == theirs


def test_the_scale_fixture_reads_as_jinja2_renders_it() -> None:
    ours, theirs = _both(scale_fixture.report())
    assert ours is not None and ours == theirs
    assert ours.count("\n") > 50


def _untimed(text: str) -> str:
    """A run's output without its own time (in the header): two runs may be a second
    apart."""
    out = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "TIME", text)
    assert "TIME" in out
    return out


def test_a_terminal_run_does_not_import_jinja2(tmp_path: Path) -> None:
    """The whole CLI, a terminal report: jinja2 is not imported; with -o r.html it is."""
    facts = ROOT / "tests" / "fixtures" / "facts" / "laptop_cafe.json"
    probe = (
        "import sys\n"
        "from exposure_audit.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "sys.stdout.flush()\n"
        "print('JINJA2' if 'jinja2' in sys.modules else 'NO-JINJA2', file=sys.stderr)\n"
        "raise SystemExit(rc)\n"
    )
    # --facts replays saved facts (no discovery, no probe); the flags say so anyway
    argv = [sys.executable, "-c", probe, "run", "--facts", str(facts), "--no-upnp", "--no-probe"]
    argv += ["--fail-on", "none"]
    plain = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert plain.stderr.strip().endswith("NO-JINJA2")
    assert "EXPOSED" in plain.stdout or "HIGH" in plain.stdout
    html = subprocess.run(
        [*argv, "-o", str(tmp_path / "r.html"), "-o", "-"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert html.returncode == 0, html.stderr
    assert html.stderr.strip().endswith("JINJA2") and "NO-JINJA2" not in html.stderr
    assert _untimed(html.stdout) == _untimed(plain.stdout)


def test_the_cli_output_is_jinja2_s(tmp_path: Path) -> None:
    """The installed command with the built-in template, and with an identical copy as
    the user's template (rendered by jinja2): the same text."""
    facts = ROOT / "tests" / "fixtures" / "facts" / "upnp_home.json"
    copy = tmp_path / "copy.txt.j2"
    shutil.copy(reports_dir() / terminal.TEMPLATE, copy)
    outs = []
    run = [*cli_argv(), "run", "--facts", str(facts), "--no-upnp", "--no-probe"]
    for extra in ([], ["--template", f"terminal={copy}"]):
        proc = subprocess.run(
            [*run, *extra, "--fail-on", "none"],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr
        outs.append(_untimed(proc.stdout))
    assert outs[0] == outs[1]
    assert len(outs[0].splitlines()) > 10


def test_an_edited_template_is_rendered_by_jinja2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored code is used only for the template it was made from: an edited template
    (as an installed copy edited in place would be) is left to jinja2."""
    edited = tmp_path / "reports"
    shutil.copytree(reports_dir(), edited)
    path = edited / terminal.TEMPLATE
    path.write_text(path.read_text(encoding="utf-8") + "EDITED-{{ width }}\n")
    monkeypatch.setattr("exposure_audit.core.resources.reports_dir", lambda: edited)
    monkeypatch.setattr("exposure_audit.reporting.templating.reports_dir", lambda: edited)
    report = REPORTS[0][1]
    variables = _variables(report, 100, True, False)
    ctx = RenderContext(quiet=True)
    assert (
        render_builtin(terminal.TEMPLATE, variables, terminal._filters(ctx), finalize_terminal)
        is None
    )
    assert terminal.render(report, ctx).endswith("EDITED-100\n")


def test_an_error_names_the_template_line_jinja2_names() -> None:
    report = REPORTS[0][1]
    variables = _variables(report, 100, False, False)
    variables["view"] = {**variables["view"], "blocks": [{}]}  # a block with nothing in it
    filters = terminal._filters(RenderContext())
    messages = []
    with pytest.raises(ConfigError) as ours:
        render_builtin(terminal.TEMPLATE, variables, filters, finalize_terminal)
    messages.append(str(ours.value))
    with pytest.raises(ConfigError) as theirs:
        env = environment("terminal", None, filters)
        render_template(env, terminal.TEMPLATE, None, variables)
    messages.append(str(theirs.value))
    assert messages[0] == messages[1], messages
    assert messages[0].startswith("template terminal.txt.j2, line "), messages
    assert "has no attribute" in messages[0]


# ------------------------------------------------------------------ the runtime's parts


def _jinja_env() -> jinja2.sandbox.SandboxedEnvironment:
    return environment("terminal", None, terminal._filters(RenderContext()))  # type: ignore[return-value]


def _outcome(fn: Any) -> tuple[str, str]:
    try:
        value = fn()
        if isinstance(value, (Undefined, jinja2.Undefined)):
            value = str(value)
        return ("value", repr(value))
    except Exception as exc:
        return (type(exc).__name__, str(exc))


def _line_of() -> None:
    """A function whose internals a lookup must not reach."""


LOOKUPS: list[tuple[Any, Any]] = [
    ({"a": 1}, "a"),
    ({"a": 1}, "b"),
    ({"items": 1}, "items"),  # the dict's method, not the key: jinja2 prefers attributes
    ({"from": [1]}, "from"),
    ({"_x": 1}, "_x"),
    ([10, 20], 1),
    ([10, 20], 5),
    ("text", "upper"),
    ("text", "__class__"),
    (None, "x"),
    (5, "real"),
    (int, "mro"),
    (int, "bit_length"),
    ((i for i in ()), "gi_frame"),
    ((i for i in ()), "gi_running"),
    (_line_of, "__code__"),
    (_line_of.__code__, "co_name"),
]


@pytest.mark.parametrize(("obj", "name"), LOOKUPS)
def test_lookups_are_the_sandbox_s(obj: Any, name: Any) -> None:
    ours, theirs = Environment({}, finalize_terminal), _jinja_env()
    if isinstance(name, str):
        got = _outcome(lambda: ours.getattr(obj, name))
        want = _outcome(lambda: theirs.getattr(obj, name))
        assert got[0] == want[0] and (got[0] != "value" or got == want), (got, want)
    got = _outcome(lambda: ours.getitem(obj, name))
    want = _outcome(lambda: theirs.getitem(obj, name))
    assert got[0] == want[0] and (got[0] != "value" or got == want), (got, want)
    if got[0] != "value" and want[0] != "value":
        assert got[1] == want[1]


def test_undefined_values_fail_as_strict_undefined_does() -> None:
    cases = [
        (dict(name="x"), str),
        (dict(name="x"), bool),
        (dict(name="x"), lambda u: list(u)),
        (dict(name="x"), lambda u: u + 1),
        (dict(name="x"), lambda u: u == 1),
        (dict(name="x"), lambda u: u.attr),
        (dict(obj={"a": 1}, name="b"), str),
        (dict(obj=[1], name=3), str),
        (dict(obj=None, name="b"), len),
    ]
    for kwargs, use in cases:
        ours = _outcome(lambda: use(Undefined(**kwargs)))  # noqa: B023
        theirs = _outcome(lambda: use(jinja2.StrictUndefined(**kwargs)))  # noqa: B023
        assert ours == theirs, (kwargs, ours, theirs)
    assert Undefined(name="x").__eq__ is not None  # comparisons fail, they are not False


def test_str_format_is_refused_and_format_widths_bounded() -> None:
    env = Environment({}, finalize_terminal)
    with pytest.raises(compiled.TemplateRuntimeError):
        env.getattr("{0}", "format")("x")
    assert env.filters["format"]("%s-%d", "a", 5) == "a-5"
    from exposure_audit.reporting.rendering import TemplateLimitError

    with pytest.raises(TemplateLimitError):
        env.filters["format"]("%99999999d", 1)
    with pytest.raises(TemplateLimitError):
        env.call(None, "ab".center, 10**9)  # type: ignore[arg-type]


def test_filters_and_tests_are_jinja2_s() -> None:
    theirs = _jinja_env()
    ours = Environment(terminal._filters(RenderContext()), finalize_terminal)
    rows = [{"collector": "firewall", "n": 1}, {"collector": "upnp"}, {"collector": "firewall"}]
    ctx = compiled.Context(ours, {})
    jctx = theirs.from_string("").new_context({})
    for args in (("collector", "equalto", "firewall"), ("n",), ("collector", "none"), ()):
        got = _outcome(lambda: list(ours.filters["selectattr"](ctx, rows, *args)))  # noqa: B023
        want = _outcome(lambda: list(theirs.filters["selectattr"](jctx, rows, *args)))  # noqa: B023
        # the same value, or an error with the same message (jinja2's class for a filter's
        # arguments is its FilterArgumentError, a TemplateRuntimeError as ours is)
        assert (got[0] == "value") == (want[0] == "value") and got[1] == want[1], (got, want)
    assert list(ours.filters["selectattr"](ctx, rows[:1], "n")) == rows[:1]
    assert list(ours.filters["selectattr"](ctx, [], "x")) == []
    for value in ("straße", 5, None):
        assert ours.filters["upper"](value) == theirs.filters["upper"](value)
    assert ours.filters["length"]([1, 2]) == theirs.filters["length"]([1, 2]) == 2
    assert ours.filters["list"](None, iter("ab")) == ["a", "b"]
    for name in ("false", "none"):
        for value in (False, None, 0, ""):
            assert ours.tests[name](value) == theirs.tests[name](value)


def test_the_generator_refuses_what_the_runtime_lacks() -> None:
    script = precompile_script.load()
    head = "from jinja2.runtime import LoopContext, missing\n"
    for body in (
        "x = environment.call_binop(context, '*', 2, 3)\n",
        "t = environment.filters['truncate']\n",
        "t = environment.tests['sameas']\n",
        "m = Markup('<b>')\n",
        "u = cond_expr_undefined('no else')\n",
        "c = context.call(f)\n",
    ):
        with pytest.raises(SystemExit, match="lacks"):
            script.for_builtin_runtime(head + body, set())
    ok = script.for_builtin_runtime(head + "t = environment.filters['wrap']\n", {"wrap"})
    assert ok.startswith("from exposure_audit.reporting.compiled import LoopContext, missing\n")


def test_loop_context_is_jinja2_s() -> None:
    from jinja2.runtime import LoopContext as JinjaLoop

    for items in ([], [1], [1, 2, 3], iter([4, 5])):
        seen = []
        seq = list(items) if not isinstance(items, list) else items
        for source in (seq, iter(seq)):
            for Loop in (compiled.LoopContext, JinjaLoop):
                out = []
                for item, loop in Loop(source if isinstance(source, list) else iter(seq), None):
                    out.append((item, loop.first, loop.last, loop.index, loop.length))
                seen.append(out)
        assert all(s == seen[0] for s in seen), seen


def test_json_and_terminal_agree_on_a_fixture(tmp_path: Path) -> None:
    """Sanity of the fixtures used above: the terminal text names what the JSON holds."""
    report = REPORTS[0][1]
    ours, _theirs = _both(report)
    assert ours is not None
    first = json.loads(json.dumps(report["exposures"][0]))
    assert str(first["port"]) in ours
