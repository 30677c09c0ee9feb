"""The peer's side of the DBOS benchmarks (imported in DBOS's venv only): its one-step workflow."""

from __future__ import annotations

from typing import Any, Callable, Tuple


def one_step(dbos: Any) -> Tuple[Callable[[int], int], Callable[[int], int]]:
    """(the step, the workflow calling it once), registered with ``dbos`` (the DBOS class, after
    its configuration): the same work as our one-activity workflow, echoing its argument."""

    @dbos.step()
    def echo(value: int) -> int:
        return value

    @dbos.workflow()
    def one(value: int) -> int:
        return echo(value)  # type: ignore[no-any-return]

    return echo, one
