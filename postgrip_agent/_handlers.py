"""Message handlers: Temporal's decorators (``@workflow.signal``, ``@workflow.query``,
``@workflow.update``) and the async SDK's definitions by name (``define_signal``, ``set_handler``).

A decorated method of a ``@workflow.defn`` class is registered as the handler of its kind when
the run's instance is made (after ``__init__``), under the method's name or ``name=``. The
method itself is a typed reference: ``handle.signal(MyWorkflow.approve, arg)``.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Generic, Optional, Tuple, TypeVar, Union, overload

import attrs

from ._runtime.instance import running

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


@overload
def signal(fn: F, /) -> F: ...


@overload
def signal(*, name: Optional[str] = None, description: Optional[str] = None) -> Callable[[F], F]: ...


def signal(fn: Any = None, /, *, name: Optional[str] = None, description: Optional[str] = None) -> Any:
    """Temporal's ``@workflow.signal``: the method handles the signal named after it (or ``name``).
    ``handle.signal(MyWorkflow.method, arg)`` sends it by reference."""
    return _handler("signal", fn, name)


@overload
def query(fn: F, /) -> F: ...


@overload
def query(*, name: Optional[str] = None, description: Optional[str] = None) -> Callable[[F], F]: ...


def query(fn: Any = None, /, *, name: Optional[str] = None, description: Optional[str] = None) -> Any:
    """Temporal's ``@workflow.query``: the method answers the query named after it (or ``name``)."""
    return _handler("query", fn, name)


@overload
def update(fn: F, /) -> F: ...


@overload
def update(*, name: Optional[str] = None, description: Optional[str] = None) -> Callable[[F], F]: ...


def update(fn: Any = None, /, *, name: Optional[str] = None, description: Optional[str] = None) -> Any:
    """Temporal's ``@workflow.update``: the method handles the update named after it (or ``name``).
    ``@method.validator`` on another method names its validator, which runs first and rejects
    the update (unrecorded) by raising."""
    return _handler("update", fn, name)


def _handler(kind: str, fn: Any, name: Optional[str]) -> Any:
    def decorate(method: Any) -> Any:
        if not callable(method):
            raise TypeError(f"@workflow.{kind} decorates a method, not {method!r}")
        method._postgrip_handler_kind = kind
        method._postgrip_handler_name = nonempty(name or method.__name__, kind)
        if kind == "update":

            def validator(check: F) -> F:
                method._postgrip_validator = check
                return check

            method.validator = validator
        return method

    return decorate(fn) if fn is not None else decorate


def decorated_handlers(cls: type) -> Tuple[Tuple[str, str, str, Optional[str]], ...]:
    """(kind, name, method name, validator name) of the class's decorated handler methods, base classes included."""
    found: Dict[Tuple[str, str], Tuple[str, str, str, Optional[str]]] = {}
    for klass in reversed(cls.__mro__):
        for attribute, value in vars(klass).items():
            kind = getattr(value, "_postgrip_handler_kind", None)
            if kind is not None:
                check = getattr(value, "_postgrip_validator", None)
                name = value._postgrip_handler_name
                found[(kind, name)] = (kind, name, attribute, getattr(check, "__name__", None))
    return tuple(found.values())


def nonempty(name: str, kind: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{kind} name must be a non-empty string")
    return name


__all__ = ["signal", "query", "update", "decorated_handlers", "nonempty"]


# ------------------------------------------------------------------ signals, queries, updates


@attrs.frozen
class _Definition(Generic[T]):
    name: str
    kind: str


class SignalDefinition(_Definition[None]):
    """A signal's name (``workflow.define_signal``), for ``set_handler`` and ``handle.signal``."""

    pass


class QueryDefinition(_Definition[T]):
    """A query's name (``workflow.define_query``), for ``set_handler`` and ``handle.query``."""

    pass


class UpdateDefinition(_Definition[T]):
    """An update's name (``workflow.define_update``), for ``set_handler`` and ``handle.execute_update``."""

    pass


def define_signal(name: str) -> SignalDefinition:
    """A signal definition by name (the async SDK's style), for ``set_handler`` and ``handle.signal``."""
    return SignalDefinition(name=nonempty(name, "signal"), kind="signal")


def define_query(name: str) -> QueryDefinition[Any]:
    """A query definition by name (the async SDK's style), for ``set_handler`` and ``handle.query``."""
    return QueryDefinition(name=nonempty(name, "query"), kind="query")


def define_update(name: str) -> UpdateDefinition[Any]:
    """An update definition by name (the async SDK's style), for ``set_handler`` and ``handle.execute_update``."""
    return UpdateDefinition(name=nonempty(name, "update"), kind="update")


def set_handler(
    definition: Union[_Definition[Any], str],
    handler: Optional[Callable[..., Any]],
    *,
    validator: Optional[Callable[..., Any]] = None,
) -> None:
    """Bind a handler (call it from the workflow's ``__init__`` so every replay re-registers it).

    A plain string names a signal. Buffered signals of that name are delivered now, in order.
    An update ``validator`` runs before the handler; raising rejects the update unrecorded.
    """
    instance = running("set_handler")
    kind, name = ("signal", definition) if isinstance(definition, str) else (definition.kind, definition.name)
    instance.set_handler(kind, name, handler, validator)
