"""The async reference SDK's public names and keywords, held as data, checked against ours.

``tests/reference/api-0.12.3.json`` was written from the reference wheel with ``ast`` (no import)
by ``tests/reference/extract_api.py``. ``NOT_YET`` lists what we do not accept yet (empty now);
the test fails both when something else is missing and when an entry of ``NOT_YET`` starts to
work, so the list only shrinks.
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from typing import Any, Dict, List, Set

DATA = json.loads((Path(__file__).parent / "reference" / "api-0.12.3.json").read_text())

#: our callables that take ``**options`` and hand them on: their keywords are the target's
FORWARDS = {
    "postgrip_agent.Client.start_workflow": "postgrip_agent.WorkflowClient.start",
    "postgrip_agent.Client.execute_workflow": "postgrip_agent.WorkflowClient.start",
    "postgrip_agent.WorkflowClient.execute": "postgrip_agent.WorkflowClient.start",
    "postgrip_agent.Client.connect": "postgrip_agent.Connection",
    "postgrip_agent.Agent.create": "postgrip_agent.Agent",
}

#: nothing is left: every reference name and keyword is accepted (the list stays, so a future
#: reference version can ratchet the same way)
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
        if keyword in parameters and parameters[keyword].kind not in (inspect.Parameter.VAR_POSITIONAL,
                                                                      inspect.Parameter.VAR_KEYWORD):
            return True
    return False


def _missing() -> List[str]:
    missing = []
    for path in DATA["names"]:
        try:
            _resolve(path)
        except AttributeError:
            missing.append(path)
    keywords: Dict[str, List[str]] = DATA["keywords"]
    for path, names in keywords.items():
        missing += [f"{path}:{k}" for k in names if not _accepts(path, k)]
    return missing


def test_every_reference_name_and_keyword_is_accepted_or_listed_as_not_yet() -> None:
    assert DATA["package"] == "postgrip-agent" and DATA["version"] == "0.12.3"
    names, keywords = len(DATA["names"]), sum(len(v) for v in DATA["keywords"].values())
    missing = set(_missing())
    print(f"checked {names} names and {keywords} keywords of postgrip-agent {DATA['version']}: "
          f"{names + keywords - len(missing)} accepted, {len(missing)} not yet")
    assert sorted(missing - NOT_YET) == [], "newly missing (a regression)"
    assert sorted(NOT_YET - missing) == [], "now accepted: take them off NOT_YET"
