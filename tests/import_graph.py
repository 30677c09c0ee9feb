"""The package's import graph, read from its source (nothing is imported), and the layering rules
of ``docs/architecture.md`` checked against it.

``python tests/import_graph.py`` prints what breaks a rule (nothing, when all is well);
``python tests/import_graph.py --mermaid`` prints the wings and the imports between them as a
Mermaid diagram (the picture in ``docs/architecture.md`` is its output).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Set, Tuple

PACKAGE = Path(__file__).resolve().parent.parent / "postgrip_agent"

#: the SDK's layers, lowest first: a module may import its own layer and those below, never above
SDK_LAYERS: List[Tuple[str, Tuple[str, ...]]] = [
    ("types", ("types", "_wire", "_wire_schedules", "_converter")),
    ("connection", ("connection", "_transport", "_http_errors")),
    ("client", ("client", "workflow_client", "task_client", "schedule_client", "handle", "_subclient")),
    ("agent", ("agent",)),
    ("cli", ("cli",)),
    ("contrib", ("contrib",)),
]
#: the service's wings, lowest first (``server.errors`` is the vocabulary all of them share)
SERVER_LAYERS: List[Tuple[str, Tuple[str, ...]]] = [
    ("errors", ("server.errors",)),
    ("store", ("server.store",)),
    ("engine", ("server.engine",)),
    ("http", ("server.http",)),
]
#: what workflow code runs on: it calls a runtime the agent installs, never the agent or the client
WORKFLOW_SIDE = ("workflow", "activity", "_runtime", "_scopes", "_handlers", "_activities_and_children")
CLIENT_SIDE = (
    "connection",
    "_transport",
    "_http_errors",
    "client",
    "workflow_client",
    "task_client",
    "schedule_client",
    "handle",
    "_subclient",
    "agent",
    "cli",
    "contrib",
)
#: entry points (``python -m``) may reach anywhere
ENTRY_POINTS = ("__main__",)


class Edge(NamedTuple):
    source: str  # dotted, without the package name ("" is the package itself)
    target: str
    names: Tuple[str, ...]  # what ``from target import ...`` took (empty for ``import target``)
    line: int
    lazy: bool  # inside a function


def modules() -> Dict[str, Path]:
    """Every module of the package, by dotted name relative to it."""
    found: Dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _is_package(name: str, known: Dict[str, Path]) -> bool:
    return known[name].name == "__init__.py"


def _resolve(source: str, level: int, module: Optional[str], known: Dict[str, Path]) -> Optional[str]:
    if level == 0:
        if not module or not (module == "postgrip_agent" or module.startswith("postgrip_agent.")):
            return None
        return module[len("postgrip_agent.") :] if module != "postgrip_agent" else ""
    base = source.split(".") if source else []
    if not _is_package(source, known):
        base = base[:-1]
    base = base[: len(base) - (level - 1)] if level > 1 else base
    return ".".join([*base, *(module.split(".") if module else [])])


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, lazy: bool = False) -> Iterator[Tuple[ast.stmt, bool]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            continue  # for the type checker only: never runs
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, lazy
        inner = lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        yield from _imports(node, inner)


def edges() -> List[Edge]:
    """Every import of one of the package's modules by another."""
    known = modules()
    found: List[Edge] = []
    for source, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        for node, lazy in _imports(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = _resolve(source, 0, alias.name, known)
                    if target is not None:
                        found.append(Edge(source, target, (), node.lineno, lazy))
                continue
            assert isinstance(node, ast.ImportFrom)
            target = _resolve(source, node.level, node.module, known)
            if target is None:
                continue
            for alias in node.names:  # ``from . import types``: the module ``types`` itself
                sub = f"{target}.{alias.name}" if target else alias.name
                if sub in known:
                    found.append(Edge(source, sub, (), node.lineno, lazy))
                else:
                    found.append(Edge(source, target, (alias.name,), node.lineno, lazy))
    return found


def _home(name: str) -> str:
    """The package a module lives in ("" for the top level)."""
    known = modules()
    return name if _is_package(name, known) else name.rpartition(".")[0]


def _within(name: str, prefixes: Tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _rank(name: str, layers: List[Tuple[str, Tuple[str, ...]]]) -> Optional[int]:
    for rank, (_, prefixes) in enumerate(layers):
        if _within(name, prefixes):
            return rank
    return None


def cycles(graph: List[Edge]) -> List[List[str]]:
    """Import cycles (lazy imports count: deferring an import hides a cycle, it does not remove it)."""
    adjacent: Dict[str, Set[str]] = {}
    for edge in graph:
        if edge.source != edge.target:
            adjacent.setdefault(edge.source, set()).add(edge.target)
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[List[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(adjacent.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(adjacent):
        if node not in index:
            visit(node)
    return found


def violations(graph: Optional[List[Edge]] = None) -> List[str]:
    """What breaks the rules: cycles, private names taken across packages, imports against the layers."""
    graph = edges() if graph is None else graph
    problems = [f"import cycle: {' -> '.join(c)}" for c in cycles(graph)]
    for edge in graph:
        where = f"{edge.source or 'postgrip_agent'}:{edge.line}"
        if edge.source.rpartition(".")[2] in ENTRY_POINTS:
            continue
        private = [n for n in edge.names if n.startswith("_") and not n.startswith("__")]
        if private and _home(edge.source) != _home(edge.target):
            problems.append(f"{where} takes private {', '.join(private)} from {edge.target} (another package)")
        for layers in (SDK_LAYERS, SERVER_LAYERS):
            mine, theirs = _rank(edge.source, layers), _rank(edge.target, layers)
            if mine is not None and theirs is not None and theirs > mine:
                problems.append(f"{where} imports {edge.target}: {layers[mine][0]} may not import {layers[theirs][0]}")
        if _within(edge.source, WORKFLOW_SIDE) and _within(edge.target, CLIENT_SIDE):
            problems.append(f"{where} imports {edge.target}: workflow code never imports the client or agent side")
        if (
            _within(edge.source, ("server",))
            and not _within(edge.target, ("server",))
            and not _within(edge.target, ("types", "_wire", "_wire_schedules", "_converter", "_sockets"))
        ):
            problems.append(f"{where} imports {edge.target}: the service imports only types from the SDK side")
        if _within(edge.source, ("server.store",)) and _within(edge.target, ("types", "_wire", "_converter")):
            problems.append(f"{where} imports {edge.target}: the store keeps records, not wire types")
    return problems


def mermaid(graph: Optional[List[Edge]] = None) -> str:
    """The service's wings and the SDK's layers, with the imports between them, as Mermaid."""
    graph = edges() if graph is None else graph
    groups = [(f"server.{n}" if n != "errors" else "server.errors", p) for n, p in SERVER_LAYERS] + SDK_LAYERS

    def group(name: str) -> Optional[str]:
        for label, prefixes in groups:
            if _within(name, prefixes):
                return label
        return None

    links = sorted(
        {
            (group(e.source), group(e.target))
            for e in graph
            if group(e.source) and group(e.target) and group(e.source) != group(e.target)
        }
    )
    lines = ["flowchart TD"] + [
        f"    {a.replace('.', '_')}[{a}] --> {b.replace('.', '_')}[{b}]"  # type: ignore[union-attr]
        for a, b in links
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    if "--mermaid" in sys.argv:
        print(mermaid())
    else:
        for problem in violations():
            print(problem)
