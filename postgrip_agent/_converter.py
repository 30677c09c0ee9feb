"""The one private cattrs converter for the wire types (and a strict copy for the service).

Wire names come from each field's ``wire`` metadata; unset optionals are omitted; the
client's converter ignores unknown fields from a newer service, the strict one (used by the
local service on request bodies) rejects them, and mistyped or out-of-range values.
"""

from __future__ import annotations

import enum

import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, Mapping, Type, TypeVar, get_args, get_origin

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from . import _wire, _wire_schedules
from ._wire import (
    _RETRY_WIRE,
    EARLIEST_TIMESTAMP,
    INT64_MAX,
    INT64_MIN,
    LATEST_TIMESTAMP,
    RetryPolicy,
    _to_ms,
    format_timestamp,
    parse_timestamp,
)

T = TypeVar("T")


def _strict_scalar(kind: type) -> Any:
    def structure(value: Any, target: Any) -> Any:
        if _is_enum(target):  # an IntEnum or str Enum reaches the int/str hook: give back the member
            return _structure_enum(target)(value, target)
        if kind is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
            return float(value) if ok else _reject(value, "number")
        if kind is int and isinstance(value, bool):
            return _reject(value, "integer")
        if isinstance(value, kind):
            return value
        return _reject(value, {int: "integer", str: "string", bool: "boolean"}[kind])

    return structure


def _strict_container(converter: cattrs.Converter, hint: Any) -> Any:
    """Lists must be JSON arrays and dicts JSON objects (cattrs would happily iterate a string)."""
    origin = get_origin(hint)
    args = get_args(hint)
    expected = "array" if origin is list else "object"
    inner = args[0] if origin is list and args else None
    value_type = args[1] if origin is dict and len(args) == 2 else None

    def structure(value: Any, _: Any) -> Any:
        if origin is list:
            if not isinstance(value, list):
                return _reject(value, expected)
            if inner in (None, Any):
                return list(value)
            return [converter.structure(item, inner) for item in value]
        if not isinstance(value, dict):
            return _reject(value, expected)
        if value_type in (None, Any):
            return dict(value)
        return {str(k): converter.structure(v, value_type) for k, v in value.items()}

    return structure


def _reject(value: Any, expected: str) -> Any:
    raise TypeError(f"expected {expected}, got {type(value).__name__} {value!r}"[:200])


def _structure_datetime(value: Any, _: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str):
        raise TypeError(f"expected an RFC 3339 timestamp string, got {type(value).__name__}")
    try:
        return parse_timestamp(value)
    except ValueError as err:
        raise ValueError(f"invalid RFC 3339 timestamp {value!r}") from err


def _structure_retry(value: Any, _: Any) -> RetryPolicy:
    if isinstance(value, RetryPolicy):
        return value
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a RetryPolicy object, got {type(value).__name__}")
    kwargs: Dict[str, Any] = {}
    for wire, name in _RETRY_WIRE.items():
        raw = value.get(wire)
        if raw is None:
            continue
        if name.endswith("interval"):
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                raise TypeError(f"RetryPolicy.{wire} must be an integer number of milliseconds")
            kwargs[name] = timedelta(milliseconds=raw)
        elif name == "backoff_coefficient":
            kwargs[name] = _strict_scalar(float)(raw, float)
        elif name == "maximum_attempts":
            kwargs[name] = _strict_scalar(int)(raw, int)
        else:
            if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
                raise TypeError("RetryPolicy.nonRetryableErrorTypes must be a list of strings")
            kwargs[name] = list(raw)
    return RetryPolicy(**kwargs)


def _unstructure_retry(policy: RetryPolicy) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for wire, name in _RETRY_WIRE.items():
        value = getattr(policy, name)
        if value is None:
            continue
        out[wire] = _to_ms(value) if name.endswith("interval") else value
    return out


def _is_enum(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, enum.Enum)


def _structure_enum(hint: Type[enum.Enum]) -> Any:
    def structure(value: Any, _: Any) -> enum.Enum:
        try:
            return hint(value)
        except ValueError:
            allowed = ", ".join(repr(member.value) for member in hint)
            raise ValueError(f"{value!r} is not a {hint.__name__} (one of {allowed})") from None

    return structure


