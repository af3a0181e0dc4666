"""labeld's packages import one way: a new import cycle, an upward import or production code that
imports ``labeld.testing`` fails here, naming the import.

Every import counts, also one inside a function (a hidden cycle is still a cycle). The order is
the pipeline's: the API and CLI on top, the daemon that wires everything, then intake → spool →
page job → pre-flight → render → drivers → devices, with small shared modules at the bottom
(docs/decisions.md, "Layers").
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import labeld

ROOT = Path(labeld.__file__).parent

#: Top to bottom. A unit may import units in its own layer or in a layer below.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"cli", "api", "web", "system_packages"}),
    frozenset({"convert"}),
    frozenset({"daemon"}),
    frozenset({"sources"}),
    frozenset({"intake"}),
    frozenset({"spool"}),
    frozenset({"page_job"}),
    frozenset({"preflight"}),
    frozenset({"render"}),
    frozenset({"drivers"}),
    frozenset({"clock", "service"}),
    frozenset({"config"}),
    frozenset({"devices"}),
    frozenset({"labelmaker", "media", "bitmap", "durations", "failpoints", "errors", "reasons", "messages", "i18n",
               "credentials",
               "__init__"}),
)
RANK = {unit: rank for rank, layer in enumerate(LAYERS) for unit in layer}


def unit_of(module: str) -> str:
    """``labeld.daemon.app`` → ``daemon``; ``labeld.config`` → ``config``; ``labeld`` → ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def production_modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT.parent).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        if unit_of(name) != "testing":
            yield name, path


def imports_of(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every ``labeld…`` module imported anywhere in ``path``, with its line."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "labeld":
                    yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] == "labeld":
                yield target, node.lineno


def unit_graph() -> dict[str, dict[str, str]]:
    """unit → {imported unit: "file:line" of one such import}."""
    graph: dict[str, dict[str, str]] = {}
    for module, path in production_modules():
        source = unit_of(module)
        edges = graph.setdefault(source, {})
        for target, line in imports_of(module, path):
            unit = unit_of(target)
            if unit != source:
                edges.setdefault(unit, f"{path.relative_to(ROOT.parent)}:{line}")
    return graph


def test_every_unit_has_a_layer() -> None:
    """A new subpackage or top-level module must be given its place in LAYERS."""
    assert sorted(set(unit_graph()) - set(RANK)) == []


def test_no_production_code_imports_testing() -> None:
    """labeld.testing holds emulators and harnesses for tests; the daemon never needs them."""
    offenders = [where for edges in unit_graph().values() for unit, where in edges.items() if unit == "testing"]
    assert offenders == []


def test_imports_go_down_the_layers() -> None:
    """No unit imports one above it."""
    upward = [f"{where}: {source} imports {target}" for source, edges in unit_graph().items()
              for target, where in edges.items()
              if target in RANK and source in RANK and RANK[target] < RANK[source]]
    assert upward == []


def test_no_import_cycles_between_units() -> None:
    """Same-layer units (reasons ↔ messages, say) may import each other only one way round."""
    graph = {unit: set(edges) & set(RANK) for unit, edges in unit_graph().items()}
    cycles = []
    state: dict[str, int] = {}

    def visit(unit: str, trail: list[str]) -> None:
        state[unit] = 1
        for target in sorted(graph.get(unit, ())):
            if state.get(target) == 1:
                cycles.append(" → ".join([*trail[trail.index(target):], target]))
            elif target not in state:
                visit(target, [*trail, target])
        state[unit] = 2

    for unit in sorted(graph):
        if unit not in state:
            visit(unit, [unit])
    assert cycles == []


def test_the_check_sees_function_local_imports(tmp_path: Path) -> None:
    """An import inside a function is found, so a cycle cannot hide there."""
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from labeld.api.server import ApiServer\n    return ApiServer\n")
    assert list(imports_of("labeld.daemon.mod", source)) == [("labeld.api.server", 2)]
