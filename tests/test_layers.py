"""The package's layers: imports run one way (errors <- format <- engine <- sync <- aio <- tools),
no module imports itself back through others, and every module is short and says its job."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "aioh5saver"

#: The layers from the bottom up: a module may import its own layer and the ones below it.
LAYERS = ("errors", "format", "engine", "sync", "aio", "tools")
#: The package's entry points sit above every layer.
ENTRY_POINTS = frozenset({"aioh5saver", "aioh5saver.__main__", "aioh5saver.pymodaq"})
#: The tools that read files another process writes run in light child processes: they use
#: format, engine and the other tools, never the saver itself.
SAVER_USING_TOOLS = (
    "aioh5saver.tools.demo",
    "aioh5saver.tools.cli",
    "aioh5saver.tools.bench",
    # recover --finish writes the file with the synchronous saver's fold; no child imports it.
    "aioh5saver.tools.finish",
)
MAX_LINES = 500


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """The package's modules that ``name`` imports, at module level or inside functions."""
    known = _modules()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _layer(name: str) -> int:
    if name in ENTRY_POINTS:
        return len(LAYERS)
    return LAYERS.index(name.split(".")[1])


def _graph() -> dict[str, set[str]]:
    return {name: _imports(name, path) for name, path in _modules().items()}


def test_every_module_belongs_to_a_layer_or_is_an_entry_point() -> None:
    """Each module of the package sits in one of the layers' folders (or is an entry point)."""
    strays = [
        name for name in _modules() if name not in ENTRY_POINTS and name.split(".")[1] not in LAYERS
    ]
    assert strays == []


def test_imports_run_from_the_upper_layers_to_the_lower_ones() -> None:
    """No module imports a module of a layer above its own."""
    upward = [
        f"{name} ({LAYERS[_layer(name)] if _layer(name) < len(LAYERS) else 'entry'}) imports "
        f"{target} ({LAYERS[_layer(target)] if _layer(target) < len(LAYERS) else 'entry'})"
        for name, targets in _graph().items()
        for target in sorted(targets)
        if _layer(target) > _layer(name)
    ]
    assert upward == []


def test_file_reading_tools_use_neither_the_saver_nor_the_async_service() -> None:
    """inspect, follow and recover (and what they use) import errors, format, engine and tools
    only, so that their child processes stay light."""
    wrong = [
        f"{name} imports {target}"
        for name, targets in _graph().items()
        if name.startswith("aioh5saver.tools") and not name.startswith(SAVER_USING_TOOLS)
        for target in sorted(targets)
        if target.split(".")[1] in ("sync", "aio")
    ]
    assert wrong == []


def test_no_module_imports_itself_back_through_others() -> None:
    """The import graph of the package's modules has no cycle."""
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in state:
                visit(target, [*trail, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


@pytest.mark.parametrize("name", sorted(_modules()))
def test_each_module_is_short_and_opens_with_its_job(name: str) -> None:
    """Every module has a docstring and at most ~500 lines."""
    path = _modules()[name]
    text = path.read_text()
    assert ast.get_docstring(ast.parse(text)), f"{name} has no docstring"
    assert text.count("\n") <= MAX_LINES, f"{name} has {text.count(chr(10))} lines"
