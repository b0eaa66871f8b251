"""Rules of the package's layout, checked on its source: no import cycle, short solver functions.

The import graph is read with :mod:`ast` from every module under ``src/convexnn``. Every
``import`` and ``from ... import`` counts wherever it stands: at module level, inside functions
and methods, in ``try`` blocks. An import moved into a function still makes its module depend on
the other one; it only hides the cycle until the function runs. ``importlib.import_module``
calls whose module is a literal (or an f-string with a literal package prefix, counted as
importing every module of that package) count too.

What an import adds to the graph:

* ``import a.b.c`` and ``from a.b.c import name`` depend on ``a.b.c`` and on the packages above
  it (``a.b``, ``a``), whose ``__init__`` runs first, except the packages that contain the
  importing module (Python is already running them when it gets there);
* ``from a.b import c`` where ``c`` is a module of package ``a.b`` also depends on ``a.b.c``;
* relative imports are resolved against the importing module's package; imports of other
  distributions (numpy, torch...) are not part of the graph.

Imports under ``if TYPE_CHECKING:`` are left out: they never run, so they cannot form a runtime
cycle, and they are the way to name, in an annotation only, a type of a module that depends on
this one. The test lists the ones it left out when it fails, since one pointing up the layers
deserves a look.

The cone kernels (``convexnn.cones``) are the lowest layer: besides the cycle rule, a test checks
that they import no other module of the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "convexnn"
ROOT = Path(__file__).resolve().parents[1] / "src" / PACKAGE
#: solver functions longer than this are split (one algorithm per file, readable top to bottom)
MAX_FUNCTION_LINES = 80


# ---------------------------------------------------------------------------------- the graph
def _module_names(root: Path) -> dict[str, Path]:
    """``{dotted module name: file}`` for every ``.py`` file of the package at ``root``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Imports(ast.NodeVisitor):
    """The dotted names a module imports (before resolution), at run time and for typing."""

    def __init__(self):
        self.runtime: list[tuple[int, str, list[str]]] = []  # (level, module, imported names)
        self.typing_only: list[tuple[int, str, list[str]]] = []
        self._typing = 0

    def _add(self, entry):
        (self.typing_only if self._typing else self.runtime).append(entry)

    def visit_If(self, node: ast.If):
        if _is_type_checking(node.test):
            self._typing += 1
            for child in node.body:
                self.visit(child)
            self._typing -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import):
        for alias in node.names:
            self._add((0, alias.name, []))

    def visit_ImportFrom(self, node: ast.ImportFrom):
        self._add((node.level, node.module or "", [alias.name for alias in node.names]))

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
        if name != "import_module" or not node.args:
            return
        target = node.args[0]
        if isinstance(target, ast.Constant) and isinstance(target.value, str):
            text, whole_package = target.value, False
        elif (isinstance(target, ast.JoinedStr) and target.values
              and isinstance(target.values[0], ast.Constant) and "." in target.values[0].value):
            text, whole_package = target.values[0].value.rpartition(".")[0] + ".", True
        else:
            return  # a module named at run time only: outside what a static graph can see
        level = len(text) - len(text.lstrip("."))
        module = text.lstrip(".").rstrip(".")
        self._add((level, module, ["*"] if whole_package else []))


def _resolve(importer: str, is_package: bool, level: int, module: str) -> str:
    """The absolute dotted name of ``module`` imported with ``level`` leading dots."""
    if level == 0:
        return module
    base = importer if is_package else importer.rpartition(".")[0]
    for _ in range(level - 1):
        base = base.rpartition(".")[0]
    return f"{base}.{module}" if module else base


