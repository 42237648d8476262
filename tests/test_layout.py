"""The package's map: imports point one way (DESIGN section 2), and no checkpoint can run code.

Every import counts, including those inside functions: a lazy import hides a cycle
from Python, not from a reader.
"""
from __future__ import annotations

import ast
from pathlib import Path

import edgegen

PACKAGE = Path(edgegen.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The edgegen modules ``path`` imports anywhere in its body (resolved to modules that exist)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in modules}
    return found


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    graph = {}
    for name, path in files.items():
        targets = _imports(path, modules) - {name}
        # `from edgegen.x import y` names the package x too; a package's __init__ is not a dependency here
        graph[name] = {t for t in targets if not (files[t].name == "__init__.py" and any(
            o.startswith(t + ".") for o in targets))}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_counting_imports_inside_functions():
    assert find_cycle(import_graph()) is None


def _edges(graph, source_prefix, target_prefix):
    return sorted((s, t) for s, targets in graph.items() if s.startswith(source_prefix)
                  for t in targets if t.startswith(target_prefix))


def test_imports_point_one_way():
    graph = import_graph()
    for lower in ("edgegen.runtime", "edgegen.cli"):
        for upper in ("edgegen.training", "edgegen.export"):
            assert _edges(graph, lower, upper) == [], f"{lower} must not import {upper}"
    assert _edges(graph, "edgegen.runtime", "edgegen.cli") == []
    assert _edges(graph, "edgegen.training", "edgegen.export") == []
    # live/ uses the rest of the runtime; the rest never reaches into live/
    inner = [(s, t) for s, t in _edges(graph, "edgegen.runtime", "edgegen.runtime.live")
             if not s.startswith("edgegen.runtime.live")]
    assert inner == []
    assert _edges(graph, "edgegen.training.letters", "edgegen.training.drums") == []
    assert _edges(graph, "edgegen.training.drums", "edgegen.training.letters") == []


def test_the_three_subpackages_exist_with_their_entry_points():
    for folder in ("training/letters", "training/drums", "runtime/live"):
        assert (PACKAGE / folder / "__init__.py").is_file()
    for folder in ("training/letters", "training/drums"):
        assert (PACKAGE / folder / "__main__.py").is_file()


def test_no_checkpoint_is_loaded_with_pickle():
    offenders = [str(p) for p in PACKAGE.rglob("*.py") if "weights_only=False" in p.read_text(encoding="utf-8")]
    assert offenders == []


def test_the_jack_test_server_does_not_ship():
    assert not list(PACKAGE.rglob("jack_server.py"))
