"""The package's folders are the pipeline's stages, and imports go one way only:

    core  <  policy  <  analysis  <  reporting  <  automation  <  commands  <  cli
      ^
    collectors   (touch the machine; only commands and cli run them)

A module imports from its own folder or from a folder to its left; every import counts,
also one inside a function or under TYPE_CHECKING. See docs/architecture.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "exposure_audit"

ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset({"core"}),
    "collectors": frozenset({"core", "collectors"}),
    "policy": frozenset({"core", "policy"}),
    "analysis": frozenset({"core", "policy", "analysis"}),
    "reporting": frozenset({"core", "policy", "analysis", "reporting"}),
    "automation": frozenset({"core", "policy", "analysis", "reporting", "automation"}),
}
TOP_LEVEL = {"__init__", "__main__", "cli"}  # the entry points: may import anything
STAGES = {*ALLOWED, "commands"}


def _stage(module: str) -> str | None:
    """'exposure_audit.analysis.engine' -> 'analysis'; the package itself -> None."""
    parts = module.split(".")
    if parts[0] != "exposure_audit" or len(parts) == 1:
        return None
    return parts[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "exposure_audit":
                # from exposure_audit import X: X is a module of the package or __version__
                found.extend((node.lineno, f"exposure_audit.{a.name}") for a in node.names)
            else:
                found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level:
            pytest.fail(f"{path}:{node.lineno}: relative import; the package uses absolute ones")
    return [(n, m) for n, m in found if m.startswith("exposure_audit")]


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "_data" not in p.parts)


def violations(files: list[Path], package: Path = PACKAGE) -> list[str]:
    out = []
    for path in files:
        rel = path.relative_to(package)
        here = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        for line, target in _imports(path):
            there = _stage(target)
            if there is None or there in TOP_LEVEL or there == "__version__":
                if there == "cli" and here != "__main__":
                    out.append(f"{rel}:{line} imports {target} (only __main__ runs the CLI)")
                continue
            if there not in STAGES:
                out.append(f"{rel}:{line} imports {target}: not a stage folder")
            elif here in TOP_LEVEL or here == "commands":
                if there == "commands" and here not in ("commands", "cli"):
                    out.append(f"{rel}:{line} imports {target} (nothing imports commands)")
            elif there not in ALLOWED.get(here, frozenset()):
                out.append(f"{rel}:{line}: {here} may not import {there} ({target})")
    return out


def test_every_module_lives_in_a_stage_folder() -> None:
    loose = [
        p.name for p in PACKAGE.glob("*.py") if p.stem not in TOP_LEVEL and p.stem != "__init__"
    ]
    assert loose == [], "modules outside a stage folder: " + ", ".join(loose)
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == STAGES


def test_imports_go_one_way() -> None:
    bad = violations(_modules())
    assert bad == [], "imports against the pipeline's direction:\n" + "\n".join(bad)


@pytest.mark.parametrize(
    ("folder", "source", "expect"),
    [
        ("analysis", "from exposure_audit.collectors.listeners import collect_listeners", True),
        ("analysis", "def f():\n    from exposure_audit.commands import run\n", True),
        ("reporting", "import exposure_audit.automation.history", True),
        ("core", "from exposure_audit.policy import config", True),
        ("collectors", "from exposure_audit.analysis import engine", True),
        ("automation", "from exposure_audit.reporting import prometheus", False),
        ("analysis", "from exposure_audit.core.model import Facts", False),
        ("commands", "from exposure_audit.collectors.collect import collect_facts", False),
    ],
)
def test_the_check_catches_an_import_against_the_direction(
    tmp_path: Path, folder: str, source: str, expect: bool
) -> None:
    fake = tmp_path / "exposure_audit"
    (fake / folder).mkdir(parents=True)
    (fake / folder / "mod.py").write_text(source + "\n")
    assert bool(violations([fake / folder / "mod.py"], fake)) is expect
