"""Real npm dev servers (Vite, webpack-dev-server), started the risky way inside a
namespace (``--host 0.0.0.0``), and a Node debugger on a port of its own: the tool must
name them right (identity, rule, severity), and the fix it prints, applied as printed,
must work (the peer namespace cannot connect, the tool is quiet).

The packages are installed with ``npm install`` into a directory cached under .cache/,
keyed by the package list. webpack rewrites its process title (one NUL-padded string):
the identity must still be right.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from netns import REPO, Netns, cli_argv, link, namespaces, requires_netns, unique, wait_for
from servers import connects, listening

PACKAGES = ("vite@8", "webpack@5", "webpack-cli@7", "webpack-dev-server@5")
HOST, PEER = "10.79.0.1", "10.79.0.2"


def _modules() -> Path:
    """node_modules with PACKAGES, installed once per package list."""
    key = hashlib.sha256(" ".join(PACKAGES).encode()).hexdigest()[:12]
    root = REPO / ".cache" / f"npm-realsw-{key}"
    if not (root / "ok").exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        (root / "package.json").write_text('{"private": true}\n')
        t0 = time.monotonic()
        res = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", *PACKAGES],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if res.returncode != 0:
            pytest.skip(f"npm install of the test servers failed: {res.stderr[-300:]}")
        (root / "ok").write_text(f"installed in {time.monotonic() - t0:.1f} s\n")
    return root / "node_modules"


def _findings(host: Netns) -> dict[int, list[dict]]:  # type: ignore[type-arg]
    res = host.run([*cli_argv(), "run", "--no-upnp", "-f", "json"], timeout=60)
    assert res.returncode in (0, 1, 3), res.stderr
    out: dict[int, list[dict]] = {}  # type: ignore[type-arg]
    for f in json.loads(res.stdout)["findings"]:
        if f["listener"] and f["severity"] not in ("info", "low"):
            out.setdefault(f["listener"]["port"], []).append(f)
    return out


def _apply(argv: list[str], env: dict[str, str], remediation: str) -> tuple[list[str], dict]:  # type: ignore[type-arg]
    """argv and environment changed as the printed fix says: "drop --host" removes the
    flag and its value; "--host 127.0.0.1" sets the host; "NODE_OPTIONS=--inspect=..."
    sets that variable."""
    m = re.search(r"NODE_OPTIONS=(--inspect=127\.0\.0\.1:\d+)", remediation)
    if m:
        return argv, {**env, "NODE_OPTIONS": m.group(1)}
    if re.search(r"\bdrop --host\b", remediation):
        out, skip = [], False
        for word in argv:
            if skip:
                skip = False
            elif word == "--host":
                skip = True
            elif not word.startswith("--host="):
                out.append(word)
        return out, env
    m = re.search(r"--host (127\.0\.0\.1|localhost)\b", remediation)
    if m:
        if "--host" not in argv:
            return [*argv, "--host", m.group(1)], env
        pairs = zip(["", *argv], argv, strict=False)
        return [m.group(1) if prev == "--host" else w for prev, w in pairs], env
    raise AssertionError(f"the printed fix says nothing the test can apply: {remediation}")


WEBPACK_CONFIG = """
module.exports = {
  mode: "development",
  entry: "./src/index.js",
  devServer: { static: false, hot: false, liveReload: false, client: false },
};
"""


@requires_netns
@pytest.mark.allow_skip_in_ci(reason="needs the npm registry reachable to fill the cache")
def test_npm_dev_servers_identity_and_fixes(tmp_path: Path, show_table) -> None:  # type: ignore[no-untyped-def]
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("needs node and npm (apt-get install nodejs npm)")
    t_install = time.monotonic()
    modules = _modules()
    t_install = time.monotonic() - t_install
    (tmp_path / "node_modules").symlink_to(modules)
    (tmp_path / "index.html").write_text("<!doctype html><title>t</title>\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "index.js").write_text("console.log('hi');\n")
    (tmp_path / "webpack.config.js").write_text(WEBPACK_CONFIG)
    # Vite's dependency cache in this run's directory, not in the shared node_modules.
    (tmp_path / "vite.config.mjs").write_text('export default { cacheDir: ".vite" };\n')
    vite = str(modules / "vite" / "bin" / "vite.js")
    webpack = str(modules / "webpack-cli" / "bin" / "cli.js")
    wds = str(modules / "webpack-dev-server" / "bin" / "webpack-dev-server.js")
    # name, environment, argv, port, rule, severity, framework, identity source
    cases: list[tuple[str, dict[str, str], list[str], int, str, str, str, str]] = [
        ("vite --host 0.0.0.0", {}, [node, vite, "--host", "0.0.0.0", "--port", "5173",
         "--strictPort"], 5173, "EA-DEV-001", "high", "vite", "process"),
        # webpack's process title is just "webpack" (NUL-padded): the argv is gone.
        ("webpack serve --host 0.0.0.0", {}, [node, webpack, "serve", "--host", "0.0.0.0",
         "--port", "8083"], 8083, "EA-DEV-001", "high", "webpack-dev-server", "process"),
        # webpack-dev-server 5 binds every interface when no host is given.
        ("webpack-dev-server (no --host)", {}, [node, wds, "--port", "8084"], 8084,
         "EA-DEV-001", "high", "webpack-dev-server", "process"),
        # A debugger on a port of its own (not 9229) in a process that renames itself: the
        # environment still says it. (As --inspect=... in argv the rename hides it: only a
        # probe of the port can tell then.)
        ("NODE_OPTIONS=--inspect=0.0.0.0:9333 webpack serve",
         {"NODE_OPTIONS": "--inspect=0.0.0.0:9333"}, [node, webpack, "serve", "--host",
         "127.0.0.1", "--port", "8085"], 9333, "EA-DBG-001", "critical", "node-inspect-env",
         "environment"),
    ]  # fmt: skip
    env = ["env", f"HOME={tmp_path}", "CI=1", "NO_COLOR=1"]
    rows: list[list[str]] = []
    problems: list[object] = []
    with namespaces(unique("eaN-host"), unique("eaN-peer")) as (host, peer):
        link(host, "eaNh0", peer, "eaNp0")
        host.ip("addr", "add", f"{HOST}/24", "dev", "eaNh0")
        peer.ip("addr", "add", f"{PEER}/24", "dev", "eaNp0")

        logs = tmp_path / "logs"
        logs.mkdir()

        def start(argv: list[str], extra: dict[str, str]) -> None:
            words = [*env, *(f"{k}={v}" for k, v in extra.items()), *argv]
            with open(logs / f"{len(list(logs.iterdir()))}.log", "w") as log:
                host.popen(words, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)

        def log_tail() -> str:
            return "\n".join(f"{p.name}: {p.read_text()[-400:]}" for p in sorted(logs.iterdir()))

        t0 = time.monotonic()
        for _name, extra, argv, *_ in cases:
            start(argv, extra)
        for name, _extra, _argv, port, *_ in cases:
            up = wait_for(lambda port=port: listening(host, port), 60)
            assert up, f"{name} not up: {log_tail()}"
        started = time.monotonic() - t0
        found = _findings(host)
        for name, _extra, _argv, port, *_ in cases:
            assert connects(peer, HOST, port), f"{name}: the peer cannot connect, nothing to test"
        fixed: dict[str, tuple[list[str], dict[str, str]]] = {}
        for name, extra, argv, port, rule, severity, framework, source in cases:
            got = found.get(port, [None])[0]
            idy = got["identity"] if got else None
            ok = (
                got is not None
                and got["rule_id"] == rule
                and got["severity"] == severity
                and idy is not None
                and idy["framework"] == framework
                and idy["source"] == source
            )
            rule_sev = [got["rule_id"], got["severity"]] if got else ["-", "-"]
            rows.append(
                [name, idy["name"] if idy else "-", idy["source"] if idy else "-", *rule_sev]
            )
            if not ok:
                problems.append((name, got))
                continue
            fixed[name] = _apply(argv, extra, got["remediation"])
            fargv, fenv = fixed[name]
            shown = [*(f"{k}={v}" for k, v in fenv.items()), *fargv]
            rows[-1].append(shlex.join(w.replace(str(modules), "node_modules") for w in shown))
        assert not problems, problems

        # Apply every printed fix, as printed.
        host.stop_all()
        for fargv, fenv in fixed.values():
            start(fargv, fenv)
        for name, _extra, _argv, port, *_ in cases:
            up = wait_for(lambda port=port: listening(host, port, loopback_only=True), 60)
            assert up, f"{name}: not listening on loopback after the fix: {log_tail()}"
        quiet = _findings(host)
        for row, (name, _extra, _argv, port, *_rest) in zip(rows, cases, strict=True):
            works = not connects(peer, HOST, port) and not quiet.get(port)
            row.append("fix works" if works else "FIX FAILS")
            if not works:
                problems.append((name, "fix", quiet.get(port)))
        took = time.monotonic() - t0
    table = "\n".join(" | ".join(r) for r in rows)
    show_table(
        f"\n{table}\n(npm cache {t_install:.1f} s; servers up in {started:.1f} s; "
        f"whole case {took:.1f} s)"
    )
    assert not problems, problems


@requires_netns
@pytest.mark.allow_skip_in_ci(reason="needs the npm registry reachable to fill the cache")
def test_webpack_with_inspect_in_its_argv_is_found_by_the_probe(tmp_path: Path) -> None:
    """``node --inspect=0.0.0.0:PORT webpack serve``: webpack renames its process to
    "webpack", so neither the command line nor the environment shows the debugger. The
    probe asks each of its ports for /json/version: the inspector port answers as the
    Node inspector (critical), the dev server's port is still the dev server."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("needs node and npm (apt-get install nodejs npm)")
    modules = _modules()
    (tmp_path / "node_modules").symlink_to(modules)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "index.js").write_text("console.log('hi');\n")
    (tmp_path / "webpack.config.js").write_text(WEBPACK_CONFIG)
    webpack = str(modules / "webpack-cli" / "bin" / "cli.js")
    inspect_port, serve_port = 9335, 8087
    argv = [node, f"--inspect=0.0.0.0:{inspect_port}", webpack, "serve", "--host", "0.0.0.0",
            "--port", str(serve_port)]  # fmt: skip
    with namespaces(unique("eaN-host"), unique("eaN-peer")) as (host, peer):
        link(host, "eaNh0", peer, "eaNp0")
        host.ip("addr", "add", f"{HOST}/24", "dev", "eaNh0")
        peer.ip("addr", "add", f"{PEER}/24", "dev", "eaNp0")
        host.popen(
            ["env", f"HOME={tmp_path}", "CI=1", "NO_COLOR=1", *argv],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in (inspect_port, serve_port):
            assert wait_for(lambda port=port: listening(host, port), 60), f"{port} not up"
        res = host.run(
            ["env", "-u", "EXPOSURE_AUDIT_NO_PROBE", *cli_argv(), "run", "--no-upnp", "-f",
             "json", "--fail-on", "none"],
            timeout=60,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        report = json.loads(res.stdout)
        title = {p["pid"]: p["name"] for p in report["facts"]["processes"]}
        assert "webpack" in title.values()  # the rename the test is about
        by_port: dict[int, list[dict]] = {}  # type: ignore[type-arg]
        for f in report["findings"]:
            if f["listener"]:
                by_port.setdefault(f["listener"]["port"], []).append(f)
        inspector = by_port.get(inspect_port, [])
        assert inspector, f"no finding for the inspector port: {by_port}"
        top = inspector[0]
        assert (top["rule_id"], top["severity"]) == ("EA-DBG-001", "critical"), top
        assert top["identity"]["source"] == "probe", top["identity"]
        assert "--inspect=127.0.0.1:" in top["remediation"]
        server = by_port.get(serve_port, [])
        assert server and server[0]["rule_id"] == "EA-DEV-001", server
        assert server[0]["identity"]["framework"] == "webpack-dev-server"
