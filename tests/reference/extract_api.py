"""Read the async reference SDK's public names and keyword parameters from its source (ast only, no import).

    python tests/reference/extract_api.py <site-packages>/postgrip_agent

``introspect_api.py`` uses it for the keywords a callable's ``**options`` are read for.

Records, for the reference package's top-level exports, its ``workflow`` and ``activity`` modules
and the public methods of its client, handle, agent and error classes: each public name, and for
each callable the keyword parameters a caller may pass. Keywords read from ``**options`` (with
``options.get("k")``, ``options.pop("k")``, ``options["k"]`` or ``"k" in options``, also inside the
module's helpers the options are handed to) count as keywords too. Left out, with the reason kept
in the file: the low-level ``Connection`` wire helpers (the issue does not require them), sandboxes
(the local service does not offer them) and the generated OpenAPI client.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Set

CLASSES = {
    "client.py": ["Client", "WorkflowClient", "TaskClient", "ScheduleClient", "WorkflowHandle", "WorkflowUpdateHandle"],
    "agent.py": ["Agent"],
    "errors.py": ["ApplicationFailure", "CancelledFailure", "TimeoutFailure", "TaskFailedError", "PostGripAgentError"],
    "workflow.py": ["CancellationScope"],
}
MODULES = ["workflow.py", "activity.py"]
EXCLUDED = {
    "Connection": "low-level wire helpers; not required (issue 13)",
    "OpenAPIClient": "the reference's generated low-level client; not required (issue 13)",
    "Sandbox*, sandbox_*, SANDBOX_*": "sandboxes and workspaces are not offered by the local service (501)",
    "TaskClient.shell_exec/container_exec/workflow_runtime": "sandbox-backed task kinds the local service does not run",
}
SKIP_METHODS = {"TaskClient": {"shell_exec", "container_exec", "workflow_runtime"}}
#: callables whose ``**options`` are read elsewhere: (file, class, function, the options' expression there)
READ_ELSEWHERE = {
    "postgrip_agent.workflow.execute_activity": [("agent.py", "Agent", "_execute_activity_command", "options")],
    "postgrip_agent.workflow.execute_child": [("agent.py", "Agent", "_execute_child_command", "options")],
    "postgrip_agent.workflow.continue_as_new": [("agent.py", "Agent", "_complete_workflow_as_continued", "command.options")],
}
#: callables that pass their ``**options`` on to another public callable (and what they add)
FORWARDS = {
    "postgrip_agent.Client.start_workflow": ("postgrip_agent.WorkflowClient.start", ["id"]),
    "postgrip_agent.Client.execute_workflow": ("postgrip_agent.Client.start_workflow", ["timeout"]),
    "postgrip_agent.WorkflowClient.execute": ("postgrip_agent.WorkflowClient.start", ["timeout"]),
    "postgrip_agent.Client.connect": ("postgrip_agent.Connection", []),
    "postgrip_agent.Agent.create": ("postgrip_agent.Agent", []),
}


def _helpers(tree: ast.Module) -> Dict[str, ast.FunctionDef]:
    return {node.name: node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}  # type: ignore[misc]


def _option_keys(func: Any, var: str, helpers: Dict[str, Any], seen: Set[str]) -> Set[str]:
    """String keys read from the mapping named ``var`` in ``func`` (and helpers it is passed to)."""
    keys: Set[str] = set()
    for node in ast.walk(func):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and ast.unparse(node.func.value) == var:
            if node.func.attr in ("get", "pop", "setdefault") and node.args:
                if isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    keys.add(node.args[0].value)
        if isinstance(node, ast.Subscript) and ast.unparse(node.value) == var:
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
                keys.add(node.slice.value)
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant) and isinstance(node.left.value, str):
            if any(ast.unparse(c) == var for c in node.comparators):
                keys.add(node.left.value)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in helpers:
            for index, arg in enumerate(node.args):
                if isinstance(arg, ast.Name) and arg.id == var and node.func.id not in seen:
                    helper = helpers[node.func.id]
                    params = [a.arg for a in helper.args.posonlyargs + helper.args.args]
                    if index < len(params):
                        keys |= _option_keys(helper, params[index], helpers, seen | {node.func.id})
    return keys


def _keywords(func: Any, helpers: Dict[str, Any]) -> List[str]:
    args = func.args
    names = [a.arg for a in args.args + args.kwonlyargs if a.arg not in ("self", "cls")]
    if args.kwarg is not None:
        names += sorted(_option_keys(func, args.kwarg.arg, helpers, set()))
    return sorted(set(names))


def _read_elsewhere(root: Path, file: str, cls: str, function: str, var: str) -> Set[str]:
    tree = ast.parse((root / file).read_text())
    helpers = _helpers(tree)
    owner = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls)
    func = next(n for n in owner.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == function)
    return _option_keys(func, var, helpers, set()) - {"cancellation_scope"}  # the latter is set by the SDK itself


def _public(name: str) -> bool:
    return not name.startswith("_") or name == "__init__"


def extract(root: Path) -> Dict[str, Any]:
    init = ast.parse((root / "__init__.py").read_text())
    exports: List[str] = []
    for node in init.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            exports = [ast.literal_eval(e) for e in node.value.elts]  # type: ignore[attr-defined]
    exports = [e for e in exports if not e.startswith(("Sandbox", "sandbox_", "SANDBOX_")) and e not in EXCLUDED]
    callables: Dict[str, List[str]] = {}
    names: List[str] = [f"postgrip_agent.{e}" for e in sorted(exports)]
    for module in MODULES:
        tree = ast.parse((root / module).read_text())
        helpers = _helpers(tree)
        prefix = f"postgrip_agent.{module[:-3]}"
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _public(node.name):
                names.append(f"{prefix}.{node.name}")
                if not isinstance(node, ast.ClassDef):
                    callables[f"{prefix}.{node.name}"] = _keywords(node, helpers)
    for module, classes in CLASSES.items():
        tree = ast.parse((root / module).read_text())
        helpers = _helpers(tree)
        for node in tree.body:
            if not isinstance(node, ast.ClassDef) or node.name not in classes:
                continue
            owner = "postgrip_agent." + node.name
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and _public(item.name):
                    if item.name in SKIP_METHODS.get(node.name, set()):
                        continue
                    path = owner if item.name == "__init__" else f"{owner}.{item.name}"
                    if path != owner:
                        names.append(path)
                    callables[path] = _keywords(item, helpers)
    connection = ast.parse((root / "client.py").read_text())
    for node in connection.body:
        if isinstance(node, ast.ClassDef) and node.name == "Connection":
            init = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
            callables["postgrip_agent.Connection"] = _keywords(init, _helpers(connection))
    for target, sources in READ_ELSEWHERE.items():
        for source in sources:
            callables[target] = sorted(set(callables.get(target, [])) | _read_elsewhere(root, *source))
    for target, (origin, extra) in FORWARDS.items():
        callables[target] = sorted((set(callables.get(target, [])) | set(callables[origin]) | set(extra)) - {"options"})
    callables.pop("postgrip_agent.Connection")
    return {
        "package": "postgrip-agent",
        "version": _version(root),
        "excluded": EXCLUDED,
        "names": sorted(set(names)),
        "keywords": {k: v for k, v in sorted(callables.items()) if v},
    }


def _version(root: Path) -> Optional[str]:
    for meta in root.parent.glob("postgrip_agent-*.dist-info/METADATA"):
        for line in meta.read_text().splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    return None


if __name__ == "__main__":
    json.dump(extract(Path(sys.argv[1])), sys.stdout, indent=1)
    sys.stdout.write("\n")
