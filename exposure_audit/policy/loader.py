"""Rule files: loading and validation (policy as data, see rules/README.md).

A rules directory holds TOML files with three kinds of tables, in any file:
``[[port]]`` (the port catalogue), ``[[framework]]`` (frameworks recognised from the
command line, each with its own fix) and ``[[rule]]``. Every file is validated on load;
anything wrong is one ``ConfigError`` naming the file, the rule (or port, framework) and
the key, with a suggestion for a misspelt name. Nothing is evaluated here: the records
built are conditions.py's, and the engine evaluates them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from exposure_audit.core import resources
from exposure_audit.core.errors import ConfigError, shown
from exposure_audit.core.model import PROBE_SERVICES, PROBE_STATES, SEVERITIES
from exposure_audit.policy.conditions import (
    KINDS,
    OPERATORS,
    PROTOCOLS,
    TAG_CHOICES,
    Catalogue,
    Condition,
    Framework,
    PortEntry,
    Rule,
    RuleSet,
)
from exposure_audit.policy.files import did_you_mean, read_toml, type_name
from exposure_audit.policy.templates import FIELDS_BY_KIND, FRAMEWORK_FIX_FIELDS, check_template
from exposure_audit.policy.values import (
    Where,
    boolean,
    check_keys,
    choice,
    choices,
    globs,
    parser_for,
    port_range,
    ports,
    regex,
    str_list,
    str_value,
)

MAX_CATALOGUE_RANGE = 1000
# Bounds on what a rule set may hold (each file is at most 1 MiB: policy/files.py).
MAX_RULE_FILES = 200
MAX_RULES = 5000

_ID_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")

RULE_KEYS: tuple[str, ...] = (
    "id",
    "title",
    "severity",
    "internet_severity",
    "kind",
    "match",
    "unless",
    "message",
    "remediation",
    "rationale",
    "references",
)
PORT_KEYS: tuple[str, ...] = ("port", "protocol", "service", "tags", "why", "references", "fix")
FRAMEWORK_KEYS: tuple[str, ...] = (
    "id",
    "name",
    "fix",
    "process",
    "cmdline",
    "port",
    "container",
    "describes",
    "env",
    "listen_flag",
    "default_port",
    "tags",
    "references",
    "rebind_fix",
    "probe",
    "probe_state",
)
TOP_LEVEL_KEYS: tuple[str, ...] = ("rule", "framework", "port")

# Each condition key's value parser, from the operator table.
_PARSE = {key: parser_for(op.value) for key, op in OPERATORS.items()}
_PROTOCOLS = choices(PROTOCOLS, "protocol")
_TAGS = parser_for(TAG_CHOICES)


class _Loaded:
    """What the files loaded so far hold (filled in file by file, then cross-checked)."""

    __slots__ = ("framework_refs", "frameworks", "ports", "rule_files", "rules")

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.ports: dict[tuple[str, int], PortEntry] = {}
        self.frameworks: list[Framework] = []
        self.rule_files: dict[str, str] = {}  # id -> file
        self.framework_refs: list[tuple[Where, str, frozenset[str]]] = []


def _tables(path: Path, doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key, [])
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ConfigError(f"{path}: '{key}' must be an array of tables, written [[{key}]]")
    return value


def _parse_conditions(
    where: Where, prefix: str, table: Any, kind: str, loaded: _Loaded
) -> tuple[Condition, ...]:
    if not isinstance(table, dict):
        raise where.error(prefix, f"expected a table, got {type_name(table)}")
    conditions: list[tuple[int, Condition]] = []
    for key, value in table.items():
        op = OPERATORS.get(key)
        if op is None:
            allowed = sorted(k for k, o in OPERATORS.items() if kind in o.kinds)
            raise where.error(
                f"{prefix}.{key}",
                f"unknown condition{did_you_mean(key, allowed)} (conditions: {', '.join(allowed)})",
            )
        if kind not in op.kinds:
            raise where.error(f"{prefix}.{key}", f'does not apply to kind = "{kind}"')
        parsed = _PARSE[key](where, f"{prefix}.{key}", value)
        if key == "framework":
            loaded.framework_refs.append((where, f"{prefix}.{key}", parsed))
        conditions.append((op.cost, Condition(key, op.test, parsed)))
    conditions.sort(key=lambda c: c[0])
    return tuple(c for _cost, c in conditions)


def _parse_unless(
    where: Where, raw: Any, kind: str, loaded: _Loaded
) -> tuple[tuple[Condition, ...], ...]:
    """``unless`` is one table of conditions, or a list of them (any one suppresses)."""
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise where.error("unless", "empty list: remove it or add a table of conditions")
    groups = []
    for i, item in enumerate(items):
        prefix = f"unless[{i}]" if isinstance(raw, list) else "unless"
        group = _parse_conditions(where, prefix, item, kind, loaded)
        if not group:
            raise where.error(prefix, "empty table: remove it or add a condition")
        groups.append(group)
    return tuple(groups)


def _parse_rule(path: Path, index: int, table: dict[str, Any], loaded: _Loaded) -> Rule:
    raw_id = table.get("id")
    where = Where(str(path), f"rule #{index + 1} (no id)")
    rule_id = str_value(where, "id", raw_id) if "id" in table else None
    if rule_id is None:
        raise where.error("id", 'missing (every rule needs an id such as "ACME-WEB-001")')
    if not _ID_RE.fullmatch(rule_id):
        raise Where(str(path), f"rule {rule_id!r}").error(
            "id", "bad id (letters, digits, '-', '_', '.'; at most 64; e.g. ACME-WEB-001)"
        )
    where = Where(str(path), f"rule {rule_id}")
    check_keys(where, "", table, RULE_KEYS)
    for key in ("title", "severity", "message", "remediation"):
        if key not in table:
            raise where.error(key, "missing")
    kind = choice(
        where, "kind", str_value(where, "kind", table.get("kind", "listener")), KINDS, "kind"
    )
    severity = choice(
        where, "severity", str_value(where, "severity", table["severity"]), SEVERITIES, "severity"
    )
    internet_severity = None
    if "internet_severity" in table:
        if kind != "listener":
            raise where.error("internet_severity", f'does not apply to kind = "{kind}"')
        internet_severity = choice(
            where,
            "internet_severity",
            str_value(where, "internet_severity", table["internet_severity"]),
            SEVERITIES,
            "severity",
        )
    fields = FIELDS_BY_KIND[kind]
    templates = {}
    for key in ("title", "message", "remediation"):
        templates[key] = str_value(where, key, table[key])
    for key in ("message", "remediation"):
        check_template(where, key, templates[key], fields)
    rationale = str_value(where, "rationale", table.get("rationale", ""), empty=True)
    references = (
        tuple(str_list(where, "references", table["references"])) if "references" in table else ()
    )
    if kind == "listener" and not table.get("match"):
        raise where.error(
            "match",
            "missing or empty: a listener rule needs at least one condition under [rule.match]",
        )
    conditions = _parse_conditions(where, "match", table.get("match", {}), kind, loaded)
    unless = _parse_unless(where, table.get("unless"), kind, loaded)
    return Rule(
        id=rule_id,
        title=templates["title"],
        severity=severity,
        message=templates["message"],
        remediation=templates["remediation"],
        kind=kind,
        internet_severity=internet_severity,
        rationale=rationale,
        references=references,
        conditions=conditions,
        unless=unless,
        source=str(path),
    )


def _parse_port(path: Path, index: int, table: dict[str, Any], loaded: _Loaded) -> None:
    where = Where(str(path), f"port #{index + 1}")
    if "port" not in table:
        raise where.error("port", "missing")
    ports = port_range(where, "port", table["port"])
    where = Where(str(path), f"port {table['port']}")
    check_keys(where, "", table, PORT_KEYS)
    if len(ports) > MAX_CATALOGUE_RANGE:
        raise where.error("port", f"bad port range: more than {MAX_CATALOGUE_RANGE} ports")
    for key in ("service", "tags", "why"):
        if key not in table:
            raise where.error(key, "missing")
    protocols = _PROTOCOLS(where, "protocol", table.get("protocol", "tcp"))
    service = str_value(where, "service", table["service"])
    tags = tuple(sorted(_TAGS(where, "tags", table["tags"])))
    why = str_value(where, "why", table["why"])
    references = (
        tuple(str_list(where, "references", table["references"])) if "references" in table else ()
    )
    fix = None
    if "fix" in table:
        fix = str_value(where, "fix", table["fix"])
        check_template(where, "fix", fix, FRAMEWORK_FIX_FIELDS)
    for protocol in sorted(protocols):
        for port in ports:
            previous = loaded.ports.get((protocol, port))
            if previous is not None:
                raise where.error(
                    "port",
                    f"duplicate catalogue entry for {port}/{protocol} (also in {previous.source})",
                )
            loaded.ports[(protocol, port)] = PortEntry(
                port, protocol, service, tags, why, references, str(path), fix
            )


def _parse_framework(path: Path, index: int, table: dict[str, Any], loaded: _Loaded) -> None:
    where = Where(str(path), f"framework #{index + 1} (no id)")
    if "id" not in table:
        raise where.error("id", "missing")
    fid = str_value(where, "id", table["id"])
    if not _ID_RE.fullmatch(fid):
        raise Where(str(path), f"framework {fid!r}").error(
            "id", "bad id (letters, digits, '-', '_', '.'; at most 64; e.g. my-server)"
        )
    where = Where(str(path), f"framework {fid}")
    check_keys(where, "", table, FRAMEWORK_KEYS)
    for key in ("name", "fix"):
        if key not in table:
            raise where.error(key, "missing")
    if not any(k in table for k in ("process", "cmdline", "container", "probe")):
        raise where.error(
            "cmdline", "missing: a framework needs process, cmdline, container or probe"
        )
    if "probe_state" in table and "probe" not in table:
        raise where.error("probe_state", "needs probe (the service the probe verified)")
    for other in loaded.frameworks:
        if other.id == fid:
            raise where.error("id", f"duplicate framework id (also in {other.source})")
    fix = str_value(where, "fix", table["fix"])
    check_template(where, "fix", fix, FRAMEWORK_FIX_FIELDS)
    container = None
    if "container" in table:
        container = boolean(where, "container", table["container"])
    rebind_fix = None
    if "rebind_fix" in table:
        rebind_fix = str_value(where, "rebind_fix", table["rebind_fix"])
        check_template(where, "rebind_fix", rebind_fix, FRAMEWORK_FIX_FIELDS)
    listen_flag = None
    if "listen_flag" in table:
        listen_flag = regex(where, "listen_flag", table["listen_flag"])
    if listen_flag is not None and "port" not in listen_flag.groupindex:
        raise where.error("listen_flag", "needs a group named port: (?P<port>\\d+)")
    default_port = None
    if "default_port" in table:
        ports_ = port_range(where, "default_port", table["default_port"])
        if len(ports_) != 1:
            raise where.error("default_port", "one port number")
        default_port = ports_[0]
    loaded.frameworks.append(
        Framework(
            id=fid,
            name=str_value(where, "name", table["name"]),
            fix=fix,
            process=globs(where, "process", table["process"]) if "process" in table else None,
            cmdline=regex(where, "cmdline", table["cmdline"]) if "cmdline" in table else None,
            ports=ports(where, "port", table["port"]) if "port" in table else None,
            container=container,
            source=str(path),
            describes=boolean(where, "describes", table.get("describes", True)),
            env=regex(where, "env", table["env"]) if "env" in table else None,
            listen_flag=listen_flag,
            default_port=default_port,
            tags=tuple(sorted(_TAGS(where, "tags", table["tags"]))) if "tags" in table else None,
            references=(
                tuple(str_list(where, "references", table["references"]))
                if "references" in table
                else ()
            ),
            rebind_fix=rebind_fix,
            probe=(
                tuple(sorted(_PROBE_SERVICES(where, "probe", table["probe"])))
                if "probe" in table
                else None
            ),
            probe_state=(
                tuple(sorted(_PROBE_STATES(where, "probe_state", table["probe_state"])))
                if "probe_state" in table
                else None
            ),
        )
    )


_PROBE_SERVICES = choices(PROBE_SERVICES, "probed service")
_PROBE_STATES = choices(PROBE_STATES, "probed state")


def _load_doc(path: Path, doc: dict[str, Any], loaded: _Loaded) -> int:
    for key in doc:
        if key not in TOP_LEVEL_KEYS:
            hint = " (waivers belong in the config file, see --config)" if key == "waiver" else ""
            raise ConfigError(
                f"{path}: unknown top-level key '{shown(key)}'"
                f"{did_you_mean(key, TOP_LEVEL_KEYS)}{hint}"
                f" (a rule file holds [[rule]], [[framework]] and [[port]] tables)"
            )
    for i, table in enumerate(_tables(path, doc, "port")):
        _parse_port(path, i, table, loaded)
    for i, table in enumerate(_tables(path, doc, "framework")):
        _parse_framework(path, i, table, loaded)
    rules = _tables(path, doc, "rule")
    for i, table in enumerate(rules):
        rule = _parse_rule(path, i, table, loaded)
        first = loaded.rule_files.get(rule.id)
        if first is not None:
            raise Where(str(path), f"rule {rule.id}").error(
                "id", f"duplicate rule id (also defined in {first})"
            )
        loaded.rule_files[rule.id] = str(path)
        loaded.rules.append(rule)
    return len(rules)


def rule_files(path: Path) -> list[Path]:
    """The rule files a path names: itself, or a directory's ``*.toml`` (not recursive)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.glob("*.toml") if p.is_file())
        if not files:
            raise ConfigError(f"{path}: no .toml rule files in this directory")
        return files
    raise ConfigError(f"{path}: no such rules file or directory")


