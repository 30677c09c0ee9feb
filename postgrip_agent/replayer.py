"""Replaying saved histories against workflow code: ``WorkflowHistory`` and ``Replayer``.

Before deploying a change to a workflow, replay the histories of runs made by the old code
(``handle.fetch_history().to_json()``, saved to a file) with the new code: a change that
breaks replay raises a ``DeterminismViolation`` naming the command, its position and the run.
"""

from __future__ import annotations

from typing import Any, Iterable, List, Optional, Sequence

import attrs

from . import types as wt
from ._runtime.history import History
from .history import WorkflowHistory
from ._runtime.instance import WorkflowInstance
from ._runtime.records import ContinueAsNew, WorkflowInfo, determinism_violation
from .agent import registry
from .converter import DEFAULT, DataConverter
from .errors import ApplicationFailure

#: the events a run's history ends with when the run is over
CLOSING_EVENTS = frozenset(
    {
        "WorkflowExecutionCompleted",
        "WorkflowExecutionFailed",
        "WorkflowExecutionTimedOut",
        "WorkflowExecutionTerminated",
        "WorkflowExecutionContinuedAsNew",
    }
)

__all__ = ["Replayer", "ReplayResult", "WorkflowHistory"]


@attrs.frozen
class ReplayResult:
    """The outcome of replaying one history."""

    workflow_id: str
    run_id: Optional[str]
    #: what went wrong (a DeterminismViolation, or what the code raised while replaying); None: it replayed
    error: Optional[BaseException] = None


class Replayer:
    """Replays histories with the given workflows, as an Agent would, without a service."""

    def __init__(self, *, workflows: Sequence[Any], strict: bool = False, data_converter: Optional[DataConverter] = None) -> None:
        """``data_converter``: the one the runs were written with (their codecs, to open encrypted
        payloads; its payload converter, for types registered on it).

        ``strict``: a replayed activity or child whose arguments differ from the ones history
        recorded (compared by a stable digest) is a DeterminismViolation too, so a test catches
        a reordering of like commands; by default it is logged as a warning, as the Agent does
        (changing arguments can be a deliberate deploy). Histories without arguments replay either way."""
        self.strict = strict
        self.converter = data_converter or DEFAULT
        self.workflows = registry.workflows(workflows)
        if not self.workflows:
            raise ValueError("a Replayer needs at least one workflow")

    def replay_workflow(self, history: WorkflowHistory, *, raise_on_failure: bool = True) -> ReplayResult:
        """Replay one history. Raises (unless ``raise_on_failure=False``) a DeterminismViolation
        when the code issues commands other than the history records, in another order, fewer of
        them, or more after the run ended."""
        result = self._replay(history)
        if result.error is not None and raise_on_failure:
            raise result.error
        return result

    def replay_workflows(self, histories: Iterable[WorkflowHistory], *, raise_on_failure: bool = False) -> List[ReplayResult]:
        """Replay several; by default collect the failures rather than stop at the first."""
        return [self.replay_workflow(h, raise_on_failure=raise_on_failure) for h in histories]

    def _replay(self, history: WorkflowHistory) -> ReplayResult:
        run_id = history.run_id or history.workflow_id
        raw = [wt.to_json(event) for event in history.events]
        try:
            parsed = History(raw)
            workflow_type = str(parsed.started.attributes.get("workflow_type") or "")
            target = self.workflows.get(workflow_type)
            if target is None:
                raise ValueError(
                    f"history of {history.workflow_id} is of workflow {workflow_type!r}, which this "
                    f"Replayer was not given (it has: {', '.join(sorted(self.workflows))})"
                )
            started = parsed.started
            info = WorkflowInfo(
                workflow_id=history.workflow_id,
                run_id=run_id,
                workflow_type=workflow_type,
                task_queue="replay",
                namespace="default",
                task_id=started.task_id or "",
                attempt=int(started.attributes.get("attempt") or 1),
                parent_workflow_id=started.attributes.get("parent_workflow_id"),
                continued_from_run_id=started.attributes.get("continued_from_run_id"),
                start_time=started.created_at,
            )
            instance = WorkflowInstance(target, info, parsed, live_after_seq=parsed.last_seq, converter=self.converter)
            instance.strict_arguments = self.strict
            try:
                try:
                    instance.activate()
                finally:  # a mismatch inside the workflow code ends its body first: that one names the cause
                    main = instance.main
                    first = main.outcome.exception() if main is not None and main.outcome.done() else None
                    if isinstance(first, ApplicationFailure) and (
                        first.type == "DeterminismViolation"
                        or (first.type == "PayloadConversionError" and parsed.events[-1].type != "WorkflowExecutionFailed")
                    ):
                        raise first  # a payload this replay cannot read, where the run itself went on
                closing = parsed.events[-1].type
                if closing in CLOSING_EVENTS and instance.new_commands:
                    extra = instance.new_commands[0]
                    raise determinism_violation(
                        f"history of run {run_id} ends with {closing}, but the workflow code now issues "
                        f"{extra.description} as command #{instance.issued - len(instance.new_commands) + 1}"
                    )
            except ContinueAsNew:
                pass  # the run continued as new, as its history says
            finally:
                instance.teardown()
        except Exception as err:
            return ReplayResult(history.workflow_id, history.run_id, err)
        return ReplayResult(history.workflow_id, history.run_id, None)
