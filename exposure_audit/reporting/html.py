"""The HTML report: one self-contained page (inline CSS, inline SVG, no script, no fetch).

Drawn from reports/report.html.j2 with autoescaping on. The page's only style sheet is
reports/report.css, inlined and allowed by its sha256 in a Content-Security-Policy that
forbids everything else (no script, no external anything), so even a string that got
past escaping could neither run nor load.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from exposure_audit.core.errors import ConfigError
from exposure_audit.core.model import SCOPE_RANK
from exposure_audit.core.resources import reports_dir
from exposure_audit.core.wording import SCOPE_LABELS
from exposure_audit.reporting import RenderContext
from exposure_audit.reporting.templating import environment, render_template
from exposure_audit.reporting.terminal import endpoint
from exposure_audit.reporting.view import build_view

TEMPLATE = "report.html.j2"
CSS_FILE = "report.css"

SEVERITY_COLORS = {
    "critical": "#9f1239",
    "high": "#dc2626",
    "medium": "#d97706",
    "low": "#2563eb",
    "info": "#64748b",
    None: "#64748b",
}
MAX_DIAGRAM_LISTENERS = 24


def csp_for(css: str) -> str:
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode()
    return (
        "default-src 'none'; "
        f"style-src 'sha256-{digest}'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


def _load_css() -> str:
    path = reports_dir() / CSS_FILE
    try:
        css = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    if "</" in css:
        raise ConfigError(f"{path}: a style sheet may not contain '</'")
    return css


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def build_diagram(report: Mapping[str, Any]) -> dict[str, Any]:
    """Node and edge coordinates for the what-reaches-what picture (drawn by the template).

    Three columns: where connections come from (internet, router), the networks this host
    sits on, and the listeners each network reaches, coloured by severity.
    """
    exposed = [x for x in report["exposures"] if x["exposed"]]
    shown = exposed[:MAX_DIAGRAM_LISTENERS]
    hidden = len(exposed) - len(shown)
    facts = report["facts"]
    upnp = facts.get("upnp") or {"status": "disabled"}

    # Networks: every up, non-loopback (interface, network) the host sits on.
    nets: dict[tuple[str, str], dict[str, Any]] = {}
    for iface in facts["interfaces"]:
        if not iface["up"] or iface["kind"] == "loopback":
            continue
        for a in iface["addresses"]:
            if a["scope"] == "loopback":
                continue
            key = (iface["name"], a["network"])
            nets.setdefault(
                key,
                {
                    "iface": iface["name"],
                    "network": a["network"],
                    "scope": a["scope"],
                    "kind": iface["kind"],
                },
            )
    for x in shown:  # reach on something the interface list lacks (saved facts, races)
        for r in x["reach"]:
            if r["up"] and r["scope"] != "loopback":
                key = (r["interface"], r["network"] or r["address"])
                nets.setdefault(
                    key,
                    {
                        "iface": r["interface"],
                        "network": key[1],
                        "scope": r["scope"],
                        "kind": "other",
                    },
                )
    net_list = sorted(
        nets.values(), key=lambda n: (-SCOPE_RANK[n["scope"]], n["iface"], n["network"])
    )

    node_h, gap, top = 52, 14, 44
    col_x = (16, 236, 560)
    col_w = (180, 250, 270)
    row = node_h + gap

    upnp_ok = upnp.get("status") == "ok" or bool(report["dangling_mappings"])
    name = upnp.get("friendly_name") or "Router"
    router: dict[str, Any] = {
        "x": col_x[1],
        "y": top,
        "w": col_w[1],
        "h": node_h,
        "muted": not upnp_ok,
        "title": _short(f"Router: {name}" if upnp_ok else "Router", 32),
        "sub": _short(
            f"{upnp.get('external_ip') or '?'} · {len(upnp.get('mappings') or [])} UPnP mappings"
            if upnp_ok
            else f"UPnP: {upnp.get('status', 'disabled')}",
            36,
        ),
    }
    internet = {
        "x": col_x[0],
        "y": top,
        "w": col_w[0],
        "h": node_h,
        "title": "Internet",
        "sub": "anyone, anywhere",
    }

    # The router's own network (the default gateway's) first, right under the router.
    gw_ifaces = {g["interface"] for g in facts.get("gateways", []) if g.get("default")}
    net_list.sort(key=lambda n: (n["iface"] not in gw_ifaces or n["scope"] != "lan",))
    networks = []
    for i, n in enumerate(net_list):
        networks.append(
            {
                **n,
                "x": col_x[1],
                "y": top + (i + 1) * row + 10,
                "w": col_w[1],
                "h": node_h,
                "title": _short(f"{n['iface']} · {SCOPE_LABELS[n['scope']]}", 32),
                "sub": _short(n["network"], 36),
                "color": _scope_color(n["scope"]),
            }
        )
    net_by_key = {(n["iface"], n["network"]): n for n in networks}

    listeners = []
    for i, x in enumerate(shown):
        p = x["process"]
        uid = x["uid"] if x["uid"] is not None else "?"
        if p and p["name"]:
            pname = p["name"]
        elif x["published_by"]:
            pname = f"{x['published_by']}: {x['container'] or 'container'}"
        else:
            pname = f"unknown process (uid {uid})"
        where = f"{x['protocol']} {endpoint(x['address'], x['port'])}"
        listeners.append(
            {
                "id": x["id"],
                "x": col_x[2],
                "y": top + i * row,
                "w": col_w[2],
                "h": node_h,
                "title": _short(pname, 32),
                "sub": _short(where, 36),
                "color": SEVERITY_COLORS[x["severity"]],
                "severity": x["severity"] or "none",
                "tooltip": f"{pname} {where}: " + "; ".join(x["reachable_from"]),
            }
        )
    by_id = {n["id"]: n for n in listeners}
    extra_y = top + len(listeners) * row
    dangling = []
    for j, m in enumerate(report["dangling_mappings"][:6]):
        dangling.append(
            {
                "x": col_x[2],
                "y": extra_y + j * row,
                "w": col_w[2],
                "h": node_h,
                "title": f"nothing listening (:{m['external_port']})",
                "sub": _short(f"{m['internal_client']}:{m['internal_port']}/{m['protocol']}", 36),
            }
        )
    extra_y += len(dangling) * row

    edges: list[dict[str, Any]] = []

    def add(d: str, color: str, **kw: Any) -> None:
        edge = {"d": d, "color": color, "dashed": False, "width": 2, "filtered": False}
        edge.update(kw)
        edges.append(edge)

    def link(a: Mapping[str, Any], b: Mapping[str, Any], color: str, **kw: Any) -> None:
        x1, y1 = a["x"] + a["w"], a["y"] + a["h"] / 2
        x2, y2 = b["x"], b["y"] + b["h"] / 2
        dx = (x2 - x1) / 2
        add(
            f"M{x1:.0f},{y1:.0f} C{x1 + dx:.0f},{y1:.0f} {x2 - dx:.0f},{y2:.0f} {x2:.0f},{y2:.0f}",
            color,
            **kw,
        )

    if upnp_ok:
        link(internet, router, "#334155", width=3)
    for n in networks:
        if n["scope"] == "public":
            link(internet, n, "#9f1239", width=2)
    gw_net = next((n for n in networks if n["iface"] in gw_ifaces and n["scope"] == "lan"), None)
    if gw_net is not None and upnp_ok:
        cx = router["x"] + 30
        add(f"M{cx},{router['y'] + node_h} L{cx},{gw_net['y']}", "#94a3b8", width=3)
    for x in shown:
        node = by_id[x["id"]]
        seen = set()
        for r in x["reach"]:
            key = (r["interface"], r["network"] or r["address"])
            if not r["up"] or r["scope"] == "loopback" or key in seen or key not in net_by_key:
                continue
            seen.add(key)
            link(net_by_key[key], node, node["color"], filtered=r.get("firewall") == "filtered")
        if x["upnp_mappings"]:
            link(router, node, SEVERITY_COLORS["critical"], dashed=True, width=3)
    for d in dangling:
        link(router, d, "#94a3b8", dashed=True, width=2)

    height = max(top + (len(networks) + 1) * row + 10, extra_y) + 12
    return {
        "width": col_x[2] + col_w[2] + 16,
        "height": height,
        "columns": [
            {"x": col_x[0], "label": "From"},
            {"x": col_x[1], "label": "Router and networks"},
            {"x": col_x[2], "label": "Services they reach"},
        ],
        "internet": internet,
        "router": router,
        "networks": networks,
        "listeners": listeners,
        "dangling": dangling,
        "edges": edges,
        "hidden": hidden,
    }


def _scope_color(scope: str) -> str:
    return {
        "public": "#9f1239",
        "vpn": "#7c3aed",
        "lan": "#0369a1",
        "link_local": "#0f766e",
    }.get(scope, "#64748b")


def render(report: Mapping[str, Any], ctx: RenderContext) -> str:
    css = _load_css()
    env = environment(
        "html", ctx.template, {"ep": lambda o: endpoint(str(o["address"]), o["port"])}
    )
    context = {
        "report": report,
        "summary": report["summary"],
        "view": build_view(report),
        "diagram": build_diagram(report),
        "severity_colors": {k: v for k, v in SEVERITY_COLORS.items() if k},
        "scope_labels": SCOPE_LABELS,
        # Our own style sheet, not data: inlined verbatim so its hash matches the CSP.
        "css": Markup(css),  # noqa: S704
        "csp": csp_for(css),
    }
    return render_template(env, TEMPLATE, ctx.template, context)
