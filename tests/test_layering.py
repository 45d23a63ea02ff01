"""The package's modules form a DAG: no import cycle, no private name imported from a sibling.

The graph is read from the source, not from a running interpreter: every ``import`` and
``from ... import`` statement of every module of ``gdfast/`` (parsed with :mod:`ast`, so imports
inside functions and under ``if TYPE_CHECKING:`` count too), plus the Python-level imports of the
compiled modules' sources (``src/*.pyx``: their ``import``/``from ... import`` lines, ``cimport`` excluded).
``from . import x`` is an edge to the module ``gdfast.x`` when there is one, else to the package.

Rules (STYLE.md, "Modules import downward only"):
- no cycle, whatever its length;
- no ``_private`` name imported from another gdfast module (a private *module* such as
  ``gdfast._validation`` may be imported: the rule is about names a module keeps to itself);
- no module hidden by a same-named attribute of its package (``gdfast.x`` must be the module x).
"""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

import gdfast

ROOT = Path(__file__).resolve().parent.parent
# It reads the checkout's sources: not in the installed-wheel run (the tests copied alone).
pytestmark = pytest.mark.skipif(not (ROOT / "setup.py").exists(), reason="reads the source checkout")
PACKAGE = "gdfast"
PY_MODULES = {
    (PACKAGE if p.stem == "__init__" else f"{PACKAGE}.{p.stem}"): p for p in sorted((ROOT / PACKAGE).glob("*.py"))
}
PYX_MODULES = {f"{PACKAGE}.{p.stem}": p for p in sorted((ROOT / "src").glob("*.pyx"))}
MODULES = {**PY_MODULES, **PYX_MODULES}


def _resolve(module: str, level: int, current: str, is_package: bool) -> str:
    """The absolute name of ``from {'.' * level}{module} import ...`` written in ``current``."""
    if level == 0:
        return module
    base = current.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _imports(name: str, path: Path) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) of each gdfast import in one source file."""
    found: list[tuple[str, str | None, int]] = []
    if path.suffix == ".pyx":
        # Cython source is not Python: its Python-level imports are whole lines.
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            m = re.match(r"\s*from\s+([\w.]+)\s+import\s+(.+)$", line)
            if m and " cimport " not in line:
                for alias in m.group(2).strip("()").split(","):
                    found.append((m.group(1), alias.split(" as ")[0].strip() or None, lineno))
                continue
            m = re.match(r"\s*import\s+([\w.]+)", line)
            if m:
                found.append((m.group(1), None, lineno))
        return [f for f in found if f[0] == PACKAGE or f[0].startswith(PACKAGE + ".")]
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, None, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node.module or "", node.level, name, path.stem == "__init__")
            found.extend((target, alias.name, node.lineno) for alias in node.names)
    return [f for f in found if f[0] == PACKAGE or f[0].startswith(PACKAGE + ".")]


def _graph() -> tuple[dict[str, set[str]], list[str]]:
    """Edges between gdfast modules, and the private names imported across modules."""
    edges: dict[str, set[str]] = {name: set() for name in MODULES}
    private: list[str] = []
    for name, path in MODULES.items():
        for target, imported, lineno in _imports(name, path):
            where = f"{path.relative_to(ROOT)}:{lineno}"
            if imported is not None and f"{target}.{imported}" in MODULES:
                edges[name].add(f"{target}.{imported}")  # from gdfast import _train: the module
                continue
            if target not in MODULES:
                raise AssertionError(f"{where} imports {target}, which is not a module of {PACKAGE}")
            edges[name].add(target)
            if imported is not None and imported.startswith("_") and not imported.startswith("__"):
                private.append(f"{where}: {name} imports the private name {imported} from {target}")
    return edges, private


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (or a self-import)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm (the package is small: recursion is fine)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges[v]:
                components.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return components


def test_the_graph_sees_every_kind_of_import():
    # The parser itself, on the forms the rules depend on (a test of the test: a parser that saw
    # nothing would pass every rule).
    edges, _ = _graph()
    assert "gdfast._validation" in edges["gdfast.core"]          # from ._validation import (...)
    assert "gdfast._kernels" in edges["gdfast.core"]             # from . import _kernels
    assert "gdfast._distributed" in edges[_sweep_module_name()]  # imported inside a function
    assert "gdfast.core" in edges[PACKAGE]                       # the package's own imports


def _sweep_module_name() -> str:
    return gdfast.sweep.__module__


def test_no_import_cycle():
    edges, _ = _graph()
    cycles = _cycles(edges)
    assert not cycles, "import cycles (modules that import each other, directly or not): " + "; ".join(
        " <-> ".join(c) for c in cycles)


def test_no_private_name_crosses_modules():
    _, private = _graph()
    assert not private, "give these names a public name in the module that owns them, or move them " \
                        "down to a module both import:\n" + "\n".join(private)


def test_compiled_modules_import_no_other_compiled_module():
    # A compiled module that needs a Python object (the BLAS pin) takes it from plain Python below
    # it, never from another .pyx: the kernels stay the bottom layer.
    edges, _ = _graph()
    for name in PYX_MODULES:
        assert not edges[name] & set(PYX_MODULES), f"{name} imports {sorted(edges[name] & set(PYX_MODULES))}"
        if name in ("gdfast._kernels", "gdfast._train"):  # the modules that call dgemm
            assert "gdfast._blas" in edges[name]  # (the parser saw its Python-level import)


@pytest.mark.parametrize("name", sorted(PY_MODULES))
def test_no_module_is_hidden_by_an_attribute_of_its_package(name):
    if name == PACKAGE or name.endswith(".__main__"):  # (importing __main__ runs the CLI)
        return
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # gdfast.sklearn without scikit-learn
        pytest.skip(f"{name} cannot be imported here: {exc}")
    attribute = getattr(gdfast, name.rsplit(".", 1)[1], module)
    assert attribute is module, f"gdfast.{name.rsplit('.', 1)[1]} is {attribute!r}, not the module {name}"


def test_sweep_is_the_function_and_its_module_is_importable_by_name():
    assert callable(gdfast.sweep) and not isinstance(gdfast.sweep, type(gdfast))
    module = importlib.import_module(_sweep_module_name())
    assert module.sweep is gdfast.sweep and module.SweepResult is gdfast.SweepResult
    assert module.grid is gdfast.grid
