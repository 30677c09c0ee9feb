"""A workflow shared by a test and the agent process it kills (both import this module)."""

from datetime import timedelta

from postgrip_agent import RetryPolicy, workflow


@workflow.defn(name="Killable")
class Killable:
    @workflow.run
    def run(self, value: int):  # type: ignore[no-untyped-def]
        result = yield workflow.execute_activity(
            "killable_work",
            value,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100)),
        )
        return result