def _configure(converter: cattrs.Converter) -> None:
    for kind in (int, str, bool, float):
        converter.register_structure_hook(kind, _strict_scalar(kind))

    converter.register_structure_hook(datetime, _structure_datetime)
    converter.register_structure_hook_factory(
        lambda t: get_origin(t) in (list, dict),  # type: ignore[comparison-overlap]
        lambda t: _strict_container(converter, t),
    )
    converter.register_unstructure_hook(datetime, format_timestamp)
    converter.register_unstructure_hook(RetryPolicy, _unstructure_retry)

    def structure_factory(cls: Type[Any]) -> Any:
        overrides = {f.name: override(rename=f.metadata["wire"]) for f in attrs.fields(cls) if "wire" in f.metadata}
        return make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]

    def unstructure_factory(cls: Type[Any]) -> Any:
        overrides = {
            f.name: override(rename=f.metadata["wire"], omit_if_default=f.default is None)
            if "wire" in f.metadata
            else override(omit_if_default=f.default is None)
            for f in attrs.fields(cls)
        }
        return make_dict_unstructure_fn(cls, converter, **overrides)  # type: ignore[arg-type]

    def is_wire(cls: Any) -> bool:
        return attrs.has(cls) and cls is not RetryPolicy

    converter.register_structure_hook_factory(is_wire, structure_factory)
    converter.register_unstructure_hook_factory(is_wire, unstructure_factory)


_converter = cattrs.Converter(forbid_extra_keys=False)
_configure(_converter)
_strict_converter = cattrs.Converter(forbid_extra_keys=True)
_configure(_strict_converter)
_strict_converter.register_structure_hook(RetryPolicy, lambda value, _: _structure_retry_strict(value))

#: request bodies: integers fit in 64 bits, numbers are finite, timestamps fall in 1970..2199


def _strict_int(value: Any, _: Any) -> int:
    number: int = _strict_scalar(int)(value, int)
    if not INT64_MIN <= number <= INT64_MAX:
        raise ValueError(f"integer {number} does not fit in 64 bits")
    return number


def _strict_float(value: Any, _: Any) -> float:
    number: float = _strict_scalar(float)(value, float)
    if not math.isfinite(number):
        raise ValueError(f"number {number} is not finite")
    return number


def _strict_datetime(value: Any, _: Any) -> datetime:
    when = _structure_datetime(value, datetime)
    if not EARLIEST_TIMESTAMP <= when < LATEST_TIMESTAMP:
        raise ValueError(f"timestamp {value!r} is outside 1970-01-01..2199-12-31")
    return when


_strict_converter.register_structure_hook(int, _strict_int)
_strict_converter.register_structure_hook(float, _strict_float)
_strict_converter.register_structure_hook(datetime, _strict_datetime)


def _structure_retry_strict(value: Any) -> RetryPolicy:
    if isinstance(value, Mapping):
        extra = sorted(set(value) - set(_RETRY_WIRE))
        if extra:
            raise ValueError(f"unknown RetryPolicy field(s): {', '.join(extra)}")
    return _structure_retry(value, RetryPolicy)


_converter.register_structure_hook(RetryPolicy, _structure_retry)


def to_json(value: Any) -> Any:
    """Unstructure a wire object (or a list/dict of them) into JSON-ready data."""
    if isinstance(value, enum.Enum):
        return value.value
    return _converter.unstructure(value)


def from_json(data: Any, cls: Type[T]) -> T:
    """Structure JSON data from the service into ``cls``; unknown fields are ignored."""
    return _converter.structure(data, cls)


def structure_strict(data: Any, cls: Type[T]) -> T:
    """Structure a request body, rejecting unknown fields and mistyped values."""
    return _strict_converter.structure(data, cls)


def structure_as(data: Any, cls: Any) -> Any:
    """Structure JSON data into an arbitrary type hint (``List[int]``, an attrs class, ...)."""
    return _converter.structure(data, cls)


def describe_structure_error(err: Exception) -> str:
    """One line naming every field that failed and why, for 400 responses and client errors."""
    if isinstance(err, (cattrs.ClassValidationError, cattrs.IterableValidationError)):
        messages = cattrs.transform_error(err, path="body", format_exception=_format_field_error)
        return "; ".join(_wire_path(m) for m in messages)
    return str(err)


def _wire_names() -> Dict[str, str]:
    names: Dict[str, str] = {}
    for value in [*vars(_wire).values(), *vars(_wire_schedules).values()]:
        if isinstance(value, type) and attrs.has(value) and value is not RetryPolicy:
            for f in attrs.fields(value):
                if "wire" in f.metadata:
                    names[f.name] = f.metadata["wire"]
    return names


def _wire_path(message: str) -> str:
    text, sep, path = message.rpartition(" @ ")
    if not sep:
        return message
    parts = [_WIRE_NAMES.get(part, part) for part in path.split(".")]
    return f"{text} @ {'.'.join(parts)}"


def _format_field_error(exc: BaseException, _type: Any) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return f"unknown field(s) {', '.join(sorted(exc.extra_fields))}"
    literal = re.match(r"^(.*) not in literal typing.Literal\[(.*)\]$", str(exc))
    if literal:
        return f"must be one of {literal.group(2)}, got {literal.group(1)!r}"
    return str(exc) or type(exc).__name__


_WIRE_NAMES = _wire_names()
