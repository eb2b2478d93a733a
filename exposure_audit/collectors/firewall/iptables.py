"""``iptables-save`` / ``ip6tables-save`` text (legacy or nft backend) -> normalised chains.

The inbound path: filter INPUT, raw and mangle PREROUTING, mangle and security INPUT,
and every user chain they jump to (ufw's ufw-before-input, ufw-user-input...). The
nat table is read only for container DNAT rules. The original line is the evidence.
"""

from __future__ import annotations

import shlex

from exposure_audit.collectors.firewall.containers import (
    container_id_in,
    nat_owner,
    published_from_dnat,
)
from exposure_audit.core.model import FirewallChain, FirewallMatch, FirewallRule, PublishedPort

# built-in chains on the way to a local socket: (table, chain) -> (hook, priority)
_INBOUND = {
    ("raw", "PREROUTING"): ("prerouting", -300),
    ("mangle", "PREROUTING"): ("prerouting", -150),
    ("mangle", "INPUT"): ("input", -150),
    ("filter", "INPUT"): ("input", 0),
    ("security", "INPUT"): ("input", 50),
    ("nat", "PREROUTING"): ("prerouting", -100),
}
_BUILTIN = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"}
_NONTERMINAL_TARGETS = {
    "LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "CT", "TRACE", "CHECKSUM", "TCPMSS",
    "DSCP", "TOS", "SECMARK", "CONNSECMARK", "AUDIT", "IDLETIMER", "LED", "NOTRACK",
    "SET", "TEE", "CLASSIFY", "HMARK", "RATEEST", "TTL", "HL", "NETMAP", "SNAT",
    "MASQUERADE", "DNAT", "REDIRECT",
}  # fmt: skip
_TERMINAL = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "reject", "RETURN": "return",
             "NFQUEUE": "queue", "QUEUE": "queue", "TARPIT": "drop"}  # fmt: skip
# options that take no argument
_FLAGS = {
    "--syn", "--rcheck", "--update", "--set", "--remove", "--rsource", "--rdest", "--reap",
    "--limit-iface-in", "--limit-iface-out", "--log-uid", "--log-tcp-sequence",
    "--log-tcp-options", "--log-ip-options", "--connlimit-upto", "-f", "--fragment",
}  # fmt: skip
# options that take two arguments
_TWO_ARGS = {"--tcp-flags", "--match-set", "--set-mark-and"}


def iface_pattern(name: str) -> str:
    """An iptables interface name in the form ``FirewallMatch`` holds (nftables'): in
    iptables only a trailing ``+`` is a wildcard, written ``*``; a trailing ``*`` is a
    literal character, written ``\\*``; anything else is literal in both."""
    if name.endswith("+"):
        return name[:-1] + "*"
    if name.endswith("*"):
        return name[:-1] + "\\*"
    return name


class IptablesFormatError(ValueError):
    pass


def _split_csv(v: str) -> tuple[str, ...]:
    return tuple(x for x in v.split(",") if x)


