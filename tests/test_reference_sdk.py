"""The async reference SDK (postgrip-agent 0.12.3), unchanged, runs its agent and client against
our service: it sends only the contract's fields and knows none of our extensions."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from postgrip_agent.server import LocalServer

REFERENCE_PYTHON = os.environ.get("POSTGRIP_REFERENCE_PYTHON")
SCRIPT = Path(__file__).parent / "reference" / "ref_workflow.py"


@pytest.mark.skipif(
    not REFERENCE_PYTHON, reason="set POSTGRIP_REFERENCE_PYTHON to a Python with postgrip-agent==0.12.3 (.ci/run does)"
)
def test_the_reference_sdk_runs_a_workflow_against_our_service(tmp_path: Path) -> None:
    with LocalServer(db=str(tmp_path / "ref.db"), auth_token="ref-secret") as server:
        env = {key: value for key, value in os.environ.items() if not key.startswith("POSTGRIP_")}
        env.update(POSTGRIP_TOKEN="ref-secret", POSTGRIP_AGENT_REFRESH_TOKEN="ref-secret", PYTHONPATH="")
        done = subprocess.run(
            [str(REFERENCE_PYTHON), str(SCRIPT), server.address],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads(done.stdout.strip().splitlines()[-1]) == {"greeting": "Hello, reference!", "names": ["ada"]}
        history = [event.type for event in server.engine.history("ref-greeting")]
        assert history.count("WorkflowSignaled") == 1 and history[-1] == "WorkflowExecutionCompleted"
        assert history.count("MarkerRecorded") == 1  # replayed past by the reference agent


CLIENT_SCRIPT = Path(__file__).parent / "reference" / "ref_client.py"


@pytest.mark.skipif(
    not REFERENCE_PYTHON, reason="set POSTGRIP_REFERENCE_PYTHON to a Python with postgrip-agent==0.12.3 (.ci/run does)"
)
def test_the_reference_client_runs_a_workflow_without_activity_timeouts_on_our_agent(tmp_path: Path) -> None:
    from postgrip_agent import Agent, Client

    from .test_activity_timeouts import NoTimeouts, untimed

    with LocalServer(db=str(tmp_path / "mixed.db"), auth_token="mixed-secret") as server:
        ours = Client.connect(server.address, token="mixed-secret")
        with Agent(ours, task_queue="mixed", workflows=[NoTimeouts], activities=[untimed]):
            env = {key: value for key, value in os.environ.items() if not key.startswith("POSTGRIP_")}
            # the reference client starts workflows only with agent credentials (its "managed runtime" rule)
            env.update(POSTGRIP_TOKEN="mixed-secret", POSTGRIP_AGENT_REFRESH_TOKEN="mixed-secret", PYTHONPATH="")
            done = subprocess.run(
                [str(REFERENCE_PYTHON), str(CLIENT_SCRIPT), server.address, "NoTimeouts", "mixed", "1"],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
            )
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads(done.stdout.strip().splitlines()[-1]) == 3
