"""The async reference SDK's public names and keywords, read from the installed package, checked against ours.

``tests/reference/introspect_api.py`` runs in the reference SDK's own venv (``POSTGRIP_REFERENCE_PYTHON``,
which ``.ci/run`` sets up): it imports ``postgrip-agent==0.12.3`` and lists every public name, method
and keyword (see its docstring for how), so a name the reference has shows up here without anyone
writing it down. ``NOT_YET`` lists what we do not accept yet (empty now); the test fails both when
something else is missing and when an entry of ``NOT_YET`` starts to work, so the list only shrinks.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Set

import pytest

REFERENCE_PYTHON = os.environ.get("POSTGRIP_REFERENCE_PYTHON")
SCRIPT = Path(__file__).parent / "reference" / "introspect_api.py"


def _reference_surface() -> Dict[str, Any]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("POSTGRIP_")}
    env["PYTHONPATH"] = ""
    with tempfile.TemporaryDirectory() as elsewhere:  # not this checkout, whose package has the same name
        done = subprocess.run(
            [str(REFERENCE_PYTHON), str(SCRIPT)], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
        )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)  # type: ignore[no-any-return]


#: our callables that take ``**options`` and hand them on: their keywords are the target's
FORWARDS = {
    "postgrip_agent.Client.start_workflow": "postgrip_agent.WorkflowClient.start",
    "postgrip_agent.Client.execute_workflow": "postgrip_agent.WorkflowClient.start",
    "postgrip_agent.WorkflowClient.execute": "postgrip_agent.WorkflowClient.start",
    "postgrip_agent.Client.connect": "postgrip_agent.Connection",
    "postgrip_agent.Agent.create": "postgrip_agent.Agent",
}

#: what we do not accept yet; the test fails when one starts to work, so the list only shrinks
NOT_YET: Set[str] = set()


def _resolve(path: str) -> Any:
    module, *attributes = path.split(".")
    found: Any = importlib.import_module(module)
    for attribute in attributes:
        found = getattr(found, attribute)
    return found


def _accepts(path: str, keyword: str) -> bool:
    for target in (path, FORWARDS.get(path)):
        try:
            parameters = inspect.signature(_resolve(target)).parameters if target else {}
        except (AttributeError, TypeError, ValueError):
            return False
        if keyword in parameters and parameters[keyword].kind not in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ):
            return True
    return False


def _missing(data: Dict[str, Any]) -> List[str]:
    missing = []
    for path in data["names"]:
        try:
            _resolve(path)
        except AttributeError:
            missing.append(path)
    keywords: Dict[str, List[str]] = data["keywords"]
    for path, names in keywords.items():
        missing += [f"{path}:{k}" for k in names if not _accepts(path, k)]
    return missing


@pytest.mark.skipif(
    not REFERENCE_PYTHON, reason="set POSTGRIP_REFERENCE_PYTHON to a Python with postgrip-agent==0.12.3 (.ci/run does)"
)
def test_every_reference_name_and_keyword_is_accepted_or_listed_as_not_yet() -> None:
    data = _reference_surface()
    assert data["package"] == "postgrip-agent" and data["version"] == "0.12.3"
    names, keywords = len(data["names"]), sum(len(v) for v in data["keywords"].values())
    missing = set(_missing(data))
    print(
        f"checked {names} names and {keywords} keywords of postgrip-agent {data['version']}: "
        f"{names + keywords - len(missing)} accepted, {len(missing)} not yet"
    )
    assert sorted(missing - NOT_YET) == [], "newly missing (a regression)"
    assert sorted(NOT_YET - missing) == [], "now accepted: take them off NOT_YET"
