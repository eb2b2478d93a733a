"""Where exposure-audit keeps its state and reads its config, per OS: the one place.

=========  ==================================================  =========================
OS         state directory (``--state-dir`` overrides)           config file (``--config``)
=========  ==================================================  =========================
Linux      ``$XDG_STATE_HOME/exposure-audit``, else              ``$XDG_CONFIG_HOME/
           ``~/.local/state/exposure-audit`` (root too)          exposure-audit/config.toml``,
                                                                 else ``~/.config/...``
macOS      ``$XDG_STATE_HOME/exposure-audit`` when set, else     as on Linux
           ``~/Library/Application Support/exposure-audit``;
           root: ``/Library/Application Support/exposure-audit``
Windows    ``%LOCALAPPDATA%\\exposure-audit`` (elevated too)      ``%APPDATA%\\exposure-audit\\
                                                                 config.toml``
=========  ==================================================  =========================

Why these:

- macOS state goes where macOS keeps application data (``Application Support``); root's
  goes to the system one, since ``sudo`` on macOS may keep the user's ``HOME`` and root's
  reports would otherwise land, root-owned, in the user's home where the next unprivileged
  run cannot replace them.
- macOS config stays ``~/.config``, as on Linux: it is a file people edit by hand and
  copy between machines, the README names one path for both, and ``~/Library/
  Preferences`` belongs to the preferences daemon (property lists, cached by
  ``cfprefsd``), not to hand-edited TOML. git, gh, fish and most command-line tools do
  the same. An explicit ``XDG_*`` variable is honoured on macOS as on Linux.
- Windows never uses ``%ProgramData%`` by default, also elevated: any user may create a
  folder there first and own it, and without reading ACLs (no new dependency) the tool
  could not tell; an elevated run would then write its reports into, and read "the
  previous run" from, a folder an unprivileged user controls. ``%LOCALAPPDATA%`` is in
  the running account's own profile (for the SYSTEM account of a ``schedule --schtasks
  --system`` task: ``%SystemRoot%\\System32\\config\\systemprofile\\AppData\\Local``).
  ``XDG_*`` variables are not read on Windows.

Every function takes the platform (``sys.platform`` spelling) and the environment as
parameters, so the decisions are tested here for every OS.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

from exposure_audit.core.privilege import is_elevated, os_family

APP = "exposure-audit"
CONFIG_NAME = "config.toml"
LINUX_SYSTEM_STATE_DIR = "/var/lib/exposure-audit"
MACOS_SYSTEM_STATE_DIR = "/Library/Application Support/exposure-audit"


def _pure(platform: str | None) -> type[PurePath]:
    return PureWindowsPath if os_family(platform) == "windows" else PurePosixPath


def _out(p: PurePath) -> Path:
    # A Windows path simulated on Linux keeps its backslashes in one string component.
    return Path(str(p))


def _home(platform: str | None, env: dict[str, str]) -> PurePath:
    pure = _pure(platform)
    if os_family(platform) == "windows":
        profile = env.get("USERPROFILE", "").strip()
        if profile:
            return pure(profile)
        drive, rest = env.get("HOMEDRIVE", ""), env.get("HOMEPATH", "")
        if drive and rest:
            return pure(drive + rest)
    return pure(env.get("HOME") or os.path.expanduser("~"))


def _absolute_var(env: dict[str, str], name: str, platform: str | None) -> PurePath | None:
    """An environment variable naming an absolute directory, else None (the XDG spec:
    a relative value is ignored; likewise on Windows)."""
    value = env.get(name, "").strip()
    if not value:
        return None
    p = _pure(platform)(value)
    return p if p.is_absolute() else None


def _env(env: dict[str, str] | None) -> dict[str, str]:
    return dict(os.environ) if env is None else env


def state_dir(
    platform: str | None = None,
    env: dict[str, str] | None = None,
    elevated: bool | None = None,
) -> Path:
    """The default state directory (history, lock) for this user on ``platform``."""
    env = _env(env)
    family = os_family(platform)
    if family == "windows":
        local = _absolute_var(env, "LOCALAPPDATA", platform)
        if local is None:
            local = _home(platform, env) / "AppData" / "Local"
        return _out(local / APP)
    if family == "macos":
        if is_elevated(platform) if elevated is None else elevated:
            return Path(MACOS_SYSTEM_STATE_DIR)
        xdg = _absolute_var(env, "XDG_STATE_HOME", platform)
        if xdg is not None:
            return _out(xdg / APP)
        return _out(_home(platform, env) / "Library" / "Application Support" / APP)
    xdg = _absolute_var(env, "XDG_STATE_HOME", platform)
    if xdg is not None:
        return _out(xdg / APP)
    return _out(_home(platform, env) / ".local" / "state" / APP)


def system_state_dir(platform: str | None = None, env: dict[str, str] | None = None) -> Path:
    """The state directory of a machine-wide scheduled run (root's systemd unit or
    LaunchDaemon, the SYSTEM account's task)."""
    family = os_family(platform)
    if family == "windows":
        env = _env(env)
        root = _absolute_var(env, "SystemRoot", platform) or _absolute_var(
            env, "SYSTEMROOT", platform
        )
        base = root or PureWindowsPath("C:\\Windows")
        return _out(base / "System32" / "config" / "systemprofile" / "AppData" / "Local" / APP)
    if family == "macos":
        return Path(MACOS_SYSTEM_STATE_DIR)
    return Path(LINUX_SYSTEM_STATE_DIR)


def config_file(platform: str | None = None, env: dict[str, str] | None = None) -> Path:
    """The default config file for this user on ``platform`` (used when it exists)."""
    env = _env(env)
    if os_family(platform) == "windows":
        roaming = _absolute_var(env, "APPDATA", platform)
        if roaming is None:
            roaming = _home(platform, env) / "AppData" / "Roaming"
        return _out(roaming / APP / CONFIG_NAME)
    xdg = _absolute_var(env, "XDG_CONFIG_HOME", platform)
    base = xdg if xdg is not None else _home(platform, env) / ".config"
    return _out(base / APP / CONFIG_NAME)


def state_dir_help(platform: str | None = None) -> str:
    """The default state directory in words, for --help."""
    family = os_family(platform)
    if family == "windows":
        return "%LOCALAPPDATA%\\exposure-audit"
    if family == "macos":
        return (
            "~/Library/Application Support/exposure-audit (root: /Library/Application Support/...)"
        )
    return "$XDG_STATE_HOME/exposure-audit or ~/.local/state/exposure-audit"
