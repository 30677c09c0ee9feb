"""The fixtures of the shipped pytest plugin, used as a user's test file would (no conftest needed)."""

from __future__ import annotations

from datetime import timedelta

from postgrip_agent import Agent, Client, activity, workflow
from postgrip_agent.testing import ActivityEnvironment, WorkflowEnvironment


@activity.defn
def greet(name: str) -> str:
    activity.heartbeat()
    return f"Hello, {name}!"


@workflow.defn
class Greeting:
    @workflow.run
    def run(self, name: str):  # type: ignore[no-untyped-def]
        return (yield workflow.execute_activity(greet, name, start_to_close_timeout=timedelta(seconds=10)))


def test_a_workflow_with_the_plugin_fixtures(postgrip_env: WorkflowEnvironment, postgrip_client: Client) -> None:
    assert postgrip_client is postgrip_env.client
    with Agent(postgrip_client, task_queue="plugin", workflows=[Greeting], activities=[greet]):
        assert postgrip_client.execute_workflow(Greeting, "pytest", task_queue="plugin") == "Hello, pytest!"


def test_an_activity_with_the_plugin_fixture(activity_environment: ActivityEnvironment) -> None:
    assert activity_environment.run(greet, "directly") == "Hello, directly!"
    assert activity_environment.heartbeats == [None]
