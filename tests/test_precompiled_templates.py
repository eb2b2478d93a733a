"""The built-in templates' precompiled code (reporting/precompiled/) is current, is
what a run uses, and is never used once it no longer matches the template."""

from __future__ import annotations

import shutil
from pathlib import Path

import jinja2
import precompile_script
import pytest
import report_fixture

from exposure_audit.core.resources import reports_dir
from exposure_audit.reporting import RenderContext, compiled, html, terminal
from exposure_audit.reporting.document import build_report
from exposure_audit.reporting.precompiled import TEMPLATES
from exposure_audit.reporting.rendering import source_digest
from exposure_audit.reporting.templating import (
    builtin_template,
    env_fingerprint,
    environment,
)
from exposure_audit.reporting.view import build_view

ROOT = Path(__file__).resolve().parent.parent
PRECOMPILED = ROOT / "exposure_audit" / "reporting" / "precompiled"
STAMP = "2026-11-27T14:00:05Z"


def _terminal_env(user_template: Path | None = None) -> jinja2.Environment:
    return environment("terminal", user_template, terminal._filters(RenderContext()))


def test_entries_match_the_templates() -> None:
    """Edited a template? Run scripts/precompile_templates.py (else every run compiles it)."""
    envs = {
        terminal.TEMPLATE: _terminal_env(),
        html.TEMPLATE: environment("html", None, html.filters()),
    }
    assert set(TEMPLATES) == set(envs)
    for name, (_version, digest, fingerprint, _code) in TEMPLATES.items():
        source = (reports_dir() / name).read_text(encoding="utf-8")
        assert digest == source_digest(source), f"{name} changed: regenerate precompiled/"
        assert fingerprint == env_fingerprint(envs[name]), f"{name}: environment changed"


def test_code_is_what_this_jinja2_generates() -> None:
    script = precompile_script.load()
    wanted = script.files(script.entries())
    assert sorted(p.name for p in PRECOMPILED.glob("*.py")) == sorted(wanted)
    for name, (version, _digest, _fingerprint, module) in TEMPLATES.items():
        if version == jinja2.__version__:
            stored = (PRECOMPILED / f"{module}.py").read_text(encoding="utf-8")
            assert stored == wanted[f"{module}.py"], f"{name}: regenerate precompiled/"
        else:  # another jinja2: the entry is ignored, the template compiled as usual
            env = (
                _terminal_env()
                if name == terminal.TEMPLATE
                else environment("html", None, html.filters())
            )
            builtin_template(env, name)
            assert env.cache is not None and len(env.cache) == 1


def test_a_run_uses_the_precompiled_code(tmp_path: Path) -> None:
    """The HTML report: jinja2 runs the stored code (nothing is compiled: env.cache stays
    empty) and it renders what the template compiled afresh does. The terminal
    template's code is run by reporting/compiled.py instead (test_compiled_runtime.py)."""
    env = environment("html", None, html.filters())
    version, *_ = TEMPLATES[html.TEMPLATE]
    builtin_template(env, html.TEMPLATE)
    assert env.cache is not None
    assert len(env.cache) == (0 if version == jinja2.__version__ else 1)
    assert TEMPLATES[terminal.TEMPLATE][0] == compiled.RUNTIME
    report = build_report(report_fixture.build(), generated_at=STAMP)
    copy = tmp_path / "copy.html.j2"
    shutil.copy(reports_dir() / html.TEMPLATE, copy)
    stored = html.render(report, RenderContext())
    assert stored == html.render(report, RenderContext(template=copy))
    assert stored.count("<article") > 3 or stored.count("<tr") > 3


def test_an_edited_template_is_compiled_not_replaced(tmp_path: Path) -> None:
    """A template that no longer matches its entry (here: a copy with one more line, found
    first on the search path) is compiled from what is read, never the stored code."""
    edited = tmp_path / terminal.TEMPLATE
    shutil.copy(reports_dir() / terminal.TEMPLATE, edited)
    edited.write_text(edited.read_text(encoding="utf-8") + "EDITED-{{ width }}\n")
    env = _terminal_env(user_template=edited)
    template = builtin_template(env, terminal.TEMPLATE)
    report = build_report(report_fixture.build(), generated_at=STAMP)
    out = template.render(
        report=report,
        summary=report["summary"],
        view=build_view(report),
        width=100,
        quiet=True,
        color=False,
    )
    assert out.endswith("EDITED-100\n")


def test_an_error_names_the_same_template_line_as_compiled_code(tmp_path: Path) -> None:
    """The stored code keeps jinja2's line numbers (debug_info maps them to template
    lines): an error in the precompiled template names the line that compiling the
    template afresh (here: an identical copy as the user's template) names."""
    from exposure_audit.core.errors import ConfigError
    from exposure_audit.reporting.templating import render_template

    copy = tmp_path / "copy.txt.j2"
    shutil.copy(reports_dir() / terminal.TEMPLATE, copy)
    report = build_report(report_fixture.build(), generated_at=STAMP)
    # a block with nothing in it: the template fails inside its loop
    context = {"report": report, "summary": report["summary"], "width": 100}
    context |= {"quiet": False, "color": False, "view": {**build_view(report), "blocks": [{}]}}
    messages = []
    for user_template in (None, copy):
        with pytest.raises(ConfigError) as caught:
            render_template(_terminal_env(user_template), terminal.TEMPLATE, user_template, context)
        messages.append(str(caught.value).split(": ", 1)[0])
    assert messages[0].startswith("template terminal.txt.j2, line "), messages
    assert messages[0].split(", ")[1] == messages[1].split(", ")[1], messages


def test_a_user_template_may_break_out_of_a_loop(tmp_path: Path) -> None:
    """The built-in templates are compiled without jinja2's loop controls; the user's
    templates keep them."""
    from exposure_audit.reporting.templating import render_template

    mine = tmp_path / "mine.txt.j2"
    mine.write_text(
        "{% for i in [1, 2, 3] %}{% if i == 2 %}{% break %}{% endif %}{{ i }}{% endfor %}\n"
    )
    out = render_template(_terminal_env(mine), terminal.TEMPLATE, mine, {})
    assert out == "1\n"
