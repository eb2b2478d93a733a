"""The config file: waivers, and defaults that flags override.

Default location ``$XDG_CONFIG_HOME/exposure-audit/config.toml`` (else
``~/.config/exposure-audit/config.toml``; on Windows ``%APPDATA%\\exposure-audit\\
config.toml``: core/paths.py), used when it exists; ``--config PATH`` names
another, which must exist. Format (see rules/README.md)::

    [defaults]
    fail_on = "high"          # info | low | medium | high | critical
    default_waivers = true    # false: same as --no-default-waivers
    probe = true              # false: same as --no-probe (ask no service what it is)

    [[waiver]]
    rule = "EA-DEV-001"       # a rule id, or a glob: "EA-DEV-*", "*"
    port = 8000               # optional
    protocol = "tcp"          # optional
    process = "python*"       # optional, glob on the process name
    address = "0.0.0.0"       # optional, an address or a network (CIDR)
    reason = "demo box on an isolated network"   # required
    expires = 2026-12-31      # optional TOML date: the waiver holds through that day

    [webhook]                 # what --webhook and its flags say; flags win
    url = "https://hooks.example.com/T0/B0/x"   # keep the file private (chmod 600)
    changes_only = true       # --webhook-changes-only
    strict = false            # --webhook-strict
    timeout = 5               # --webhook-timeout, seconds

Every section and key is validated strictly here; any other is an error, so a typo does
not silently disable a setting.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
from pathlib import Path
from typing import Any

from exposure_audit.core import paths, records, resources
from exposure_audit.core.errors import ConfigError, shown
from exposure_audit.core.model import SEVERITIES, Waiver
from exposure_audit.core.records import field, record
from exposure_audit.policy.conditions import PROTOCOLS
from exposure_audit.policy.files import did_you_mean, read_toml, type_name

# The sections of the file; anything else is an error.
OWN_SECTIONS: tuple[str, ...] = ("defaults", "waiver", "webhook")

DEFAULTS_KEYS: tuple[str, ...] = ("fail_on", "default_waivers", "probe")
WEBHOOK_KEYS: tuple[str, ...] = ("url", "changes_only", "strict", "timeout")
WAIVER_KEYS: tuple[str, ...] = (
    "rule",
    "reason",
    "port",
    "protocol",
    "process",
    "address",
    "expires",
    "exe",
    "os",
)
WAIVER_OSES: tuple[str, ...] = ("linux", "darwin", "freebsd", "windows")
DEFAULT_WAIVERS_FILE = Path("waivers") / "default-waivers.toml"


@record
class WebhookConfig:
    """The [webhook] section: defaults for --webhook and its flags."""

    url: str | None = None
    changes_only: bool = False
    strict: bool = False
    timeout: float | None = None
    private: bool = True  # the config file is readable by its owner only


@record
class Config:
    waivers: tuple[Waiver, ...] = ()
    path: Path | None = None  # the file read, None when there was none
    fail_on: str | None = None  # [defaults] fail_on; --fail-on overrides it
    default_waivers: bool = True  # [defaults] default_waivers
    probe: bool = True  # [defaults] probe; --no-probe overrides it
    webhook: WebhookConfig = field(default_factory=WebhookConfig)


def default_config_path() -> Path:
    """The per-OS default (core/paths.py): ``$XDG_CONFIG_HOME/exposure-audit/config.toml``
    or ``~/.config/...`` on Linux and macOS, ``%APPDATA%\\exposure-audit\\config.toml``
    on Windows."""
    return paths.config_file()


def _default_config_file() -> Path | None:
    """The default config file when there is one this user may trust, else None.

    Not there, or not reachable (HOME of another user, unreadable): None, as if absent.
    There but owned by another user than this one or root, or writable by others (root
    run with another user's HOME or XDG_CONFIG_HOME): a ConfigError, since its waivers
    would let that user hide what they expose. ``--config PATH`` names a file explicitly.
    """
    import stat

    try:
        candidate = default_config_path()
    except (RuntimeError, KeyError, OSError):  # no HOME, no passwd entry
        return None
    try:
        st = candidate.stat()
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None:
        # Windows: no uid or group bits to check (its ACLs are not read); %APPDATA% is
        # in the user's own profile, which other users cannot write by default.
        return candidate
    if st.st_uid not in (0, geteuid()):
        raise ConfigError(
            f"{candidate}: the default config file belongs to uid {st.st_uid}, not to this "
            f"user (uid {geteuid()}): refusing its waivers (name a file with --config)"
        )
    if st.st_mode & 0o022:
        raise ConfigError(
            f"{candidate}: the default config file is writable by others: refusing it "
            "(chmod go-w, or name a file with --config)"
        )
    return candidate


def _fail(path: Path, what: str, key: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {what}: key '{shown(key)}': {shown(message)}")


def _parse_expires(path: Path, what: str, value: Any) -> str:
    if isinstance(value, _dt.datetime):
        raise _fail(path, what, "expires", "expected a date such as 2026-12-31, not a date-time")
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise _fail(path, what, "expires", f"expected a date such as 2026-12-31, got {value!r}")


def _parse_address(path: Path, what: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(path, what, "address", f"expected a string, got {type_name(value)}")
    text = value.strip()
    try:
        if "/" in text:
            return str(ipaddress.ip_network(text, strict=False))
        return ipaddress.ip_address(text).compressed
    except ValueError:
        raise _fail(path, what, "address", f"not an IP address or network: {value!r}") from None


def _str(path: Path, what: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _fail(path, what, key, f"expected a string, got {type_name(value)}")
    if not value.strip():
        raise _fail(path, what, key, "must not be empty")
    return value.strip()


def parse_waivers(path: Path, tables: Any, source: str) -> tuple[Waiver, ...]:
    """``[[waiver]]`` tables into Waivers (``source``: "config" or "builtin")."""
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(f"{path}: 'waiver' must be an array of tables, written [[waiver]]")
    waivers = []
    for i, table in enumerate(tables):
        what = f"waiver #{i + 1}"
        if isinstance(table.get("rule"), str):
            what += f" (rule {shown(table['rule'])})"
        for key in table:
            if key not in WAIVER_KEYS:
                raise _fail(
                    path,
                    what,
                    key,
                    f"unknown key{did_you_mean(key, WAIVER_KEYS)}"
                    f" (allowed: {', '.join(WAIVER_KEYS)})",
                )
        if "rule" not in table:
            raise _fail(path, what, "rule", 'missing (a rule id or glob, e.g. "EA-DEV-*")')
        if "reason" not in table:
            raise _fail(path, what, "reason", "missing (say why this finding is acceptable)")
        port = table.get("port")
        if port is not None and (
            isinstance(port, bool) or not isinstance(port, int) or not 0 < port <= 65535
        ):
            raise _fail(path, what, "port", f"expected a port number 1-65535, got {port!r}")
        protocol = table.get("protocol")
        if protocol is not None and protocol not in PROTOCOLS:
            raise _fail(path, what, "protocol", f'expected "tcp" or "udp", got {protocol!r}')
        exe = _parse_exe(path, what, table.get("exe"))
        if source == "builtin" and not exe:
            raise _fail(path, what, "exe", "missing: a built-in waiver names the executable")
        os_name = table.get("os")
        if os_name is not None and (not isinstance(os_name, str) or os_name not in WAIVER_OSES):
            raise _fail(path, what, "os", f"expected one of {', '.join(WAIVER_OSES)}")
        waivers.append(
            Waiver(
                rule=_str(path, what, "rule", table["rule"]),
                reason=_str(path, what, "reason", table["reason"]),
                port=port,
                process=_str(path, what, "process", table["process"])
                if "process" in table
                else None,
                address=_parse_address(path, what, table["address"])
                if "address" in table
                else None,
                expires=_parse_expires(path, what, table["expires"])
                if "expires" in table
                else None,
                source=source,
                protocol=protocol,
                exe=exe,
                os=os_name,
            )
        )
    return tuple(waivers)


def _parse_exe(path: Path, what: str, value: Any) -> tuple[str, ...]:
    """``exe``: an absolute path glob, or a list of them (``*`` stays within one
    directory level)."""
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise _fail(path, what, "exe", "expected an absolute path or a list of them")
    out = []
    for v in values:
        if not isinstance(v, str) or not v.startswith("/") or not v.isprintable():
            raise _fail(path, what, "exe", f"expected an absolute path, got {shown(v)!r}")
        out.append(v)
    return tuple(out)


def read_default_waivers() -> tuple[Waiver, ...]:
    path = resources.rules_dir() / DEFAULT_WAIVERS_FILE
    doc = read_toml(path)
    for key in doc:
        if key != "waiver":
            raise ConfigError(
                f"{path}: unknown top-level key '{shown(key)}' (only [[waiver]] here)"
            )
    return parse_waivers(path, doc.get("waiver", []), "builtin")


def parse_config(path: Path, doc: dict[str, Any]) -> Config:
    for key in doc:
        if key not in OWN_SECTIONS:
            known = sorted(OWN_SECTIONS)
            raise ConfigError(
                f"{path}: unknown top-level key '{shown(key)}'{did_you_mean(key, known)}"
                f" (known sections: {', '.join(known)})"
            )
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ConfigError(f"{path}: 'defaults' must be a table, written [defaults]")
    for key in defaults:
        if key not in DEFAULTS_KEYS:
            raise _fail(
                path,
                "[defaults]",
                key,
                f"unknown key{did_you_mean(key, DEFAULTS_KEYS)}"
                f" (allowed: {', '.join(DEFAULTS_KEYS)})",
            )
    fail_on = defaults.get("fail_on")
    if fail_on is not None and fail_on not in SEVERITIES:
        raise _fail(
            path,
            "[defaults]",
            "fail_on",
            f"unknown severity {fail_on!r}{did_you_mean(str(fail_on), SEVERITIES)}"
            f" (expected one of: {', '.join(SEVERITIES)})",
        )
    default_waivers = defaults.get("default_waivers", True)
    if not isinstance(default_waivers, bool):
        raise _fail(path, "[defaults]", "default_waivers", "expected true or false")
    probe = defaults.get("probe", True)
    if not isinstance(probe, bool):
        raise _fail(path, "[defaults]", "probe", "expected true or false")
    return Config(
        waivers=parse_waivers(path, doc.get("waiver", []), "config"),
        path=path,
        fail_on=fail_on,
        default_waivers=default_waivers,
        probe=probe,
        webhook=parse_webhook(path, doc.get("webhook", {})),
    )


def parse_webhook(path: Path, table: Any) -> WebhookConfig:
    """The [webhook] section, checked as strictly as the flags it stands for."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: 'webhook' must be a table, written [webhook]")
    what = "[webhook]"
    for key in table:
        if key not in WEBHOOK_KEYS:
            allowed = ", ".join(WEBHOOK_KEYS)
            hint = did_you_mean(key, WEBHOOK_KEYS)
            raise _fail(path, what, key, f"unknown key{hint} (allowed: {allowed})")
    url = None
    if "url" in table:
        from exposure_audit.core.errors import UsageError
        from exposure_audit.core.urls import validate_url

        url = _str(path, what, "url", table["url"])
        try:
            validate_url(url)
        except UsageError as exc:
            raise _fail(path, what, "url", str(exc).removeprefix("--webhook: ")) from None
    flags = {}
    for key in ("changes_only", "strict"):
        value = table.get(key, False)
        if not isinstance(value, bool):
            raise _fail(path, what, key, "expected true or false")
        flags[key] = value
    timeout = table.get("timeout")
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise _fail(path, what, "timeout", f"expected a number of seconds, got {timeout!r}")
        if not 0 < timeout <= 300:
            raise _fail(path, what, "timeout", f"must be above 0 and at most 300, got {timeout!r}")
        timeout = float(timeout)
    if (flags["changes_only"] or flags["strict"] or timeout is not None) and url is None:
        raise _fail(path, what, "url", "missing: the other webhook settings need it")
    try:
        # Windows has no mode bits (every file reads 0o666; its ACL is not read): no
        # "chmod 600" warning there.
        private = not hasattr(os, "geteuid") or not os.stat(path).st_mode & 0o077
    except OSError:
        private = True
    return WebhookConfig(url, flags["changes_only"], flags["strict"], timeout, private)


def load_config(path: Path | None, builtin_waivers: bool = True) -> Config:
    """The config file (explicit ``path``, else the default location if it exists), with
    the built-in default waivers appended unless switched off (here or in the file)."""
    if path is None:
        candidate = _default_config_file()
        config = (
            parse_config(candidate, read_toml(candidate, "a config file"))
            if candidate is not None
            else Config()
        )
    else:
        if not Path(path).is_file():
            raise ConfigError(f"{path}: config file not found")
        config = parse_config(Path(path), read_toml(Path(path), "a config file"))
    if builtin_waivers and config.default_waivers:
        config = records.replace(config, waivers=config.waivers + read_default_waivers())
    return config
