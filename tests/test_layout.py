"""The package's layout keeps the design visible: a pure core, drivers around it, no cycles."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "streams"
FORBIDDEN_IN_CORE = ("faust", "mode", "aiokafka", "kafka", "prometheus_client", "rocksdict",
                     "streams.kafka", "streams.offline", "streams.cli", "asyncio", "socket")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (TYPE_CHECKING and function bodies too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from streams.core import fold` imports the module streams.core.fold
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n.startswith("streams.core")))
def test_the_core_imports_nothing_of_kafka_faust_or_the_drivers(name: str) -> None:
    bad = sorted(m for m in _imports(MODULES[name])
                 if any(m == f or m.startswith(f + ".") for f in FORBIDDEN_IN_CORE))
    assert not bad, f"{name} imports {bad}"


def test_importing_the_core_loads_no_kafka_client() -> None:
    code = ("import sys, pkgutil, importlib, streams.core as c\n"
            "for m in pkgutil.iter_modules(c.__path__):\n"
            "    importlib.import_module('streams.core.' + m.name)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('faust', 'aiokafka', 'mode', 'rocksdict', 'prometheus_client')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=60).stdout.strip()
    assert out == "[]"


def test_the_package_has_no_import_cycle() -> None:
    graph = {name: {m for m in _imports(path) if m in MODULES and m != name}
             for name, path in MODULES.items()}
    # A package's __init__ is imported with any of its modules; it imports none of them here.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt):], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_the_subpackages_are_the_design() -> None:
    subpackages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    assert subpackages == ["core", "kafka", "offline"]
    top = sorted(p.stem for p in PACKAGE.glob("*.py"))
    assert top == ["__init__", "cli", "errors"]