def load_files(files: Sequence[Path]) -> RuleSet:
    """Load and cross-check the given rule files (in order)."""
    return load_documents((path, read_toml(path)) for path in files)


def load_documents(docs: Iterable[tuple[Path, dict[str, Any]]]) -> RuleSet:
    """Validate parsed TOML documents (path, document) in order, and cross-check them."""
    loaded = _Loaded()
    files: list[Path] = []
    for path, doc in docs:
        files.append(path)
        if len(files) > MAX_RULE_FILES:
            raise ConfigError(f"{path}: more than {MAX_RULE_FILES} rule files: not loading more")
        _load_doc(path, doc, loaded)
        if len(loaded.rules) > MAX_RULES:
            raise ConfigError(
                f"{path}: more than {MAX_RULES} rules in all: not loading more "
                "(merge rules that differ only in their values)"
            )
    known = {f.id for f in loaded.frameworks}
    for where, key, names in loaded.framework_refs:
        for name in sorted(names):
            if name not in known:
                raise where.error(key, f"unknown framework '{name}'{did_you_mean(name, known)}")
    return RuleSet(
        rules=tuple(loaded.rules),
        catalogue=Catalogue(loaded.ports),
        frameworks=tuple(loaded.frameworks),
        files=tuple(files),
    )


def load_ruleset(rule_dirs: Sequence[Path], builtin: bool = True) -> RuleSet:
    """Built-in rules (unless ``builtin`` is False), then each ``--rules`` path in order.

    A path may be a directory (its ``*.toml`` files) or one file. A path already loaded
    (e.g. the built-in directory named again) is loaded once.
    """
    files: list[Path] = []
    if builtin:
        files.extend(rule_files(resources.rules_dir()))
    for d in rule_dirs:
        files.extend(rule_files(Path(d)))
    unique: dict[Path, Path] = {}
    for f in files:
        unique.setdefault(f.resolve(), f)
    return load_files(list(unique.values()))


# --------------------------------------------------------------------------- CLI options
