"""The layers contract of ``osan/`` (STYLE.md): a module imports only from its own layer or
below, and no two modules import each other, directly or round a longer circle.

Every ``import`` statement counts, the function-local ones included (they run as soon as the
function does); the implicit import of a package's ``__init__`` by an import of one of its
submodules does not (``osan/methods/__init__.py`` registers the methods it imports).
Layers, from the bottom up:

    types, config, config_base, atomic, lock, schedules → data, nn, mixing, alignment → methods
    → eval → train, testtime → bench, report → cli (and ``python -m osan``), api → demo → the
    package's ``__init__`` (``import osan`` exports the Python API of ``osan/api.py``)
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "osan"

#: Top-level part of a module name (``osan.<part>...``) -> its layer, bottom = 0.
LAYERS: dict[str, int] = {
    "types": 0,
    "config": 0,
    "config_base": 0,
    "atomic": 0,
    "lock": 0,
    "yaml_safe": 0,
    "schedules": 0,
    "data": 1,
    "nn": 1,
    "mixing": 1,
    "alignment": 1,
    "methods": 2,
    "eval": 3,
    "train": 4,
    "testtime": 4,  # test-time adaptation: reads run folders (train), trainer writes its stats
    "bench": 5,
    "report": 5,
    "cli": 6,
    "__main__": 6,
    "api": 6,
    "demo": 7,
    "__init__": 8,  # the package itself: the facade of the Python API, imported by no module
}


def module_name(path: Path, root: Path = ROOT) -> str:
    """``osan/train/trainer.py`` -> ``osan.train.trainer``; a package's ``__init__`` -> the
    package."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(name: str, modules: set[str]) -> str | None:
    """The module ``name`` refers to: itself, or the longest known module it lies in (an
    imported function or class belongs to its module)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(path: Path, modules: set[str], root: Path = ROOT) -> set[str]:
    """The osan modules that ``path`` imports anywhere in its body."""
    me = module_name(path, root)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from .x import y
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            # ``from osan.bench import suites``: the module osan.bench.suites (the package's
            # ``__init__`` runs too, as for every import of a submodule: not counted)
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names
            ]
        else:
            continue
        for name in names:
            target = _resolve(name, modules)
            if target is not None and target != me:
                found.add(target)
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    files = sorted(root.rglob("*.py"))
    modules = {module_name(f, root) for f in files}
    return {module_name(f, root): imports_of(f, modules, root) for f in files}


def layer_of(module: str) -> int:
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else "__init__"
    if key not in LAYERS:
        raise KeyError(f"{module}: no layer; add osan.{key} to LAYERS in {__file__}")
    return LAYERS[key]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{m} (layer {layer_of(m)}) imports {t} (layer {layer_of(t)})"
        for m, targets in graph.items()
        for t in targets
        if layer_of(t) > layer_of(m)
    )


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_from_a_higher_layer():
    assert upward_imports(import_graph()) == []


def test_no_import_cycles():
    assert import_cycles(import_graph()) == []


def test_every_module_has_a_layer():
    for module in import_graph():
        layer_of(module)  # KeyError names the module and what to add


def test_the_check_sees_function_local_upward_imports_and_cycles(tmp_path):
    """The contract fails on the mistakes it is there for (a fake package, same rules)."""
    pkg = tmp_path / "osan"
    for d in ("methods", "train"):
        (pkg / d).mkdir(parents=True)
        (pkg / d / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "methods" / "dann.py").write_text(
        "def step():\n    from osan.train.schedules import grl_coeff\n    return grl_coeff\n"
    )
    (pkg / "train" / "schedules.py").write_text("grl_coeff = 1\n")
    (pkg / "train" / "trainer.py").write_text("from osan.train import distributed\n")
    (pkg / "train" / "distributed.py").write_text(
        "def rank():\n    from .trainer import fit\n    return fit\n"
    )
    graph = import_graph(pkg)
    assert upward_imports(graph) == [
        "osan.methods.dann (layer 2) imports osan.train.schedules (layer 4)"
    ]
    assert import_cycles(graph) == [["osan.train.distributed", "osan.train.trainer"]]


@pytest.mark.parametrize("module", ["osan.unknown", "osan.unknown.x"])
def test_a_new_top_level_part_must_be_given_a_layer(module):
    with pytest.raises(KeyError, match="add osan.unknown to LAYERS"):
        layer_of(module)
