"""A static check of workflow code for calls that break deterministic replay."""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from typing import Any, Callable, Dict, List, Tuple

# fully qualified call -> what to use instead
BANNED: Dict[str, str] = {
    "time.time": "use workflow.now()",
    "time.time_ns": "use workflow.now()",
    "time.monotonic": "use workflow.now()",
    "time.perf_counter": "use workflow.now()",
    "time.sleep": "use workflow.sleep() (a durable timer)",
    "uuid.uuid1": "use workflow.uuid4()",
    "uuid.uuid4": "use workflow.uuid4()",
    "datetime.datetime.now": "use workflow.now()",
    "datetime.datetime.utcnow": "use workflow.now()",
    "datetime.datetime.today": "use workflow.now()",
    "datetime.date.today": "use workflow.now().date()",
    "os.urandom": "use workflow.random() or workflow.uuid4()",
    "secrets.token_hex": "use workflow.uuid4()",
}
BANNED_MODULES = {"random": "use workflow.random() (seeded by the run)"}


class SandboxViolation(ValueError):
    """Workflow code calls something that is not deterministic."""


def _aliases(module: Any) -> Dict[str, str]:
    """Names bound by the module's imports -> what they refer to."""
    names: Dict[str, str] = {"time": "time", "random": "random", "uuid": "uuid", "datetime": "datetime", "asyncio": "asyncio"}
    try:
        tree, _ = _parsed(lambda: (inspect.getsource(module), 1))
    except (OSError, TypeError, SyntaxError):
        return names
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else ""
    return ""


def _racing_ast(err: SystemError) -> bool:
    """CPython 3.11's AST constructor keeps its recursion depth in state shared by every thread: an
    ``ast.parse`` while another thread builds an AST (traceback formatting does, for its carets) can
    fail with this error and succeed at once when tried again (python/cpython#106905)."""
    return "AST constructor recursion depth mismatch" in str(err)


def _parsed(read: Callable[[], Tuple[str, int]]) -> Tuple[ast.AST, int]:
    """The syntax tree of the source ``read`` returns (with its first line), parsed again where
    another thread's AST work made the parse fail spuriously."""
    for attempt in range(5):
        try:
            source, first_line = read()
            return ast.parse(source), first_line
        except SystemError as err:
            if not _racing_ast(err) or attempt == 4:
                raise
    raise AssertionError("unreachable")


def _target_source(target: Any) -> Tuple[str, int]:
    lines, first_line = inspect.getsourcelines(target)  # for a class, inspect parses the module: retried likewise
    return textwrap.dedent("".join(lines)), first_line


def check(target: Any, name: str) -> None:
    """Raise SandboxViolation naming each nondeterministic call in ``target``'s source."""
    try:
        tree, first_line = _parsed(lambda: _target_source(target))
    except (OSError, TypeError):
        return  # no source to inspect (built in a REPL): nothing to check
    module = sys.modules.get(getattr(target, "__module__", ""), None)
    aliases = _aliases(module) if module is not None else {}
    problems: List[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        dotted = _dotted(node.func)
        if not dotted:
            continue
        head, _, rest = dotted.partition(".")
        resolved = aliases.get(head, head) + (f".{rest}" if rest else "")
        hint = BANNED.get(resolved)
        if hint is None and resolved.split(".")[0] in BANNED_MODULES and "." in resolved:
            hint = BANNED_MODULES[resolved.split(".")[0]]
        if hint is not None:
            where = f"{getattr(target, '__module__', '?')}:{first_line + node.lineno - 1}"
            problems.append(f"{where}: {dotted}() is not deterministic; {hint}")
    if problems:
        raise SandboxViolation(
            f"workflow {name} calls nondeterministic APIs (pass sandboxed=False to @workflow.defn to opt out):\n  "
            + "\n  ".join(problems)
        )