class _Line:
    """One ``-A CHAIN ...`` line parsed into conditions and a target."""

    def __init__(self, tokens: list[str]) -> None:
        self.matches: list[FirewallMatch] = []
        self.unknown: list[str] = []
        self.target: str | None = None
        self.goto = False
        self.target_opts: dict[str, str] = {}
        self.comment = ""
        self.module: str | None = None
        self.recent_action: str | None = None
        self._parse(tokens)

    def add(self, field: str, vals: tuple[str, ...], neg: bool) -> None:
        self.matches.append(FirewallMatch(field, vals, neg))

    def _parse(self, t: list[str]) -> None:
        i, neg = 0, False
        family_proto: str | None = None
        while i < len(t):
            tok = t[i]
            if tok == "!":
                neg, i = True, i + 1
                continue
            arg = t[i + 1] if i + 1 < len(t) else ""
            if tok in _FLAGS:
                self._flag(tok, neg)
                i, neg = i + 1, False
                continue
            if tok in _TWO_ARGS:
                self._option(tok, f"{arg} {t[i + 2] if i + 2 < len(t) else ''}", neg)
                i, neg = i + 3, False
                continue
            if arg == "!" and tok.startswith("-"):  # old syntax: -i ! eth0
                neg, arg = True, (t[i + 2] if i + 2 < len(t) else "")
                i += 1
            if tok in ("-j", "--jump", "-g", "--goto"):
                self.target, self.goto = arg, tok in ("-g", "--goto")
                self.module = "target"
            elif tok in ("-m", "--match"):
                self.module = arg
            elif tok in ("-p", "--protocol"):
                family_proto = arg.lower()
                if family_proto not in ("all", "0"):  # -p all: any protocol
                    self.add("l4proto", (family_proto,), neg)
            elif tok in ("-i", "--in-interface"):
                self.add("iifname", (iface_pattern(arg),), neg)
            elif tok in ("-o", "--out-interface"):
                self.unknown.append(f"{'! ' if neg else ''}-o {arg}")
            elif tok in ("-s", "--source", "--src"):
                self.add("saddr", _split_csv(arg), neg)
            elif tok in ("-d", "--destination", "--dst"):
                self.add("daddr", _split_csv(arg), neg)
            elif self.module == "target":
                self.target_opts[tok] = arg
            else:
                self._option(tok, arg, neg)
            i, neg = i + 2, False

    def _flag(self, tok: str, neg: bool) -> None:
        if tok == "--syn":
            self.add("tcp_flags_syn", ("syn",), neg)
        elif tok in ("--rcheck", "--update"):
            self.recent_action = tok
            self.add("recent_hit", ("hit",), neg)
        elif tok in ("-f", "--fragment"):
            self.add("?fragment", ("?",), neg)
        # --set/--remove/--rsource/... do not decide anything for a first connection

    def _option(self, tok: str, arg: str, neg: bool) -> None:
        mod = self.module
        if tok in ("--dport", "--destination-port", "--dports", "--destination-ports"):
            self.add("dport", tuple(v.replace(":", "-") for v in _split_csv(arg)), neg)
        elif tok in ("--sport", "--source-port", "--sports", "--source-ports"):
            self.add("sport", tuple(v.replace(":", "-") for v in _split_csv(arg)), neg)
        elif tok == "--ports" and mod == "multiport":
            self.unknown.append(f"multiport --ports {arg}")
        elif tok in ("--ctstate", "--state"):
            self.add("ct_state", tuple(v.lower() for v in _split_csv(arg)), neg)
        elif tok == "--ctstatus":
            self.add("ct_status", tuple(v.lower() for v in _split_csv(arg)), neg)
        elif tok == "--dst-type" and mod == "addrtype":
            self.add("daddr_type", tuple(v.lower() for v in _split_csv(arg)), neg)
        elif tok == "--src-type" and mod == "addrtype":
            self.add("saddr_type", tuple(v.lower() for v in _split_csv(arg)), neg)
        elif tok == "--pkt-type":
            self.add("pkttype", (arg.lower(),), neg)
        elif tok == "--src-range":
            self.add("saddr", (arg,), neg)
        elif tok == "--dst-range":
            self.add("daddr", (arg,), neg)
        elif tok == "--tcp-flags":
            # a new connection's first packet carries SYN alone
            mask, _, comp = arg.partition(" ")
            mask_set = {f for f in mask.upper().split(",") if f}
            comp_set = {f for f in comp.upper().split(",") if f and f != "NONE"}
            if "ALL" in mask_set:
                mask_set = {"FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"}
            hit = ({"SYN"} & mask_set) == comp_set
            self.add("tcp_flags_syn", ("syn",), neg == hit)
        elif tok == "--comment":
            self.comment = arg
        elif tok == "--limit" and mod == "limit":
            self.add("rate_limit", ("over" if neg else "under",), False)
        elif tok in ("--limit-burst", "--seconds", "--hitcount", "--name", "--mask",
                     "--reap", "--connlimit-mask", "--hashlimit-burst", "--hashlimit-mode",
                     "--hashlimit-name", "--hashlimit-htable-expire", "--hashlimit-srcmask",
                     "--icmp-type", "--icmpv6-type"):  # fmt: skip
            pass  # parameters of a match handled elsewhere, or of an ICMP-only match
        elif tok == "--connlimit-above":
            self.add("connlimit_above", ("above",), neg)
        elif tok == "--hashlimit-upto":
            self.add("rate_limit", ("under",), neg)
        elif tok == "--hashlimit-above":
            self.add("rate_limit", ("over",), neg)
        elif tok == "--rpf-invert" or (mod == "rpfilter" and tok.startswith("--")):
            self.unknown.append(f"-m rpfilter {tok}")
        else:
            self.unknown.append(f"{'! ' if neg else ''}-m {mod} {tok} {arg}".strip())


def _builtin_rpfilter(tokens: list[str]) -> bool:
    return "rpfilter" in tokens


# Quoting, and the ASCII whitespace str.split knows but shlex does not.
_SHLEX_ONLY = frozenset("\"'\\\x0b\x0c\x1c\x1d\x1e\x1f")


def _split(line: str) -> list[str]:
    """shlex.split(line), which is ~30 us a line in pure Python: most lines have no
    quote or backslash (only comments and log prefixes do), and then it is str.split."""
    if line.isascii() and _SHLEX_ONLY.isdisjoint(line):
        return line.split()
    return shlex.split(line)


