"""Helpers for tests and benchmarks on the real-miniupnpd testbed (tests/testbed/).

``IgdTestbed.up(prefix)`` builds it (or raises IgdUnavailable with the script's own
SKIP reason), ``run_lan`` runs a command inside the LAN namespace, ``soap_lan`` sends
SOAP actions (AddPortMapping...) to the router from inside the LAN.

Every testbed is private to the process that built it: its EA_PREFIX is the given prefix
plus RUN_TAG, a random tag drawn once per process (one pytest session), so namespaces,
state directory and lock never collide with another run on the same host, and ``down``
only ever tears down this run's own testbed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import unescape

REPO = Path(__file__).resolve().parent.parent
SCRIPT_CANDIDATES = (
    REPO / "tests" / "testbed" / "igd-netns.sh",
    REPO.parent / "shared" / "testbed" / "igd-netns.sh",
)

# Runs inside the LAN namespace: argv[1] = control URL, argv[2] = service type,
# stdin = JSON list of [action, {args}]; prints a JSON list of results or faults.
_SOAP = """
import json, sys
from exposure_audit.collectors.upnp.http import HttpClient
from exposure_audit.collectors.upnp.soap import SoapClient, SoapFault, SoapError
calls = json.load(sys.stdin)
out = []
with HttpClient(5.0) as http:
    soap = SoapClient(http, sys.argv[1], sys.argv[2])
    for action, args in calls:
        try:
            out.append(soap.call(action, args).values)
        except (SoapFault, SoapError) as exc:
            out.append({"error": str(exc)})
print(json.dumps(out))
"""


# One per process: "eu" becomes e.g. "eu-3f9a1c2b" (namespaces eu-3f9a1c2b-lan, ...).
RUN_TAG = uuid.uuid4().hex[:8]


class IgdUnavailable(Exception):
    pass


def script() -> Path:
    env = os.environ.get("EA_TESTBED_SCRIPT")
    if env:
        return Path(env)
    for path in SCRIPT_CANDIDATES:
        if path.exists():
            return path
    raise IgdUnavailable("testbed script igd-netns.sh not found")


@dataclass
class IgdTestbed:
    prefix: str
    env: dict[str, str]
    extra_env: dict[str, str]

    @classmethod
    def up(cls, prefix: str, **knobs: str) -> IgdTestbed:
        """Build a new testbed named ``{prefix}-{RUN_TAG}`` (fresh: nobody else uses it)."""
        prefix = f"{prefix}-{RUN_TAG}"
        extra = {"EA_PREFIX": prefix, **knobs}
        run_env = {**os.environ, **extra}
        proc = subprocess.run(
            ["bash", str(script()), "up"], env=run_env, capture_output=True, text=True, timeout=60
        )
        if proc.returncode == 77:
            reason = (proc.stderr.strip().splitlines() or ["SKIP: testbed cannot run"])[-1]
            raise IgdUnavailable(reason)
        if proc.returncode != 0:
            raise RuntimeError(f"testbed up failed ({proc.returncode}): {proc.stderr[-2000:]}")
        env = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
        return cls(prefix=prefix, env=env, extra_env=extra)

    def down(self) -> None:
        subprocess.run(
            ["bash", str(script()), "down"],
            env={**os.environ, **self.extra_env},
            capture_output=True,
            timeout=60,
        )

    def status_ok(self) -> bool:
        proc = subprocess.run(
            ["bash", str(script()), "status"],
            env={**os.environ, **self.extra_env},
            capture_output=True,
            timeout=30,
        )
        return proc.returncode == 0

    @property
    def lan(self) -> str:
        return self.env["EA_LAN_NS"]

    @property
    def url(self) -> str:
        return self.env["EA_ROOTDESC_URL"]

    @property
    def control_url(self) -> str:
        return f"http://{self.env['EA_ROUTER_LAN_IP']}:{self.env['EA_HTTP_PORT']}/ctl/IPConn"

    def run_in(
        self, ns: str, argv: list[str], upnp: bool = True, timeout: float = 60, **kw: object
    ) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not (upnp and k == "EXPOSURE_AUDIT_NO_UPNP")}
        return subprocess.run(  # type: ignore[call-overload]
            ["ip", "netns", "exec", ns, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=str(REPO),
            **kw,
        )

    def run_lan(self, argv: list[str], **kw: object) -> subprocess.CompletedProcess:
        return self.run_in(self.lan, argv, **kw)

    def soap_lan(self, calls: list[tuple[str, dict]], service_type: str) -> list[dict]:
        proc = self.run_lan(
            [sys.executable, "-c", _SOAP, self.control_url, service_type],
            input=json.dumps(calls),
            timeout=600,
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr)
        return json.loads(proc.stdout)


def add_mapping_args(
    ext_port: int,
    client: str,
    int_port: int,
    proto: str = "TCP",
    desc: str = "test",
    lease: int = 0,
) -> dict[str, str | int]:
    return {
        "NewRemoteHost": "",
        "NewExternalPort": ext_port,
        "NewProtocol": proto,
        "NewInternalPort": int_port,
        "NewInternalClient": client,
        "NewEnabled": 1,
        "NewPortMappingDescription": desc,
        "NewLeaseDuration": lease,
    }


def parse_upnpc_list(text: str) -> set[tuple[str, int, str, int, str]]:
    """The mapping rows of ``upnpc -l``: ' 0 TCP 18080->10.233.0.2:8080  'desc' '' 604798'."""
    rows = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4 or not parts[0].isdigit() or parts[1] not in ("TCP", "UDP"):
            continue
        ext, _, internal = parts[2].partition("->")
        host, _, port = internal.rpartition(":")
        desc = line.split("'")[1] if line.count("'") >= 2 else ""
        # miniupnpc's minixml does not decode XML entities: upnpc prints "&lt;" as is
        desc = unescape(desc)
        rows.add((parts[1].lower(), int(ext), host, int(port), desc))
    return rows
