"""The fleet document drawn for a terminal, as HTML, or as OCSF events.

Every value in the fleet document came from some host's report: the terminal text
passes each through :func:`clean_text` (control characters shown as ``\\x1b``), the
HTML page is drawn from reports/fleet.html.j2 with autoescaping, no script and the
same Content-Security-Policy as the host report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup

from exposure_audit.core.model import SEVERITIES
from exposure_audit.core.wording import SCOPE_LABELS, SCOPE_PHRASES
from exposure_audit.reporting import RenderContext
from exposure_audit.reporting.rendering import clean_text
from exposure_audit.reporting.templating import environment, render_template
from exposure_audit.reporting.terminal import STYLES

TEMPLATE = "fleet.html.j2"


def _names(hosts: Sequence[str], limit: int) -> str:
    shown = ", ".join(clean_text(h) for h in hosts[:limit])
    more = len(hosts) - limit
    return shown + (f", … (+{more})" if more > 0 else "")


def _short(text: object, width: int) -> str:
    s = clean_text(text)
    return s if len(s) <= width else s[: width - 1] + "…"


def render_terminal(doc: Mapping[str, Any], ctx: RenderContext) -> str:
    def c(text: str, style: str | None) -> str:
        code = STYLES.get(style or "")
        return f"\x1b[{code}m{text}\x1b[0m" if ctx.color and code and text else text

    width = max(60, ctx.width)
    s = doc["summary"]
    out: list[str] = []
    status = s["highest_severity"] or "ok"
    out.append(c(f"exposure-audit fleet: {clean_text(s['verdict'])}", "bold"))
    if ctx.quiet:
        return out[0] + "\n"
    counts = "  ".join(
        c(f"{s['by_severity'][sev]} {sev}", sev if s["by_severity"][sev] else "dim")
        for sev in reversed(SEVERITIES)
    )
    out.append(f"unwaived findings: {counts}   (worst: {c(status, status)})")

    if doc["problems"]:
        out += ["", c("Reports to look at", "bold")]
        for p in doc["problems"][:50]:
            label = {"failed": "FAILED", "stale": "STALE", "superseded": "older"}[p["kind"]]
            style = {"failed": "red", "stale": "yellow"}.get(p["kind"], "dim")
            who = f"{clean_text(p['hostname'])}: " if p["hostname"] else ""
            out.append(
                _short(f"  {label:<7} {who}{clean_text(p['path'])}: {clean_text(p['message'])}",
                       width + 12).replace(label, c(label, style), 1)
            )  # fmt: skip
        if len(doc["problems"]) > 50:
            out.append(f"  … and {len(doc['problems']) - 50} more (see --format json)")

    if doc["by_port"]:
        out += ["", c("Reachable services, by port (internet first)", "bold")]
        for r in doc["by_port"][:40]:
            n = r["host_count"]
            sev = r["severity"]
            head = (
                f"  {r['protocol']}/{r['port']} reachable {SCOPE_PHRASES[r['scope']]} "
                f"on {n} host{'s' if n != 1 else ''}"
            )
            tag = f"  [{c(sev, sev)}]" if sev else ""
            out.append(head + tag)
            names = [
                f"{e['hostname']}" + (f" ({e['process']})" if e["process"] else "")
                for e in r["hosts"]
            ]
            out.append("      " + _short(_names(names, 8), width - 6))
        if len(doc["by_port"]) > 40:
            out.append(f"  … and {len(doc['by_port']) - 40} more ports (see --format json)")

    if doc["by_rule"]:
        out += ["", c("Findings, by rule (worst first)", "bold")]
        for r in doc["by_rule"][:40]:
            n = r["host_count"]
            sev = r["severity"]
            where = " (internet)" if r["internet"] else ""
            out.append(
                f"  {c(f'{sev:<8}', sev)} {clean_text(r['rule_id'])} "
                + _short(f"{r['title']}{where}", width - 40)
                + f": {n} host{'s' if n != 1 else ''}"
            )
            out.append("      " + _short(_names(r["hosts"], 8), width - 6))

    if doc["hosts"]:
        out += ["", c("Hosts, worst first", "bold")]
        for h in doc["hosts"][:200]:
            sev = h["highest_severity"]
            flag = {"stale": " [stale]", "failed": " [FAILED]"}.get(h["status"], "")
            inet = (
                f", {h['internet_exposures']} from the internet" if h["internet_exposures"] else ""
            )
            label = f"{sev or 'ok':<8}"
            waived = f" ({h['waived']} waived)" if h["waived"] else ""
            out.append(
                f"  {c(label, sev or 'ok')} {_short(h['hostname'], 28):<28} "
                f"{h['findings']} finding{'s' if h['findings'] != 1 else ''}{waived}, "
                f"{h['listeners_exposed']} reachable{inet}{c(flag, 'yellow') if flag else ''}"
            )
        if len(doc["hosts"]) > 200:
            out.append(f"  … and {len(doc['hosts']) - 200} more hosts (see --format json)")
    if not doc["hosts"] and not doc["problems"]:
        out.append("no reports found")
    fail_on = doc["options"]["fail_on"]
    if fail_on != "none":
        n = s["hosts_at_or_above_fail_on"]
        out += ["", f"--fail-on {fail_on}: {n} host{'s' if n != 1 else ''} at or above it"]
    return "\n".join(out) + "\n"


def render_html(doc: Mapping[str, Any], ctx: RenderContext) -> str:
    from exposure_audit.reporting.html import _load_css, csp_for

    css = _load_css()
    env = environment("html", ctx.template, {})
    context = {
        "fleet": doc,
        "summary": doc["summary"],
        "severities_desc": list(reversed(SEVERITIES)),
        "scope_words": SCOPE_PHRASES,
        "scope_labels": SCOPE_LABELS,
        "css": Markup(css),  # noqa: S704  # our own style sheet, hashed into the CSP
        "csp": csp_for(css),
    }
    return render_template(env, TEMPLATE, ctx.template, context)


def render_ocsf(raws: Sequence[Mapping[str, Any]]) -> str:
    """Every finding of every host report read, as OCSF Detection Findings (JSON Lines)."""
    from exposure_audit.reporting.ocsf import events, json_lines

    return json_lines(ev for raw in raws for ev in events(raw))
