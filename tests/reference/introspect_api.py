"""Print the async reference SDK's public surface as JSON, read from the installed package itself.

    <reference venv>/bin/python tests/reference/introspect_api.py   (run outside this checkout)

Names come from importing the package: everything in ``__all__`` of ``postgrip_agent``, its
``workflow`` and ``activity`` modules, the attributes of the objects they export (such as
``workflow.unsafe``), and the public methods of its client, handle, agent, scope and error
classes. Keywords are each callable's own parameters, plus those its ``**options`` are read for
(``extract_api.py``'s reading of the same installed source) and, for the listings that hand their
options to the generated client, that client's keyword parameters (after the listing's renames).
Left out, with the reason: ``extract_api.EXCLUDED``.
"""

from __future__ import annotations

import ast
import inspect
import json
import sys
from pathlib import Path
from typing import Any, Dict, Set

sys.path.insert(0, str(Path(__file__).parent))
import extract_api  # noqa: E402 - the same folder; stdlib only

import postgrip_agent  # noqa: E402 - the reference package, not ours (this runs in its venv)
from postgrip_agent import activity, openapi, workflow  # noqa: E402

CLASSES = [name for names in extract_api.CLASSES.values() for name in names]
#: listings whose ``**options`` reach the generated client, renamed by the helper named
LISTINGS = {
    "postgrip_agent.WorkflowClient.list": ("list_workflows", "_workflow_query_options"),
    "postgrip_agent.WorkflowClient.count": ("count_workflows", "_workflow_query_options"),
    "postgrip_agent.ScheduleClient.list": ("list_schedules", None),
}


def _excluded(name: str) -> bool:
    return name.startswith(("Sandbox", "sandbox_", "SANDBOX_")) or name in ("Connection", "OpenAPIClient")


def _keywords(target: Any) -> Set[str]:
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return set()
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in parameters if p.kind in kinds and p.name not in ("self", "cls")}


def _renames(helper: str) -> Dict[str, str]:
    """The ``mapping = {...}`` a client helper renames options with (user's name -> wire name)."""
    tree = ast.parse(Path(postgrip_agent.__file__).with_name("client.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == helper:
            for inner in ast.walk(node):
                if isinstance(inner, ast.Dict):
                    return {ast.literal_eval(k): ast.literal_eval(v) for k, v in zip(inner.keys, inner.values)}  # type: ignore[arg-type]
    return {}


def surface() -> Dict[str, Any]:
    names: Set[str] = set()
    keywords: Dict[str, Set[str]] = {}

    def callable_at(path: str, target: Any) -> None:
        found = _keywords(target)
        if found:
            keywords.setdefault(path, set()).update(found)

    for prefix, module in (
        ("postgrip_agent", postgrip_agent),
        ("postgrip_agent.workflow", workflow),
        ("postgrip_agent.activity", activity),
    ):
        for name in module.__all__:
            if _excluded(name):
                continue
            obj, path = getattr(module, name), f"{prefix}.{name}"
            names.add(path)
            if inspect.isclass(obj):
                callable_at(path, obj)
                if name in CLASSES:
                    for attr, member in vars(obj).items():
                        if attr.startswith("_") or attr in extract_api.SKIP_METHODS.get(name, set()):
                            continue
                        names.add(f"{path}.{attr}")
                        callable_at(f"{path}.{attr}", getattr(obj, attr))
            elif callable(obj):
                callable_at(path, obj)
            elif type(obj).__module__.startswith("postgrip_agent"):  # a namespace object: workflow.unsafe
                for attr in dir(obj):
                    if not attr.startswith("_"):
                        names.add(f"{path}.{attr}")
                        callable_at(f"{path}.{attr}", getattr(obj, attr))
    read = extract_api.extract(Path(postgrip_agent.__file__).parent)  # what **options is read for
    for path, found in read["keywords"].items():
        keywords.setdefault(path, set()).update(found)
    for path, (operation, helper) in LISTINGS.items():
        wire = _keywords(getattr(openapi.OpenAPIClient, operation)) - {"search"}
        renames = _renames(helper) if helper else {}
        user = {mine for mine, theirs in renames.items() if theirs in wire or theirs == "search_attributes"}
        keywords.setdefault(path, set()).update((wire - set(renames.values())) | user)
        keywords[path].discard("options")
    return {
        "package": "postgrip-agent",
        "version": getattr(postgrip_agent, "__version__", None) or read["version"],
        "excluded": extract_api.EXCLUDED,
        "names": sorted(names),
        "keywords": {path: sorted(found) for path, found in sorted(keywords.items())},
    }


if __name__ == "__main__":
    json.dump(surface(), sys.stdout, indent=1)
    sys.stdout.write("\n")
