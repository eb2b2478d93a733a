"""Whether terminal output may carry colour (ANSI escape sequences): the one decision.

Colour only when all hold: no ``--no-color``, no ``NO_COLOR`` (https://no-color.org: any
non-empty value), the stream is a terminal, and the terminal interprets the sequences.
The last one matters on Windows: a console without virtual-terminal processing prints
``ESC[31m`` as text. There the mode is switched on (``SetConsoleMode`` with
``ENABLE_VIRTUAL_TERMINAL_PROCESSING``, Windows 10 1511 and later); where that fails
(an older console, a handle that is not a console) the output has no colour at all.

Colour is only ever added around text that already went through core/termtext.py: the
escaping of untrusted text does not depend on this decision.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

ENABLE_VIRTUAL_TERMINAL_PROCESSING = 0x0004
_STD_HANDLES = {1: -11, 2: -12}  # fd -> STD_OUTPUT_HANDLE, STD_ERROR_HANDLE


def enable_windows_vt(fd: int) -> bool:
    """Switch on virtual-terminal processing for the console behind ``fd`` (1 or 2);
    True when it is on afterwards. False off Windows or for a handle that is no console."""
    handle_id = _STD_HANDLES.get(fd)
    if handle_id is None:
        return False
    try:
        import ctypes
        from ctypes import wintypes

        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
    except (ImportError, AttributeError, OSError):
        return False
    try:
        handle = kernel32.GetStdHandle(handle_id)
        mode = wintypes.DWORD()
        if not kernel32.GetConsoleMode(handle, ctypes.byref(mode)):
            return False  # redirected, or not a console
        vt = ENABLE_VIRTUAL_TERMINAL_PROCESSING
        if mode.value & vt:
            return True
        return bool(kernel32.SetConsoleMode(handle, mode.value | vt))
    except (AttributeError, OSError, ValueError):
        return False


def use_color(
    stream: Any = None,
    no_color: bool = False,
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    enable_vt: Callable[[int], bool] = enable_windows_vt,
) -> bool:
    """Colour on ``stream`` (default: standard output)? See the module docstring."""
    stream = sys.stdout if stream is None else stream
    environ = os.environ if env is None else env
    if no_color or environ.get("NO_COLOR", ""):
        return False
    try:
        if not stream.isatty():
            return False
    except (AttributeError, ValueError, OSError):
        return False
    if (sys.platform if platform is None else platform).startswith("win"):
        try:
            fd = stream.fileno()
        except (AttributeError, ValueError, OSError):
            return False
        return enable_vt(fd)
    return True
