"""Calling workflow code: binding arguments to a function (signatures looked up once)."""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, List, Optional

from .._encoding import decode_args
from ..converter import DEFAULT, DataConverter, PayloadConversionError
from ..errors import ApplicationFailure
from .futures import WorkflowFuture


def _init_takes_args(cls: type) -> bool:
    if cls.__init__ is object.__init__:  # type: ignore[misc]
        return False
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # type: ignore[misc]
    except (TypeError, ValueError):
        return False
    return any(
        p.kind in (p.VAR_POSITIONAL,) or p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        for p in params
    )


@functools.lru_cache(maxsize=4096)
def _signature_of(func: Callable[..., Any]) -> inspect.Signature:
    return inspect.signature(func)


def _check_arguments(fn: Callable[..., Any], args: List[Any]) -> None:
    """Bind ``args`` to ``fn``'s signature (looked up once per function, not per call)."""
    func = getattr(fn, "__func__", None)
    try:
        if func is not None:  # a bound method: its function's signature, with self
            _signature_of(func).bind(fn.__self__, *args)  # type: ignore[attr-defined]
        else:
            _signature_of(fn).bind(*args)
    except TypeError as err:
        if "unhashable" in str(err):  # a callable object that cannot be a cache key
            inspect.signature(fn).bind(*args)
        else:
            raise


def _call(
    fn: Callable[..., Any],
    args: List[Any],
    what: str,
    converter: DataConverter = DEFAULT,
    invoke: Optional[Callable[[Callable[..., Any], List[Any]], Any]] = None,
) -> Any:
    """``fn`` with ``args`` decoded into the types it declares (through ``invoke``: the run's
    interceptors, when it has some)."""
    try:
        _check_arguments(fn, args)
    except TypeError as err:
        raise TypeError(f"{what} cannot take arguments {args!r}: {err}") from None
    except ValueError:
        pass  # builtins without a signature
    try:
        decoded = decode_args(fn, args, what, converter)
    except PayloadConversionError as err:  # the same arguments would fail the same way again
        raise ApplicationFailure(str(err), type="PayloadConversionError", non_retryable=True) from None
    return fn(*decoded) if invoke is None else invoke(fn, decoded)


def set_decoded(future: WorkflowFuture[Any], value: Any, converter: DataConverter) -> None:
    """Resolve an activity's or a child's future with its result, as the type it declares; a
    result that does not fit fails the future for good, naming the field."""
    try:
        decoded = converter.decode(value, future.result_type, f"{future.description} result")
    except PayloadConversionError as err:
        future.set_exception(ApplicationFailure(str(err), type="PayloadConversionError", non_retryable=True))
        return
    future.set_result(decoded)
