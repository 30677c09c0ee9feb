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


@workflow.defn
class Nap:
    @workflow.run
    def run(self):  # type: ignore[no-untyped-def]
        yield workflow.sleep(timedelta(days=7))
        return "rested"


def test_a_week_long_nap_with_the_time_skipping_fixture(postgrip_time_skipping_env: WorkflowEnvironment) -> None:
    client = postgrip_time_skipping_env.client
    with Agent(client, task_queue="nap", workflows=[Nap]):
        assert client.execute_workflow(Nap, task_queue="nap", timeout=20) == "rested"


def test_an_activity_with_the_plugin_fixture(activity_environment: ActivityEnvironment) -> None:
    assert activity_environment.run(greet, "directly") == "Hello, directly!"
    assert activity_environment.heartbeats == [None]
