"""scripts/precompile_templates.py, loaded as a module (it is a script, not a package
module) for the tests of the precompiled templates."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def load() -> Any:
    spec = importlib.util.spec_from_file_location(
        "precompile_templates", ROOT / "scripts" / "precompile_templates.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