def import_graph(root: Path = ROOT) -> tuple[dict[str, set[str]], list[str]]:
    """``({module: modules it imports}, [typing-only imports left out])`` of the package."""
    modules = _module_names(root)
    package = root.name
    graph, left_out = {}, []
    for name, path in modules.items():
        visitor = _Imports()
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        is_package = path.name == "__init__.py"
        targets = set()
        for level, module, names in visitor.runtime:
            base = _resolve(name, is_package, level, module)
            if base != package and not base.startswith(package + "."):
                continue
            found = {base} | {f"{base}.{n}" for n in names if f"{base}.{n}" in modules}
            if "*" in names:  # import_module(f"pkg.{...}"): any module of the package
                found |= {m for m in modules if m.startswith(base + ".")}
            for target in found:
                while target not in modules:  # a name inside a module: the module
                    target = target.rpartition(".")[0]
                parts = target.split(".")
                for end in range(1, len(parts) + 1):
                    dependency = ".".join(parts[:end])
                    inside = name == dependency or name.startswith(dependency + ".")
                    if dependency in modules and not inside:
                        targets.add(dependency)
        left_out += [f"{name}: {_resolve(name, is_package, level, module) or module}"
                     for level, module, _ in visitor.typing_only]
        graph[name] = targets
    return graph, left_out


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per knot of modules (strongly connected component of more than one, Tarjan);
    the knots themselves are :func:`find_knots`."""
    return [_cycle_in(graph, knot) for knot in find_knots(graph)]


def find_knots(graph: dict[str, set[str]]) -> list[set[str]]:
    """The sets of modules that import each other, directly or not (Tarjan)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def connect(node):  # recursion depth is bounded by the number of modules
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the first module of ``component`` (breadth-first)."""
    start = min(component)
    parents, frontier = {start: None}, [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(graph[node] & component):
                if successor == start:
                    path = [node]
                    while parents[path[-1]] is not None:
                        path.append(parents[path[-1]])
                    return [*reversed(path), start]
                if successor not in parents:
                    parents[successor] = node
                    following.append(successor)
        frontier = following
    raise AssertionError(f"no cycle through {start} in its component")  # Tarjan guarantees one


# ---------------------------------------------------------------------------------- the rules
def test_no_import_cycle_in_the_package():
    graph, left_out = import_graph()
    assert len(graph) > 40, "the package was not found or not parsed"
    knots = find_knots(graph)
    report = "\n".join(f"  {len(knot)} modules: {', '.join(sorted(knot))}\n"
                       f"    e.g. {' -> '.join(_cycle_in(graph, knot))}" for knot in knots)
    assert not knots, (f"import cycles in src/{PACKAGE} (imports inside functions count):\n"
                       f"{report}\ntyping-only imports left out: {left_out or 'none'}")


def _write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_graph_sees_imports_inside_functions_and_packages(tmp_path):
    root = _write_package(tmp_path / "pkg", {
        "__init__.py": "",
        "low.py": "def f():\n    from .high import g\n",  # hidden in a function
        "high.py": "from . import low\n",  # a submodule imported from its package
        "solvers/__init__.py": "from ..low import f\n",
        "solvers/fast.py": "import numpy\n",
        "mid.py": "from .solvers.fast import x\n",  # runs solvers/__init__.py first
        "lazy.py": "import importlib\ndef get(n):\n"
                   "    return importlib.import_module(f'.solvers.{n}', __package__)\n",
    })
    graph, _ = import_graph(root)
    assert graph["pkg.low"] == {"pkg.high"}
    assert graph["pkg.high"] == {"pkg.low"}
    assert graph["pkg.mid"] == {"pkg.solvers", "pkg.solvers.fast"}
    assert graph["pkg.solvers.fast"] == set()  # its own package is not a dependency
    assert graph["pkg.lazy"] == {"pkg.solvers", "pkg.solvers.fast"}
    assert find_cycles(graph) == [["pkg.high", "pkg.low", "pkg.high"]]


def test_typing_only_imports_are_left_out_and_listed(tmp_path):
    root = _write_package(tmp_path / "pkg", {
        "__init__.py": "",
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .b import B\n"
                "else:\n    import json\n",
        "b.py": "from .a import f\n",
    })
    graph, left_out = import_graph(root)
    assert graph["pkg.a"] == set() and graph["pkg.b"] == {"pkg.a"}
    assert left_out == ["pkg.a: pkg.b"]
    assert find_cycles(graph) == []


def _long_functions(path: Path) -> list[str]:
    """``name (first line, length)`` of every function or method longer than the limit; the
    length runs from the first decorator to the last line, docstring included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            length = node.end_lineno - first + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{node.name} (line {first}, {length} lines)")
    return found


@pytest.mark.parametrize("path", sorted([*(ROOT / "solvers").glob("*.py"),
                                         *(ROOT / "cones").glob("*.py")]),
                         ids=lambda path: f"{path.parent.name}/{path.name}")
def test_solver_functions_are_short(path):
    long = _long_functions(path)
    assert not long, (f"{path.parent.name}/{path.name}: functions over {MAX_FUNCTION_LINES} "
                      f"lines: {', '.join(long)}")


def test_the_cone_kernels_import_nothing_else_of_the_package():
    # convexnn.cones sits below the solvers, the oracle and the certificates, which all use it
    graph, _ = import_graph()
    cones = {name for name in graph if name == f"{PACKAGE}.cones"
             or name.startswith(f"{PACKAGE}.cones.")}
    assert cones, "convexnn.cones was not found"
    outside = {f"{name} -> {target}" for name in cones for target in graph[name]
               if target not in cones and target != PACKAGE}
    assert not outside, f"convexnn.cones imports other modules of the package: {sorted(outside)}"