def parse_save(
    text: str, family: str = "ip", table_suffix: str = ""
) -> tuple[list[FirewallChain], list[PublishedPort]]:
    """Chains on the inbound path and container DNAT publishes of one save output.

    ``family``: "ip" for iptables-save, "ip6" for ip6tables-save. ``table_suffix`` keeps
    legacy tables apart from nft ones with the same name ("filter" vs "filter-legacy")."""
    table: str | None = None
    policies: dict[tuple[str, str], str | None] = {}
    lines: dict[tuple[str, str], list[tuple[str, _Line, list[str]]]] = {}
    published: list[PublishedPort] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            table = line[1:].strip()
            continue
        if line == "COMMIT":
            table = None
            continue
        if table is None:
            raise IptablesFormatError(f"line {lineno}: rule outside a table: {line[:80]}")
        if line.startswith(":"):
            parts = line[1:].split()
            if not parts:
                raise IptablesFormatError(f"line {lineno}: empty chain declaration")
            pol = parts[1] if len(parts) > 1 and parts[1] != "-" else None
            policies[(table, parts[0])] = pol
            lines.setdefault((table, parts[0]), [])
            continue
        if line.startswith("-A ") or line.startswith("--append "):
            try:
                tokens = _split(line)
            except ValueError as exc:
                raise IptablesFormatError(f"line {lineno}: {exc}") from None
            if len(tokens) < 2:
                raise IptablesFormatError(f"line {lineno}: -A without a chain")
            chain = tokens[1]
            parsed = _Line(tokens[2:])
            lines.setdefault((table, chain), []).append((line, parsed, tokens))
            if table == "nat" and parsed.target == "DNAT":
                owner = nat_owner("", chain)
                if owner is None and "docker" in line.lower():
                    owner = "docker"
                if owner:
                    published.extend(_publishes(owner, parsed, line, family))
            continue
        if line.startswith("-N ") or line.startswith("-P "):
            continue  # iptables -S style declarations; chains appear via -A
        raise IptablesFormatError(f"line {lineno}: not iptables-save output: {line[:80]}")

    chains: list[FirewallChain] = []
    wanted = [k for k in lines if k in _INBOUND]
    seen: set[tuple[str, str]] = set()
    while wanted:
        key = wanted.pop()
        if key in seen or key not in lines:
            continue
        seen.add(key)
        rules: list[FirewallRule] = []
        for text_line, p, tokens in lines[key]:
            verdict, target = _verdict(p, key[0], lines)
            unknown = list(p.unknown)
            if _builtin_rpfilter(tokens) and not any("rpfilter" in u for u in unknown):
                unknown.append("-m rpfilter")
            nat_address, nat_port = None, None
            if key[0] == "nat" and p.target in ("DNAT", "REDIRECT"):
                verdict, nat_address, nat_port = _nat_target(p)
            rules.append(
                FirewallRule(
                    text_line,
                    tuple(p.matches),
                    verdict,
                    target,
                    tuple(unknown),
                    nat_address,
                    nat_port,
                )
            )
            if target:
                wanted.append((key[0], target))
        hook, prio = _INBOUND.get(key, (None, None))
        chains.append(
            FirewallChain(
                table=key[0] + table_suffix,
                family=family,
                name=key[1],
                hook=hook,
                type=("nat" if key[0] == "nat" else "filter") if hook else None,
                priority=prio,
                policy=(policies.get(key) or "ACCEPT").lower() if hook else None,
                rules=tuple(rules),
            )
        )
    chains.sort(key=lambda c: (c.table, c.hook is None, c.name))
    return chains, published


def _verdict(
    p: _Line, table: str, lines: dict[tuple[str, str], list[tuple[str, _Line, list[str]]]]
) -> tuple[str | None, str | None]:
    tgt = p.target
    if tgt is None:
        return None, None
    if tgt in _TERMINAL:
        return _TERMINAL[tgt], None
    if (table, tgt) in lines and tgt not in _BUILTIN:
        return ("goto" if p.goto else "jump"), tgt
    if tgt in _NONTERMINAL_TARGETS:
        return None, None
    return f"target {tgt}", None


def _nat_target(p: _Line) -> tuple[str, str | None, int | None]:
    """(verdict, address, port) of a DNAT / REDIRECT rule: "dnat" / "redirect" with one
    address and one port, "unknown" for what is not modelled (ranges, several
    destinations, random/persistent spreading over a range)."""
    if p.target == "REDIRECT":
        ports = p.target_opts.get("--to-ports")
        if ports is None:
            return "redirect", None, None
        return ("redirect", None, int(ports)) if ports.isdigit() else ("unknown", None, None)
    dest = p.target_opts.get("--to-destination", "")
    addr, port = dest, None
    if dest.startswith("["):  # [fd00::2]:80
        addr, _, rest = dest[1:].partition("]")
        port = rest.lstrip(":") or None
    elif dest.count(":") == 1:
        addr, port = dest.split(":")
    if not addr or "-" in addr:
        return "unknown", None, None
    if port is not None and not port.isdigit():
        return "unknown", addr, None  # a port range: the address is still known
    return "dnat", addr, int(port) if port is not None else None


def _publishes(owner: str, p: _Line, line: str, family: str) -> list[PublishedPort]:
    dest = p.target_opts.get("--to-destination", "")
    addr, port = dest, None
    if dest.startswith("["):  # [fd00::2]:80
        addr, _, rest = dest[1:].partition("]")
        port = rest.lstrip(":") or None
    elif dest.count(":") == 1:
        addr, port = dest.split(":")
    port_n = int(port.split("-")[0]) if port and port.split("-")[0].isdigit() else None
    return published_from_dnat(
        owner=owner,
        matches=p.matches,
        target_address=addr or None,
        target_port=port_n,
        evidence=line,
        container_id=container_id_in(p.comment or line),
        family="ipv6" if family == "ip6" else "ipv4",
    )
