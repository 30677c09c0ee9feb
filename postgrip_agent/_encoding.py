"""Turning user values into JSON for the wire and back, with errors that name the culprit."""

from __future__ import annotations

import functools
import inspect
import typing
from datetime import timedelta
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import types as wt
from .converter import DEFAULT, DataConverter

_UNSET: Any = object()

#: the memo key the console (and the reference SDKs) read a run's display metadata from
UI_MEMO_KEY = "postgrip.ui"


def encode_value(value: Any, what: str, converter: DataConverter = DEFAULT) -> Any:
    """The wire's JSON for ``value`` through ``converter`` (plain JSON forms, then its codecs)."""
    return converter.encode(value, what)


def encode_args(args: Sequence[Any], what: str = "argument", converter: DataConverter = DEFAULT) -> List[Any]:
    return [converter.encode(arg, f"{what} {i}") for i, arg in enumerate(args)]


def plain_value(value: Any, what: str) -> Any:
    """JSON for a value the service itself reads (search attributes, task payloads): typed
    values in their plain forms, never through codecs."""
    return DEFAULT.encode(value, what)


@functools.lru_cache(maxsize=4096)
def _parameter_types(fn: Callable[..., Any]) -> Tuple[Optional[Any], ...]:
    """Annotated types of ``fn``'s positional parameters (None where there is nothing to decode)."""
    try:
        hints = typing.get_type_hints(fn)
        params = [p for p in inspect.signature(fn).parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except Exception:  # unresolvable annotations or no signature: pass values through
        return ()
    return tuple(hints.get(p.name) for p in params)


def decode_args(fn: Callable[..., Any], args: Sequence[Any], what: str, converter: DataConverter = DEFAULT) -> List[Any]:
    """Arguments from the wire as the types ``fn`` declares (dataclasses, dates, pydantic models...);
    a PayloadConversionError names the argument and the field that does not fit."""
    types_ = _parameter_types(getattr(fn, "__func__", fn))
    offset = 1 if inspect.ismethod(fn) else 0
    out = list(args)
    for i, value in enumerate(out):
        hint = types_[i + offset] if i + offset < len(types_) else None
        out[i] = converter.decode(value, hint, f"{what}: argument {i}")
    return out


def decode_value(value: Any, result_type: Optional[Any], converter: DataConverter = DEFAULT, what: str = "result") -> Any:
    """A value from the wire as ``result_type`` (as plain JSON when None)."""
    return converter.decode(value, result_type, what)


def duration_ms(value: Any, what: str) -> Optional[int]:
    """Milliseconds for a timedelta or a number of seconds; rejects negatives with a clear error."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(f"{what} must be a timedelta or a number of seconds, not {type(value).__name__}")
    if seconds < 0:
        raise ValueError(f"{what} must not be negative (got {seconds} s)")
    return int(round(seconds * 1000))


#: the longest timeout a command may name (100 years)
MAX_TIMEOUT_MS = 100 * 366 * 86_400_000


def timeout_ms(value: Any, what: str) -> Optional[int]:
    """A command's timeout in milliseconds (None when not given); zero, negative or over 100 years is refused."""
    ms = duration_ms(value, what)
    if ms is None:
        return None
    if ms <= 0:
        raise ValueError(f"{what} must be positive (got {value!r}); leave it out for no {what}")
    if ms > MAX_TIMEOUT_MS:
        raise ValueError(f"{what} must be at most 100 years (got {value!r})")
    return ms


def milestone_event(
    name: str, index: Optional[int], total: Optional[int], status: str, details: Optional[Dict[str, Any]]
) -> Dict[str, Any]:
    """The task event a milestone becomes (the same shape from workflows and activities)."""
    prefix = f"step {index}/{total} " if index is not None and total is not None else ""
    event_details = {**(details or {}), "milestone": True, "name": name, "status": status}
    if index is not None:
        event_details["index"] = index
    if total is not None:
        event_details["total"] = total
    return {"kind": "milestone", "stage": "milestone", "message": f"{prefix}{status} {name}".strip(), "details": event_details}


def name_of(target: Any, kind: str) -> str:
    """The registered name of a workflow/activity/definition, or the string itself."""
    if isinstance(target, str):
        name = target
    else:
        name = (
            getattr(target, "_postgrip_handler_name", None)
            or getattr(target, "_postgrip_workflow_name", None)
            or getattr(target, "_postgrip_activity_name", None)
            or getattr(target, "name", None)
            or getattr(target, "__name__", None)
            or ""
        )
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"{kind} name must be a non-empty string (got {target!r})")
    return name


