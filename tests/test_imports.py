"""The shape of the code: who imports whom, read from the source with ``ast``.

Every import counts, at the top of a module or inside a function: an import
moved into a function still ties the two modules together, it only hides the
cycle until the function runs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("data", "web", "callbacks", "layouts")
KNOWN_CYCLES: set[frozenset[str]] = set()  # none left; never add one


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def app_modules() -> dict[str, Path]:
    """Every module of the app: its packages and ``app.py``."""
    found = {"app": ROOT / "app.py"}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The app's modules that ``name`` imports, wherever the import is."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = name.split(".")
                parent = parent[:len(parent) - node.level + is_package]
                base = ".".join([*parent, *([base] if base else [])])
            # ``from web import auth`` imports the module web.auth
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known
                       else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # a name inside a module
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    known = app_modules()
    return {name: imported(name, path, known) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each back edge a depth-first search meets."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_the_import_graph_reads_function_level_imports():
    graph = import_graph()
    assert "web.factory" in graph["app"]  # imported inside build()
    assert {"web.auth", "web.signin"} <= graph["web.factory"]


def test_a_cycle_is_found_however_long():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_the_app_imports_itself_back():
    found = [c for c in cycles(import_graph()) if frozenset(c) not in KNOWN_CYCLES]
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_layouts_import_nothing_of_the_web_tier():
    graph = import_graph()
    found = sorted(f"{name} imports {target}" for name, targets in graph.items()
                   if name.startswith("layouts") for target in targets
                   if target.split(".")[0] == "web")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("path", sorted(
    p for folder in ("bench", "scripts") for p in (ROOT / folder).rglob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)))
def test_benchmarks_and_scripts_still_import(path):
    """They run rarely; a module moved under them must fail here, not on the
    day someone measures."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_checked_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # their main() runs only under __main__
