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
from exposure_audit.core.wording import IDENTITY_SOURCES, SCOPE_LABELS
from exposure_audit.reporting import RenderContext
from exposure_audit.reporting.grouping import endpoint, group_exposures
from exposure_audit.reporting.templating import environment, render_template
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
MAX_DIAGRAM_LISTENERS = 24  # nodes (groups of listeners) in the picture
MAX_SOCKET_ROWS = 500  # rows (groups of sockets) in the listening-socket table


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


# Diagram geometry: three columns of equal-height nodes on a fixed row pitch.
_NODE_H, _GAP, _TOP = 52, 14, 44
_COL_X = (16, 236, 560)
_COL_W = (180, 250, 270)
_ROW = _NODE_H + _GAP
MAX_DIAGRAM_DANGLING = 6


def build_diagram(
    report: Mapping[str, Any], view: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Node and edge coordinates for the what-reaches-what picture (drawn by the template).

    Three columns: where connections come from (internet, router), the networks this host
    sits on, and the listeners each network reaches, coloured by severity: one node per
    group of listeners (reporting/grouping.py), at most MAX_DIAGRAM_LISTENERS of them.
    ``view``: build_view(report), when the caller has it already.
    """
    groups, hidden = _drawn_groups(view if view is not None else build_view(report))
    shown = [g["exposure"] for g in groups]
    facts = report["facts"]
    upnp = facts.get("upnp") or {"status": "disabled"}
    upnp_ok = upnp.get("status") == "ok" or bool(report["dangling_mappings"])
    gw_ifaces = _default_gateway_ifaces(facts)

    internet = _internet_node()
    router = _router_node(upnp, upnp_ok)
    networks = _network_column(_collect_networks(facts, shown), gw_ifaces)
    listeners = _listener_column(groups)
    dangling = _dangling_column(report["dangling_mappings"], _TOP + len(listeners) * _ROW)
    extra_y = _TOP + (len(listeners) + len(dangling)) * _ROW

    edges = _source_edges(internet, router, networks, gw_ifaces, upnp_ok)
    edges += _listener_edges(shown, listeners, networks, router)
    edges += [_link(router, d, "#94a3b8", dashed=True, width=2) for d in dangling]

    height = max(_TOP + (len(networks) + 1) * _ROW + 10, extra_y) + 12
    return {
        "width": _COL_X[2] + _COL_W[2] + 16,
        "height": height,
        "columns": _column_headings(),
        "internet": internet,
        "router": router,
        "networks": networks,
        "listeners": listeners,
        "dangling": dangling,
        "edges": edges,
        # exposed listeners (and their groups) left out of the picture
        "hidden": sum(g["count"] for g in hidden),
        "hidden_groups": len(hidden),
        # listeners drawn in a node with others, beyond the first of each
        "folded": sum(g["count"] - 1 for g in groups),
        "folded_groups": sum(1 for g in groups if g["count"] > 1),
        # a drawn node stands for several alike processes (grouping.ProcessKeys)
        "folded_processes": any(g["processes"] > 1 for g in groups),
    }


def _drawn_groups(
    view: Mapping[str, Any],
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The groups of exposed listeners drawn (at most MAX_DIAGRAM_LISTENERS, worst first)
    and those left out."""
    exposed = [g for g in view["groups"] if g["exposure"]["exposed"]]
    return exposed[:MAX_DIAGRAM_LISTENERS], exposed[MAX_DIAGRAM_LISTENERS:]


def _default_gateway_ifaces(facts: Mapping[str, Any]) -> set[str]:
    return {g["interface"] for g in facts.get("gateways", []) if g.get("default")}


def _reach_drawn(r: Mapping[str, Any]) -> bool:
    return bool(r["up"]) and r["scope"] != "loopback"


def _reach_key(r: Mapping[str, Any]) -> tuple[str, str]:
    return (r["interface"], r["network"] or r["address"])


def _collect_networks(
    facts: Mapping[str, Any], shown: list[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Every up, non-loopback (interface, network) the host sits on, most exposed first."""
    nets: dict[tuple[str, str], dict[str, Any]] = {}
    for iface in facts["interfaces"]:
        if not iface["up"] or iface["kind"] == "loopback":
            continue
        for a in iface["addresses"]:
            if a["scope"] == "loopback":
                continue
            nets.setdefault(
                (iface["name"], a["network"]),
                {
                    "iface": iface["name"],
                    "network": a["network"],
                    "scope": a["scope"],
                    "kind": iface["kind"],
                },
            )
    for x in shown:  # reach on something the interface list lacks (saved facts, races)
        for r in x["reach"]:
            if _reach_drawn(r):
                key = _reach_key(r)
                nets.setdefault(
                    key,
                    {
                        "iface": r["interface"],
                        "network": key[1],
                        "scope": r["scope"],
                        "kind": "other",
                    },
                )
    return sorted(nets.values(), key=lambda n: (-SCOPE_RANK[n["scope"]], n["iface"], n["network"]))


def _internet_node() -> dict[str, Any]:
    return {
        "x": _COL_X[0],
        "y": _TOP,
        "w": _COL_W[0],
        "h": _NODE_H,
        "title": "Internet",
        "sub": "anyone, anywhere",
    }


def _router_node(upnp: Mapping[str, Any], upnp_ok: bool) -> dict[str, Any]:
    name = upnp.get("friendly_name") or "Router"
    if upnp_ok:
        mappings = len(upnp.get("mappings") or [])
        sub = f"{upnp.get('external_ip') or '?'} · {mappings} UPnP mappings"
    else:
        sub = f"UPnP: {upnp.get('status', 'disabled')}"
    return {
        "x": _COL_X[1],
        "y": _TOP,
        "w": _COL_W[1],
        "h": _NODE_H,
        "muted": not upnp_ok,
        "title": _short(f"Router: {name}" if upnp_ok else "Router", 32),
        "sub": _short(sub, 36),
    }


def _is_gateway_net(n: Mapping[str, Any], gw_ifaces: set[str]) -> bool:
    return n["iface"] in gw_ifaces and n["scope"] == "lan"


def _network_column(net_list: list[dict[str, Any]], gw_ifaces: set[str]) -> list[dict[str, Any]]:
    """Lay out the networks under the router, the router's own (default gateway's) first."""
    ordered = sorted(net_list, key=lambda n: (not _is_gateway_net(n, gw_ifaces),))
    return [
        {
            **n,
            "x": _COL_X[1],
            "y": _TOP + (i + 1) * _ROW + 10,
            "w": _COL_W[1],
            "h": _NODE_H,
            "title": _short(f"{n['iface']} · {SCOPE_LABELS[n['scope']]}", 32),
            "sub": _short(n["network"], 36),
            "color": _scope_color(n["scope"]),
        }
        for i, n in enumerate(ordered)
    ]


def _listener_name(x: Mapping[str, Any]) -> str:
    p = x["process"]
    if p and p["name"]:
        name: str = p["name"]
        return name
    if x["published_by"]:
        return f"{x['published_by']}: {x['container'] or 'container'}"
    uid = x["uid"] if x["uid"] is not None else "?"
    return f"unknown process (uid {uid})"


def _listener_column(groups: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    listeners = []
    for i, g in enumerate(groups):
        x = g["exposure"]
        pname = _listener_name(x)
        if g["processes"] > 1:
            pname = f"{pname} ({g['processes']:,} processes)"
        where = f"{x['protocol']} {endpoint(x['address'], x['port'])}"
        sub = where
        if g["count"] > 1:
            where = f"{x['protocol']} {g['where_listed']} ({g['span']})"
            # the ports and how many, else the count rather than a cut list of ranges
            sub = f"{x['protocol']} {g['where']} ({g['count']:,})"
            if len(sub) > 36:
                sub = f"{x['protocol']} {endpoint(x['address'], '')[:-1]} · {g['span']}"
        listeners.append(
            {
                "id": x["id"],
                "x": _COL_X[2],
                "y": _TOP + i * _ROW,
                "w": _COL_W[2],
                "h": _NODE_H,
                "title": _short(pname, 32),
                "sub": _short(sub, 36),
                "color": SEVERITY_COLORS[x["severity"]],
                "severity": x["severity"] or "none",
                "tooltip": f"{pname} {where}: " + "; ".join(x["reachable_from"]),
            }
        )
    return listeners


def _dangling_column(mappings: list[Mapping[str, Any]], start_y: int) -> list[dict[str, Any]]:
    """Router mappings with nothing listening, stacked below the listeners."""
    return [
        {
            "x": _COL_X[2],
            "y": start_y + j * _ROW,
            "w": _COL_W[2],
            "h": _NODE_H,
            "title": f"nothing listening (:{m['external_port']})",
            "sub": _short(f"{m['internal_client']}:{m['internal_port']}/{m['protocol']}", 36),
        }
        for j, m in enumerate(mappings[:MAX_DIAGRAM_DANGLING])
    ]


def _edge(d: str, color: str, **kw: Any) -> dict[str, Any]:
    edge = {"d": d, "color": color, "dashed": False, "width": 2, "filtered": False}
    edge.update(kw)
    return edge


def _link(a: Mapping[str, Any], b: Mapping[str, Any], color: str, **kw: Any) -> dict[str, Any]:
    """A curve from the right edge of node a to the left edge of node b."""
    x1, y1 = a["x"] + a["w"], a["y"] + a["h"] / 2
    x2, y2 = b["x"], b["y"] + b["h"] / 2
    dx = (x2 - x1) / 2
    return _edge(
        f"M{x1:.0f},{y1:.0f} C{x1 + dx:.0f},{y1:.0f} {x2 - dx:.0f},{y2:.0f} {x2:.0f},{y2:.0f}",
        color,
        **kw,
    )


def _source_edges(
    internet: Mapping[str, Any],
    router: Mapping[str, Any],
    networks: list[dict[str, Any]],
    gw_ifaces: set[str],
    upnp_ok: bool,
) -> list[dict[str, Any]]:
    """Internet to router and to public networks; router down to its own network."""
    edges = []
    if upnp_ok:
        edges.append(_link(internet, router, "#334155", width=3))
    edges += [_link(internet, n, "#9f1239", width=2) for n in networks if n["scope"] == "public"]
    gw_net = next((n for n in networks if _is_gateway_net(n, gw_ifaces)), None)
    if gw_net is not None and upnp_ok:
        cx = router["x"] + 30
        edges.append(
            _edge(f"M{cx},{router['y'] + _NODE_H} L{cx},{gw_net['y']}", "#94a3b8", width=3)
        )
    return edges


def _listener_edges(
    shown: list[Mapping[str, Any]],
    listeners: list[dict[str, Any]],
    networks: list[dict[str, Any]],
    router: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Each network a listener is reachable on, and the router where UPnP forwards to it."""
    by_id = {n["id"]: n for n in listeners}
    net_by_key = {(n["iface"], n["network"]): n for n in networks}
    edges = []
    for x in shown:
        node = by_id[x["id"]]
        seen = set()
        for r in x["reach"]:
            key = _reach_key(r)
            if not _reach_drawn(r) or key in seen or key not in net_by_key:
                continue
            seen.add(key)
            filtered = r.get("firewall") == "filtered"
            edges.append(_link(net_by_key[key], node, node["color"], filtered=filtered))
        if x["upnp_mappings"]:
            edges.append(_link(router, node, SEVERITY_COLORS["critical"], dashed=True, width=3))
    return edges


def _column_headings() -> list[dict[str, Any]]:
    return [
        {"x": _COL_X[0], "label": "From"},
        {"x": _COL_X[1], "label": "Router and networks"},
        {"x": _COL_X[2], "label": "Services they reach"},
    ]


def _scope_color(scope: str) -> str:
    return {
        "public": "#9f1239",
        "vpn": "#7c3aed",
        "lan": "#0369a1",
        "link_local": "#0f766e",
    }.get(scope, "#64748b")


def filters() -> dict[str, Any]:
    return {"ep": lambda o: endpoint(str(o["address"]), o["port"]), "num": lambda n: f"{n:,}"}


def render(report: Mapping[str, Any], ctx: RenderContext) -> str:
    css = _load_css()
    env = environment("html", ctx.template, filters())
    view = ctx.view if ctx.view is not None else build_view(report)
    rows = group_exposures(report["exposures"])
    context = {
        "report": report,
        "summary": report["summary"],
        "view": view,
        "diagram": build_diagram(report, view),
        # the listening-socket table: a row per group of sockets, at most MAX_SOCKET_ROWS
        "sockets": {
            "rows": rows[:MAX_SOCKET_ROWS],
            "hidden_rows": max(0, len(rows) - MAX_SOCKET_ROWS),
            "hidden": sum(r["count"] for r in rows[MAX_SOCKET_ROWS:]),
        },
        "severity_colors": {k: v for k, v in SEVERITY_COLORS.items() if k},
        "scope_labels": SCOPE_LABELS,
        "identity_sources": IDENTITY_SOURCES,
        # Our own style sheet, not data: inlined verbatim so its hash matches the CSP.
        "css": Markup(css),  # noqa: S704
        "csp": csp_for(css),
    }
    return render_template(env, TEMPLATE, ctx.template, context)
