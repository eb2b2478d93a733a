"""Differential: the portable backend (psutil + netifaces) against the native one
(sock_diag + rtnetlink) on the same real listeners, checked against real connects.

The ground-truth set (tests/test_groundtruth.py: wildcards, v6only, loopback, specific
addresses, a link-local bind with zone, a device-bound socket, UDP) runs in a "host"
namespace; the CLI collects there twice, ``--backend native`` and ``--backend portable``;
a "peer" namespace (and the host itself, for loopback) connects to every address.

- Each listener is found by both backends, with the same process.
- Where the portable backend declares no field unknown, its reach equals the native one.
- Where it declares fields unknown (``portable.unknown_fields``: v6only, zone,
  bound_interface), its reach is a superset of the native one, and putting the
  kernel's values for exactly those fields back gives the native reach: every
  difference comes from a declared unknown, none from anything else.
- Its claim is never narrower than the kernel's truth: every connect that succeeds was
  claimed reachable.
- lsof's field output (the macOS fallback's parser, on Linux's real lsof) lists the same
  sockets.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from netns import cli_argv, link, namespaces, requires_netns, unique, wait_for
from test_groundtruth import (
    HOST_V4,
    HOST_V6,
    LISTENERS,
    PEER_V4,
    PEER_V6,
    PROBE,
    SERVER,
    _link_local,
)

from exposure_audit.analysis.exposure import resolve
from exposure_audit.collectors.lsof import LSOF_COMMANDS, listeners_from_lsof
from exposure_audit.collectors.portable import unknown_fields
from exposure_audit.core import records
from exposure_audit.core.model import SCOPE_RANK, Exposure, Facts
from exposure_audit.core.serialize import facts_from_dict


def _collect(ns, backend: str) -> Facts:  # type: ignore[no-untyped-def]
    res = ns.run([*cli_argv(), "collect", "--no-upnp", "--backend", backend], timeout=60)
    assert res.returncode == 0, res.stderr
    return facts_from_dict(json.loads(res.stdout))


def _key(e: Exposure) -> tuple[str, str, str, int]:
    lst = e.listener
    return (lst.protocol, lst.family, lst.address, lst.port)


def _reach(e: Exposure) -> set[tuple[str, str]]:
    return {(r.interface, r.address) for r in e.reach if r.up}


@requires_netns
def test_portable_backend_never_narrower_than_native_or_kernel(show_table) -> None:
    ports = {port for *_x, port, _o in LISTENERS}
    with namespaces(unique("eaD-host"), unique("eaD-peer")) as (host, peer):
        for ns in (host, peer):
            ns.run(["sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"], check=True)
            ns.run(["sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"], check=True)
        host.run(["sysctl", "-qw", "net.ipv6.bindv6only=1"], check=True)
        link(host, "eaDh0", peer, "eaDp0")
        host.ip("addr", "add", f"{HOST_V4}/24", "dev", "eaDh0")
        host.ip("addr", "add", f"{HOST_V6}/64", "dev", "eaDh0", "nodad")
        peer.ip("addr", "add", f"{PEER_V4}/24", "dev", "eaDp0")
        peer.ip("addr", "add", f"{PEER_V6}/64", "dev", "eaDp0", "nodad")
        assert wait_for(lambda: _link_local(host, "eaDh0") is not None), "no link-local"
        host_ll = _link_local(host, "eaDh0")
        assert host_ll is not None
        server = host.popen(
            [sys.executable, "-c", SERVER, json.dumps(LISTENERS), host_ll, "eaDh0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert server.stdout.readline().strip() == "ready", server.stderr.read()

        native_facts = _collect(host, "native")
        portable_facts = _collect(host, "portable")
        assert all(lst.source == "sock_diag" for lst in native_facts.listeners)
        assert all(lst.source == "psutil" for lst in portable_facts.listeners)
        assert portable_facts.ipv6_bindv6only is None  # not read: declared unknown
        assert any("portable backend" in w.message for w in portable_facts.warnings)

        native = {_key(e): e for e in resolve(native_facts).exposures if e.listener.port in ports}
        portable = {
            _key(e): e for e in resolve(portable_facts).exposures if e.listener.port in ports
        }
        assert set(native) == set(portable) and len(native) == len(LISTENERS)
        for k, e in portable.items():
            assert e.listener.process is not None and e.listener.process.pid == server.pid, k

        # The kernel's truth: connects from the peer (LAN side) and from the host itself.
        targets = [(HOST_V4, None, "eaDh0"), (HOST_V6, None, "eaDh0"), (host_ll, "eaDp0", "eaDh0")]
        local_targets = [("127.0.0.1", None, "lo"), ("::1", None, "lo")]
        cases = [
            (proto, port, addr, zone, iface)
            for _n, proto, _f, _a, port, _o in LISTENERS
            for addr, zone, iface in targets
        ]
        local_cases = [
            (proto, port, addr, zone, iface)
            for _n, proto, _f, _a, port, _o in LISTENERS
            for addr, zone, iface in local_targets
        ]
        verdicts = []
        for ns, batch in ((peer, cases), (host, local_cases)):
            argv = json.dumps([[c[0], c[2], c[1], c[3]] for c in batch])
            probe = ns.run([sys.executable, "-c", PROBE, argv], timeout=90)
            assert probe.returncode == 0, probe.stderr
            verdicts.extend(json.loads(probe.stdout))
        truth = {
            (proto, port, addr, iface): verdict
            for (proto, port, addr, _z, iface), verdict in zip(
                cases + local_cases, verdicts, strict=True
            )
        }

        rows, problems = [], []
        for k in sorted(native, key=lambda k: (k[3], k[0])):
            n, p = native[k], portable[k]
            unknown = unknown_fields(p.listener)
            nr, pr = _reach(n), _reach(p)
            # The kernel's values for exactly the declared-unknown fields put back.
            fixed = records.replace(
                p.listener,
                **{f: getattr(n.listener, f) for f in unknown},
            )
            refacts = records.replace(portable_facts, listeners=(fixed,))
            fixed_reach = _reach(resolve(refacts).exposures[0])
            accepted = {
                (iface, addr)
                for (proto, port, addr, iface), v in truth.items()
                if proto == k[0] and port == k[3] and v == "accept"
            }
            verdict = "equal" if nr == pr else "wider"
            if nr == pr:
                pass
            elif not unknown:
                problems.append(f"{k}: differs with nothing declared unknown")
            if not nr <= pr:
                problems.append(f"{k}: portable narrower than native: {sorted(nr - pr)}")
            if fixed_reach != nr:
                problems.append(f"{k}: differs beyond the declared unknowns {unknown}")
            if not accepted <= pr:
                problems.append(f"{k}: kernel accepted {sorted(accepted - pr)}, portable said no")
            if not accepted <= nr:
                problems.append(f"{k}: kernel accepted {sorted(accepted - nr)}, native said no")
            if SCOPE_RANK[p.widest_scope] < SCOPE_RANK[n.widest_scope]:
                problems.append(f"{k}: portable widest {p.widest_scope} < {n.widest_scope}")
            extra = sorted(f"{a}" for _i, a in pr - nr)
            rows.append(
                f"{k[0]}/{k[3]:<5} {k[2]:<26} native={n.widest_scope:<10} "
                f"portable={p.widest_scope:<10} {verdict:<5} unknown={','.join(unknown) or '-':<24}"
                f" kernel-accepts={len(accepted)} extra={','.join(extra) or '-'}"
            )
        show_table("\n" + "\n".join(rows))
        assert not problems, "\n".join(problems)
        # Not trivially equal: the declared unknowns do widen some verdicts (v6only by
        # sysctl, v6only by flag, the device-bound socket), and the rest agree exactly.
        widened = {k[3] for k in native if _reach(native[k]) != _reach(portable[k])}
        assert widened == {8003, 8007, 8009}, widened

        # lsof's field output, on the same sockets (the macOS fallback's parser).
        if shutil.which("lsof") is None:
            pytest.fail("lsof is not installed (scripts/run-tests.sh installs it)")
        found = []
        for argv in LSOF_COMMANDS:
            res = host.run(argv, timeout=60)
            assert res.returncode in (0, 1), res.stderr
            rows, lsof_problems = listeners_from_lsof(res.stdout)
            assert not lsof_problems
            found.extend(rows)
        mine = {
            (x.protocol, x.family, x.address, x.port)
            for x in found
            if x.process is not None and x.process.pid == server.pid
        }
        assert mine == set(portable), sorted(mine ^ set(portable))
