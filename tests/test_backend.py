"""Backend choice: by platform, forced by --backend or EXPOSURE_AUDIT_BACKEND."""

from __future__ import annotations

import pytest

from exposure_audit.collectors.backend import BackendError, choose_backend, default_backend
from exposure_audit.collectors.portable import match_names, unknown_fields
from exposure_audit.core.model import Listener


def test_default_is_native_on_linux_portable_elsewhere() -> None:
    assert default_backend("linux") == "native"
    assert default_backend("darwin") == "portable"
    assert default_backend("win32") == "portable"


def test_flag_beats_environment_beats_platform() -> None:
    env = {"EXPOSURE_AUDIT_BACKEND": "portable"}
    assert choose_backend(None, env, "linux") == "portable"
    assert choose_backend("native", env, "linux") == "native"
    assert choose_backend(None, {}, "linux") == "native"
    assert choose_backend("auto", env, "darwin") == "portable"
    assert choose_backend(None, {"EXPOSURE_AUDIT_BACKEND": " Auto "}, "win32") == "portable"


def test_bad_or_impossible_backend_is_a_usage_error() -> None:
    with pytest.raises(BackendError, match="EXPOSURE_AUDIT_BACKEND"):
        choose_backend(None, {"EXPOSURE_AUDIT_BACKEND": "kernel"}, "linux")
    with pytest.raises(BackendError, match="only the portable"):
        choose_backend("native", {}, "darwin")


def test_unknown_fields_are_declared_per_listener() -> None:
    def mk(address: str, family: str, source: str = "psutil") -> Listener:
        return Listener(protocol="tcp", family=family, address=address, port=1, source=source)

    assert unknown_fields(mk("::", "ipv6", "sock_diag")) == ()
    assert unknown_fields(mk("0.0.0.0", "ipv4")) == ("bound_interface",)
    assert unknown_fields(mk("::", "ipv6")) == ("bound_interface", "v6only")
    assert unknown_fields(mk("fe80::1", "ipv6", "lsof")) == ("bound_interface", "zone")
    assert unknown_fields(mk("fd00::1", "ipv6")) == ("bound_interface",)


def test_windows_guid_names_match_friendly_names_by_address() -> None:
    ni = {"{4B3C-GUID}": {"192.168.1.20", "fe80::1"}, "lo": {"127.0.0.1"}, "{EMPTY}": set()}
    ps = {"Wi-Fi": {"192.168.1.20"}, "lo": {"127.0.0.1"}, "Ethernet": set()}
    assert match_names(ni, ps) == {"{4B3C-GUID}": "Wi-Fi", "lo": "lo"}
