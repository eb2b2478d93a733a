"""collect_firewall() against real rulesets in throw-away namespaces: which backend,
which tables, and how it degrades (not root, no tools)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from netns import REPO, Netns, namespaces, netns_skip_reason, unique

from exposure_audit.analysis.firewall.evaluate import evaluate
from exposure_audit.core.model import CollectorWarning, FirewallFacts, PublishedPort
from exposure_audit.core.serialize import from_jsonable

FIX = Path(__file__).resolve().parent / "fixtures" / "firewall"
COLLECT = """
import json
from exposure_audit.collectors.firewall import collect_firewall
from exposure_audit.core.serialize import to_jsonable
fw, pub, warnings = collect_firewall()
print(json.dumps({"fw": to_jsonable(fw), "pub": to_jsonable(pub), "w": to_jsonable(warnings)}))
"""


def _skip() -> str | None:
    reason = netns_skip_reason()
    if reason is None and not all(
        shutil.which(t) for t in ("nft", "iptables-legacy-restore", "iptables-nft-restore")
    ):
        reason = "needs nft and iptables (apt-get install nftables iptables)"
    return reason


requires_tools = pytest.mark.skipif(_skip() is not None, reason=_skip() or "")


def _decode(stdout: str) -> tuple[FirewallFacts, list[PublishedPort], list[CollectorWarning]]:
    data = json.loads(stdout)
    return (
        from_jsonable(FirewallFacts, data["fw"]),
        [from_jsonable(PublishedPort, p) for p in data["pub"]],
        [from_jsonable(CollectorWarning, w) for w in data["w"]],
    )


def collect_in(ns: Netns, path: str | None = None):
    prefix = ["env", f"PATH={path}"] if path is not None else []
    res = ns.run([*prefix, sys.executable, "-c", COLLECT], check=True, timeout=60)
    return _decode(res.stdout)


def test_not_root_is_unavailable_with_a_warning() -> None:
    if os.geteuid() != 0:
        res = subprocess.run([sys.executable, "-c", COLLECT], capture_output=True, text=True,
                             check=True, timeout=60)  # fmt: skip
    else:
        res = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             sys.executable, "-c", COLLECT],
            capture_output=True, text=True, timeout=60, cwd="/", env={
                "PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO),
            },
        )  # fmt: skip
        if res.returncode != 0 and "Permission denied" in res.stderr:
            pytest.skip("the checkout is not readable by nobody")
        assert res.returncode == 0, res.stderr
    fw, pub, warnings = _decode(res.stdout)
    assert fw.backend == "unavailable" and not fw.chains and pub == []
    assert [w.collector for w in warnings] == ["firewall"]
    assert "needs root" in warnings[0].message and "sudo" in (warnings[0].hint or "")
    v = evaluate(fw, "tcp", 22, "10.0.0.1", "eth0", "10.0.0.0/24")
    assert v.result == "unknown" and "needs root" in v.evidence


@requires_tools
def test_no_tools_is_unavailable_and_empty_ruleset_is_none() -> None:
    with namespaces(unique("eaF-c")) as (ns,):
        # No table at all: the kernel's own table list says so, with or without tools.
        for path in ("/nonexistent", None):
            fw, pub, warnings = collect_in(ns, path=path)
            assert (fw.backend, fw.chains, pub, warnings) == ("none", (), [], [])
        v = evaluate(fw, "tcp", 22, "10.0.0.1", "eth0", "10.0.0.0/24")
        assert v.result == "open" and "no ipv4 input filter" in v.evidence
        # A table exists but no tool can read it: unavailable, and said so.
        ns.run(["nft", "add table inet t"], check=True)
        fw, _, warnings = collect_in(ns, path="/nonexistent")
        assert fw.backend == "unavailable"
        assert any("no firewall tool found" in w.message for w in warnings)


@requires_tools
def test_iptables_nft_tables_are_read_from_save_not_json() -> None:
    with namespaces(unique("eaF-c")) as (ns,):
        ns.run(["iptables-nft-restore"], input=(FIX / "ufw.rules").read_text(), check=True)
        fw, _, warnings = collect_in(ns)
        assert warnings == [] and fw.backend == "iptables-nft"
        names = {c.name for c in fw.chains}
        assert {"INPUT", "ufw-before-input", "ufw-user-input", "ufw-not-local"} <= names
        assert "FORWARD" not in names and "ufw-before-forward" not in names
        unknowns = [u for c in fw.chains for r in c.rules for u in r.unknown]
        assert not [u for u in unknowns if "xt match" in u], unknowns
        assert all(r.text.startswith("-A ") for c in fw.chains for r in c.rules)


@requires_tools
def test_legacy_and_nft_together_both_count() -> None:
    with namespaces(unique("eaF-c")) as (ns,):
        ns.run(["iptables-legacy-restore"], input=(FIX / "gt-legacy.rules").read_text(),
               check=True)  # fmt: skip
        ns.run(["nft", "-f", str(FIX / "gt-reject-drop.nft")], check=True)
        fw, _, _ = collect_in(ns)
        assert fw.backend == "nftables"
        assert fw.message == "rules read from: nftables, iptables-legacy"
        tables = {(c.family, c.table) for c in fw.chains}
        assert {("ip", "filter-legacy"), ("inet", "filter"), ("ip", "early")} <= tables
        # accepted by nft, dropped by the legacy policy: a packet must pass both
        v = evaluate(fw, "tcp", 2222, "10.1.0.1", "eth0", "10.1.0.0/24")
        assert v.result == "filtered" and "filter-legacy INPUT" in v.evidence
        # rejected by nft although legacy accepts 22 from anyone... from 10.2/24 only
        v = evaluate(fw, "tcp", 22, "10.2.0.1", "eth0", "10.2.0.0/24")
        assert v.result == "filtered" and "ip saddr 10.2.0.0/24 tcp dport 22 drop" in v.evidence


@requires_tools
def test_plain_iptables_save_is_classified_by_its_version(tmp_path: Path) -> None:
    """Only ``iptables-save`` installed (iptables < 1.8 style): its --version decides
    whether it reads the legacy or the nft backend."""
    multi = shutil.which("xtables-legacy-multi")
    if multi is None:
        pytest.skip("needs xtables-legacy-multi (iptables package)")
    (tmp_path / "iptables-save").symlink_to(multi)
    with namespaces(unique("eaF-c")) as (ns,):
        ns.run(["iptables-legacy-restore"], input=(FIX / "gt-legacy.rules").read_text(),
               check=True)  # fmt: skip
        fw, _, warnings = collect_in(ns, path=str(tmp_path))
        assert warnings == [] and fw.backend == "iptables-legacy"
        assert {c.table for c in fw.chains} == {"filter-legacy"}


@requires_tools
def test_without_cap_net_admin_is_unavailable() -> None:
    """Root without CAP_NET_ADMIN (an unprivileged container): the tools exist but
    cannot read; nothing was read, so no verdict is claimed."""
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux)")
    with namespaces(unique("eaF-c")) as (ns,):
        ns.run(["nft", "-f", str(FIX / "gt-default-drop.nft")], check=True)
        res = ns.run(
            ["setpriv", "--bounding-set=-net_admin", "--inh-caps=-net_admin",
             sys.executable, "-c", COLLECT], check=True, timeout=60,
        )  # fmt: skip
        fw, _, warnings = _decode(res.stdout)
        assert fw.backend == "unavailable" and fw.chains == ()
        assert "could not be read" in (fw.message or "")
        assert "CAP_NET_ADMIN" in (warnings[-1].hint or "")


@requires_tools
def test_a_source_that_fails_turns_open_into_unknown(tmp_path: Path) -> None:
    """nft is read, iptables-nft-save fails (here: /bin/false under that name): what
    nft drops is still proven filtered, what it accepts becomes unknown."""
    false = shutil.which("false")
    assert false is not None
    for tool in ("nft", "iptables-nft-save", "ip6tables-nft-save"):
        real = shutil.which(tool)
        assert real is not None
        (tmp_path / tool).symlink_to(false if tool == "iptables-nft-save" else real)
    with namespaces(unique("eaF-c")) as (ns,):
        ns.run(["nft", "-f", str(FIX / "gt-default-drop.nft")], check=True)
        ns.run(["nft", "add table ip filter"], check=True)  # so iptables-nft-save is run
        fw, _, warnings = collect_in(ns, path=str(tmp_path))
        assert [w.message for w in warnings] == ["iptables-nft-save failed: exit 1"]
        assert fw.backend == "nftables" and "partly read" in (fw.message or "")
        v = evaluate(fw, "tcp", 8000, "10.1.0.1", "eth0", "10.1.0.0/24")
        assert v.result == "filtered"
        v = evaluate(fw, "tcp", 22, "10.1.0.1", "eth0", "10.1.0.0/24")
        assert v.result == "unknown" and "rules not read (iptables-nft-save failed" in v.evidence
        v = evaluate(fw, "tcp", 22, "fd01::1", "eth0", "fd01::/64")
        assert v.result == "unknown"  # the unread source could hold ip6 rules too


STARTED = """
from exposure_audit.collectors.firewall import start_firewall
read = start_firewall()
print(sorted(job.argv[0] for job in read.legacy_saves.values()))
print(sorted(job.argv[0] for job in read.nft_saves.values()), read.nft_json is not None)
text_at_start = read.nft_text is not None
fw, _pub, _w = read.finish()
print(fw.backend)
print("nft -a:", text_at_start, read.nft_text is not None)
"""


@requires_tools
def test_legacy_save_runs_only_when_a_legacy_table_exists() -> None:
    """On an nftables-only namespace no iptables-legacy-save starts (nothing to read, and
    it would load the x_tables module); once a legacy table exists it is read."""
    with namespaces(unique("eaF-leg")) as (ns,):
        chain = "add chain inet t in { type filter hook input priority 0; policy drop; }"
        ns.run(["nft", f"add table inet t; {chain}"], check=True)
        first = ns.run([sys.executable, "-c", STARTED], check=True, timeout=60).stdout.split("\n")
        assert first[:3] == ["[]", "[] True", "nftables"], first
        ns.run(["iptables-legacy", "-A", "INPUT", "-p", "tcp", "--dport", "22", "-j", "DROP"],
               check=True)  # fmt: skip
        second = ns.run([sys.executable, "-c", STARTED], check=True, timeout=60).stdout.split("\n")
        assert second[0] == "['iptables-legacy-save']", second
        fw, _pub, _w = collect_in(ns)
        assert any(c.table.endswith("-legacy") and c.rules for c in fw.chains), fw.chains


@requires_tools
def test_only_commands_with_something_to_read_are_started() -> None:
    """The kernel's table list (one netlink request) decides: no table, no process; an
    ip6 table alone, ip6tables-nft-save and nft but not iptables-nft-save."""
    with namespaces(unique("eaF-few")) as (ns,):
        empty = ns.run([sys.executable, "-c", STARTED], check=True, timeout=60).stdout
        assert empty.split("\n")[:3] == ["[]", "[] False", "none"], empty
        ns.run(["nft", "add table ip6 t6; add table bridge br"], check=True)
        six = ns.run([sys.executable, "-c", STARTED], check=True, timeout=60).stdout
        assert six.split("\n")[1] == "['ip6tables-nft-save'] True", six
        ns.run(["nft", "add table ip t4"], check=True)
        both = ns.run([sys.executable, "-c", STARTED], check=True, timeout=60).stdout
        assert both.split("\n")[1] == "['ip6tables-nft-save', 'iptables-nft-save'] True", both


@requires_tools
def test_nft_text_waits_when_iptables_tables_may_be_all_there_is() -> None:
    """ufw (iptables-nft tables with extensions): the saves are read, nft's JSON only
    checks them, and `nft -a` (evidence text for JSON-read tables) never starts. An
    nft-native table: `nft -a` starts at once. An iptables-named table without any
    extension is read from the JSON, so `nft -a` starts when that is known."""
    with namespaces(unique("eaF-txt")) as (ns,):
        ns.run(["iptables-nft-restore"], input=(FIX / "ufw.rules").read_text(), check=True)
        out = ns.run([sys.executable, "-c", STARTED], check=True, timeout=60).stdout.split("\n")
        assert out[2:4] == ["iptables-nft", "nft -a: False False"], out
    with namespaces(unique("eaF-txt")) as (ns,):
        ns.run(["nft", "-f", str(FIX / "gt-default-drop.nft")], check=True)
        out = ns.run([sys.executable, "-c", STARTED], check=True, timeout=60).stdout.split("\n")
        assert out[2:4] == ["nftables", "nft -a: True True"], out
    with namespaces(unique("eaF-txt")) as (ns,):
        ns.run(["nft", "-f", str(FIX / "gt-ip-filter-set.nft")], check=True)
        out = ns.run([sys.executable, "-c", STARTED], check=True, timeout=60).stdout.split("\n")
        assert out[2:4] == ["nftables", "nft -a: False True"], out
        fw, _, _ = collect_in(ns)
        texts = [r.text for c in fw.chains for r in c.rules]
        assert texts == ["tcp dport { 8000, 8001 } drop"], texts  # nft's own words
