"""The command line answers ``--version`` and ``--help`` without loading the client, the agent or the service."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("requests", "cattrs", "attrs", "postgrip_agent.server", "postgrip_agent.client", "postgrip_agent.agent")

PROBE = """
import json, sys
from postgrip_agent.cli import main
try:
    code = main({argv!r})
except SystemExit as done:
    code = done.code
sys.stdout.flush()
print(json.dumps({{"code": code, "loaded": sorted(m for m in sys.modules if m.split(".")[0] in ("requests", "cattrs", "attrs")
                                                  or m.startswith("postgrip_agent"))}}), file=sys.stderr)
"""


def _loaded(argv: list[str]) -> tuple[int, set[str]]:
    done = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True, timeout=60)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return report["code"], set(report["loaded"])


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["workflow", "--help"], ["server", "--help"]])
def test_version_and_help_import_nothing_heavy(argv: list[str]) -> None:
    code, loaded = _loaded(argv)
    assert code == 0
    assert "postgrip_agent.cli" in loaded  # the probe saw the CLI itself
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == [], f"{' '.join(argv)} imported {heavy}"


def test_a_command_imports_the_client_but_not_the_agent_or_the_service() -> None:
    # an unreachable address: the command gets as far as its first request, then fails with exit 3
    code, loaded = _loaded(["workflow", "list", "--address", "http://127.0.0.1:1"])
    assert code == 3  # the service cannot be reached
    assert "postgrip_agent.client" in loaded and "requests" in loaded
    assert not any(m.startswith(("postgrip_agent.server", "postgrip_agent.agent")) for m in loaded), sorted(loaded)


def test_the_package_imports_its_names_when_first_used() -> None:
    import postgrip_agent

    for name in postgrip_agent.__all__:
        assert getattr(postgrip_agent, name) is not None, name
    assert postgrip_agent.WorkflowWorker is postgrip_agent.Agent
    assert postgrip_agent.converter.DataConverter is not None  # a submodule not named in __all__ still resolves
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        postgrip_agent.nope  # noqa: B018