@functools.lru_cache(maxsize=1024)
def return_type_of(workflow: Any) -> Optional[Any]:
    """The return annotation of a workflow's run method (unwrapping generators and coroutines)."""
    if isinstance(workflow, str) or workflow is None:
        return None
    run = getattr(workflow, "_postgrip_run_method", None) or workflow
    try:
        hints = typing.get_type_hints(run)
    except Exception:
        return None
    hint = hints.get("return")
    if hint is None or hint is type(None):
        return None
    origin = typing.get_origin(hint)
    if origin is not None and getattr(origin, "__name__", "") in ("Generator", "Coroutine"):
        args = typing.get_args(hint)
        hint = args[2] if len(args) == 3 else None
    if hint is Any or inspect.isclass(hint) and hint in (object,):
        return None
    return hint


def handler_result_type(target: Any) -> Optional[Any]:
    """What a typed reference to a query or update handler (a decorated method) returns, so
    the answer can be decoded into it; None for names and definitions."""
    if getattr(target, "_postgrip_handler_name", None) is None:
        return None
    return return_type_of(target)


def retry_json(policy: Union[wt.RetryPolicy, Mapping[str, Any], None]) -> Optional[Dict[str, Any]]:
    """A retry policy (a RetryPolicy, or its wire dict as the async SDK passes it) as wire JSON."""
    if policy is None:
        return None
    if isinstance(policy, Mapping):
        policy = wt.from_json(dict(policy), wt.RetryPolicy)
    if not isinstance(policy, wt.RetryPolicy):
        raise TypeError(f"retry_policy must be a RetryPolicy, not {type(policy).__name__}")
    return wt.to_json(policy)  # type: ignore[no-any-return]


def lease_seconds(value: Any, what: str) -> Optional[int]:
    """A lease length in whole seconds for the wire (at least 1), from a timedelta or seconds."""
    lease_ms = duration_ms(value, what)
    return None if lease_ms is None else max(1, lease_ms // 1000)


def memo_json(
    memo: Optional[Mapping[str, Any]], ui: Optional[Mapping[str, Any]], converter: DataConverter = DEFAULT
) -> Optional[Dict[str, Any]]:
    """A run's memo (each value through ``converter``), with the console's ``ui`` metadata, in
    plain JSON the console reads, under its key."""
    if memo is not None and not isinstance(memo, Mapping):
        raise TypeError(f"memo must be a mapping of names to values, not {type(memo).__name__}")
    memo_json = {str(k): converter.encode(v, f"memo {k!r}") for k, v in memo.items()} if memo else {}
    shown = ui_memo(ui) if ui else None
    if shown:
        memo_json[UI_MEMO_KEY] = shown
    return memo_json or None


def ui_memo(ui: Mapping[str, Any]) -> Dict[str, Any]:
    """The console's display metadata, as the reference SDKs write it: ``displayName`` (or
    ``display_name``), ``description``, ``details`` (an object) and ``tags`` (strings), blanks dropped."""
    if not isinstance(ui, Mapping):
        raise TypeError(f"ui must be a mapping (displayName, description, details, tags), not {type(ui).__name__}")

    def text(value: Any) -> Optional[str]:
        return value.strip() or None if isinstance(value, str) else None

    out: Dict[str, Any] = {}
    name = text(ui.get("displayName") or ui.get("display_name"))
    if name:
        out["displayName"] = name
    description = text(ui.get("description"))
    if description:
        out["description"] = description
    details = ui.get("details")
    if isinstance(details, Mapping):
        kept = {str(key).strip(): value for key, value in details.items() if str(key).strip()}
        if kept:
            out["details"] = encode_value(kept, "ui details")
    tags = [t for t in (text(tag) for tag in ui.get("tags") or []) if t] if isinstance(ui.get("tags"), list) else []
    if tags:
        out["tags"] = tags
    return out
