"""Payloads: how workflow and activity values become the wire's JSON, and come back typed.

Every value that crosses the wire (workflow and activity arguments and results, signals,
queries, updates, child workflows, continue-as-new, memo, heartbeat details, failure details)
goes through a [`DataConverter`][postgrip_agent.converter.DataConverter]: its [`PayloadConverter`][postgrip_agent.converter.PayloadConverter] turns the value into plain
JSON, and back into the type a hint names; then its codecs, if any, turn that JSON into an
opaque envelope (compressed, encrypted) and back.

Plain JSON forms (what a foreign client or the console sees)::

    dataclass, attrs class, TypedDict   -> object        pydantic v2 model -> model_dump(mode="json")
    datetime / date / time              -> ISO-8601 text ("2026-12-03T10:00:00+00:00", "2026-12-03", "10:00:00")
    timedelta                           -> seconds, a number
    Decimal, UUID                       -> text          bytes, bytearray -> base64 text
    set, frozenset                      -> array (sorted when its items can be)
    tuple, NamedTuple                   -> array         Enum -> its value

An envelope (a payload passed through codecs) is one JSON object::

    {"postgrip:encoded": {"codecs": ["zlib", "aes256-gcm"], "data": "<base64>"}}

``data`` is the payload's JSON text (UTF-8) after each codec in ``codecs``, in that order.
"""

from __future__ import annotations

import base64
import dataclasses
import decimal
import enum
import json
import os
import typing
import uuid
import zlib
from datetime import date, datetime, time, timedelta
from typing import Any, Callable, Dict, List, Mapping, Sequence, Type, TypeVar, Union, get_origin

import cattrs

from ._converter import _configure, describe_structure_error

T = TypeVar("T")

__all__ = [
    "DataConverter",
    "EncryptionCodec",
    "PayloadCodec",
    "PayloadConversionError",
    "PayloadConverter",
    "ZlibCodec",
    "ENVELOPE_KEY",
]

#: the key of the one-key object that marks a payload passed through codecs
ENVELOPE_KEY = "postgrip:encoded"


class PayloadConversionError(TypeError):
    """A value could not become JSON, or JSON could not become the type its hint names."""


def _is_pydantic_model(cls: Any) -> bool:
    return (
        isinstance(cls, type)
        and callable(getattr(cls, "model_validate", None))
        and callable(getattr(cls, "model_dump", None))
        and hasattr(cls, "model_fields")
    )


def _origin(hint: Any) -> Any:
    return get_origin(hint) or hint


def _is_union(hint: Any) -> bool:
    return get_origin(hint) is Union or type(hint).__name__ == "UnionType"  # Union[...] and X | Y


def _is_namedtuple(hint: Any) -> bool:
    return isinstance(hint, type) and issubclass(hint, tuple) and hasattr(hint, "_fields")


def _is_set(hint: Any) -> bool:
    origin = _origin(hint)
    return isinstance(origin, type) and issubclass(origin, (set, frozenset))


def _items(values: Any, each: Callable[[Any], Any]) -> List[Any]:
    out = [each(v) for v in values]
    try:
        return sorted(out)  # a set's order is not stable between processes: sorted, when it can be
    except TypeError:
        return out


def _structure_time(kind: Any) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _: Any) -> Any:
        if isinstance(value, kind) and not (kind is date and isinstance(value, datetime)):
            return value
        if not isinstance(value, str):
            raise TypeError(f"expected ISO-8601 text for a {kind.__name__}, got {type(value).__name__} {value!r}"[:200])
        text = value[:-1] + "+00:00" if kind is not date and value.endswith("Z") else value
        try:
            return kind.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO-8601 {kind.__name__}") from None

    return structure


def _structure_timedelta(value: Any, _: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number of seconds for a timedelta, got {type(value).__name__} {value!r}"[:200])
    return timedelta(seconds=value)


def _structure_text(kind: Any, parse: Callable[[str], Any], what: str) -> Callable[[Any, Any], Any]:
    def structure(value: Any, _: Any) -> Any:
        if isinstance(value, kind):
            return value
        if not isinstance(value, str) and not (
            kind is decimal.Decimal and isinstance(value, (int, float)) and not isinstance(value, bool)
        ):
            raise TypeError(f"expected {what}, got {type(value).__name__} {value!r}"[:200])
        try:
            return parse(value if isinstance(value, str) else repr(value))
        except (ValueError, ArithmeticError, TypeError):
            raise ValueError(f"{value!r} is not {what}"[:200]) from None

    return structure


def _to_base64(value: Any) -> str:
    return base64.b64encode(bytes(value)).decode("ascii")


def _bytes_parser(kind: Any) -> Callable[[str], Any]:
    return lambda text: kind(base64.b64decode(text.encode("ascii"), validate=True))


class PayloadConverter:
    """Values to plain JSON and back by type hints.

    Configured as the SDK's one cattrs converter is (``_converter._configure``: its strict
    scalars and containers apply, a str where an int is due is a mistake, not a conversion), with
    the plain forms above added. Add a type of your own with [`register()`][postgrip_agent.converter.PayloadConverter.register]; anything cattrs can handle (attrs
    classes, dataclasses, generics) works without it."""

    def __init__(self) -> None:
        converter = cattrs.Converter(forbid_extra_keys=False)
        _configure(converter)
        self._cattrs = converter
        for moment in (datetime, date, time):
            converter.register_unstructure_hook(moment, lambda v: v.isoformat())
            converter.register_structure_hook(moment, _structure_time(moment))
        converter.register_unstructure_hook(timedelta, lambda v: v.total_seconds())
        converter.register_structure_hook(timedelta, _structure_timedelta)
        converter.register_unstructure_hook(decimal.Decimal, str)
        converter.register_structure_hook(decimal.Decimal, _structure_text(decimal.Decimal, decimal.Decimal, "a decimal number"))
        converter.register_unstructure_hook(uuid.UUID, str)
        converter.register_structure_hook(uuid.UUID, _structure_text(uuid.UUID, uuid.UUID, "a UUID"))
        for binary in (bytes, bytearray):
            converter.register_unstructure_hook(binary, _to_base64)
            converter.register_structure_hook(binary, _structure_text(binary, _bytes_parser(binary), "base64 text"))
        converter.register_unstructure_hook_func(_is_set, lambda values: _items(values, lambda v: converter.unstructure(v)))
        converter.register_unstructure_hook_func(
            lambda t: isinstance(t, type) and issubclass(t, tuple) and not hasattr(t, "_fields"),
            lambda values: [converter.unstructure(v) for v in values],
        )
        converter.register_unstructure_hook_func(
            lambda t: isinstance(t, type) and issubclass(t, enum.Enum), lambda member: converter.unstructure(member.value)
        )
        converter.register_structure_hook_func(_is_namedtuple, self._structure_namedtuple)
        converter.register_structure_hook_func(_is_union, self._structure_union)
        converter.register_unstructure_hook_func(_is_pydantic_model, lambda model: model.model_dump(mode="json"))
        converter.register_structure_hook_func(_is_pydantic_model, lambda data, cls: cls.model_validate(data))

    def _structure_namedtuple(self, data: Any, cls: Any) -> Any:
        """A NamedTuple from its array (or object), its fields by their hints (string hints too)."""
        hints = typing.get_type_hints(cls)
        fields = cls._fields
        if isinstance(data, dict):
            data = [data[name] for name in fields if name in data]
        if not isinstance(data, (list, tuple)) or len(data) > len(fields):
            raise TypeError(f"expected an array of at most {len(fields)} items for {cls.__name__}, got {data!r}"[:200])
        return cls(*(self._cattrs.structure(value, hints.get(name, Any)) for name, value in zip(fields, data)))

    def _structure_union(self, data: Any, hint: Any) -> Any:
        """The first member of a Union the data fits: its own JSON type first (a str stays a str
        in ``Union[int, str]``), then the others in the order written."""
        members = typing.get_args(hint)
        if data is None and type(None) in members:
            return None
        for member in members:
            if member in (str, int, float, bool) and type(data) is member:
                return data
        problems = []
        for member in members:
            if member is type(None):
                continue
            try:
                return self._cattrs.structure(data, member)
            except Exception as err:
                problems.append(f"{getattr(member, '__name__', member)}: {err}")
        raise TypeError(f"{data!r} fits none of {hint}: {'; '.join(problems)}"[:300])

    def register(self, cls: Type[T], *, to_json: Callable[[T], Any], from_json: Callable[[Any], T]) -> None:
        """Convert ``cls`` (and its subclasses) with these two functions: ``to_json(value)`` gives
        JSON-ready data, ``from_json(data)`` the value back."""
        self._cattrs.register_unstructure_hook_func(lambda t: isinstance(t, type) and issubclass(t, cls), to_json)
        self._cattrs.register_structure_hook_func(
            lambda t: isinstance(t, type) and issubclass(t, cls), lambda data, _: from_json(data)
        )

    def to_json(self, value: Any) -> Any:
        """JSON-ready data for ``value`` (by its runtime type)."""
        if value is None or type(value) in (str, int, float, bool):
            return value
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple: an array
            return [self.to_json(v) for v in value]
        data = self._cattrs.unstructure(value)
        if isinstance(data, dict):
            return {k: self.to_json(v) if not _is_json(v) else v for k, v in data.items()}
        if isinstance(data, (list, tuple)):
            return [self.to_json(v) if not _is_json(v) else v for v in data]
        if isinstance(data, (set, frozenset)):
            return _items(data, self.to_json)
        return data

    def from_json(self, data: Any, hint: Any) -> Any:
        """``data`` as the type ``hint`` names (as is when the hint is None or ``Any``)."""
        if hint is None or hint is Any or data is None:
            return data
        if isinstance(hint, type) and type(data) is hint and hint in (str, int, float, bool, dict, list):
            return data
        return self._cattrs.structure(data, hint)


def _is_json(value: Any) -> bool:
    return value is None or type(value) in (str, int, float, bool)


class PayloadCodec:
    """Bytes to bytes, applied to every payload (a value's JSON text) on its way to the service,
    and undone on its way back. ``name`` is recorded in the envelope, so a reader knows which
    codecs to undo, in which order."""

    name: str = ""

    def encode(self, data: bytes) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes) -> bytes:
        raise NotImplementedError


class ZlibCodec(PayloadCodec):
    """Compresses payloads with zlib (``level`` 1–9)."""

    name = "zlib"

    def __init__(self, level: int = 6) -> None:
        if not isinstance(level, int) or not 1 <= level <= 9:
            raise ValueError(f"ZlibCodec level must be an integer 1..9, got {level!r}")
        self.level = level

    def encode(self, data: bytes) -> bytes:
        return zlib.compress(data, self.level)

    def decode(self, data: bytes) -> bytes:
        try:
            return zlib.decompress(data)
        except zlib.error as err:
            raise PayloadConversionError(f"a zlib payload could not be decompressed: {err}") from None


class EncryptionCodec(PayloadCodec):
    """Encrypts payloads with AES-256-GCM (``pip install 'postgrip-agent-sync[encryption]'``).

    ``keys`` maps key ids to 32-byte keys; new payloads use ``key_id``; any key in ``keys``
    decrypts what it encrypted, so keys rotate by adding a new one, making it ``key_id``, and
    keeping the old ones as long as runs that hold their payloads are kept. Each payload is
    ``[1 byte: length of the key id][the key id, UTF-8][12-byte nonce][ciphertext and 16-byte tag]``.
    """

    name = "aes256-gcm"

    def __init__(self, keys: Mapping[str, bytes], key_id: str) -> None:
        try:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        except ImportError:
            raise ImportError(
                "EncryptionCodec needs the 'cryptography' package: pip install 'postgrip-agent-sync[encryption]'"
            ) from None
        if not keys:
            raise ValueError("EncryptionCodec needs at least one key: keys={'key-1': <32 random bytes>}")
        for kid, key in keys.items():
            if not isinstance(kid, str) or not 0 < len(kid.encode()) < 256:
                raise ValueError(f"key ids are non-empty text of at most 255 bytes, got {kid!r}")
            if not isinstance(key, (bytes, bytearray)) or len(key) != 32:
                raise ValueError(
                    f"key {kid!r} must be 32 bytes (AES-256), e.g. os.urandom(32); got "
                    f"{len(key) if isinstance(key, (bytes, bytearray)) else type(key).__name__}"
                )
        if key_id not in keys:
            raise ValueError(f"key_id {key_id!r} is not one of the keys given ({', '.join(map(repr, keys))})")
        self._ciphers = {kid: AESGCM(bytes(key)) for kid, key in keys.items()}
        self.key_id = key_id

    def encode(self, data: bytes) -> bytes:
        kid = self.key_id.encode()
        nonce = os.urandom(12)
        return bytes([len(kid)]) + kid + nonce + self._ciphers[self.key_id].encrypt(nonce, data, kid)

    def decode(self, data: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        size = data[0] if data else 0
        kid_bytes, nonce, sealed = data[1 : 1 + size], data[1 + size : 13 + size], data[13 + size :]
        kid = kid_bytes.decode(errors="replace")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise PayloadConversionError(
                f"payload encrypted with key {kid!r}, which this EncryptionCodec does not have (it has "
                f"{', '.join(map(repr, self._ciphers))}); keep retired keys in keys= so old payloads stay readable"
            )
        try:
            return cipher.decrypt(nonce, sealed, kid_bytes)
        except InvalidTag:
            raise PayloadConversionError(
                f"payload could not be decrypted with key {kid!r}: the key is not the one it "
                "was encrypted with, or the payload was altered"
            ) from None


@dataclasses.dataclass(frozen=True)
class DataConverter:
    """A payload converter and a chain of codecs: give one to ``Client.connect(..., data_converter=)``
    and the client and every Agent on it use it; the service stores what it produces."""

    payload_converter: PayloadConverter = dataclasses.field(default_factory=PayloadConverter)
    codecs: Sequence[PayloadCodec] = ()

    def __post_init__(self) -> None:
        names = [getattr(c, "name", "") for c in self.codecs]
        if not all(isinstance(n, str) and n for n in names):
            raise ValueError("every codec needs a non-empty name (PayloadCodec.name), recorded in each envelope")
        object.__setattr__(self, "codecs", tuple(self.codecs))
        object.__setattr__(self, "_by_name", {c.name: c for c in self.codecs})

    def encode(self, value: Any, what: str = "value") -> Any:
        """The wire's JSON for ``value``: plain, or an envelope when codecs are set."""
        try:
            data = self.payload_converter.to_json(value)
            text = json.dumps(data, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as err:
            raise PayloadConversionError(
                f"{what} cannot be converted to JSON: {err}; pass JSON values, dataclasses, attrs classes, pydantic "
                "models, dates and times, Decimal, UUID, bytes, sets, tuples or enums, or register the type "
                "(DataConverter(payload_converter=...).payload_converter.register)"
            ) from None
        if not self.codecs:
            return data
        raw = text.encode()
        for codec in self.codecs:
            raw = codec.encode(raw)
        return {ENVELOPE_KEY: {"codecs": [c.name for c in self.codecs], "data": base64.b64encode(raw).decode("ascii")}}

    def decode(self, data: Any, hint: Any = None, what: str = "value") -> Any:
        """``data`` from the wire as the type ``hint`` names: envelopes are opened first."""
        data = self.open(data, what)
        try:
            return self.payload_converter.from_json(data, hint)
        except Exception as err:
            name = getattr(hint, "__name__", None) or str(hint)
            raise PayloadConversionError(f"{what} does not fit {name}: {_describe(err)}") from None

    def open(self, data: Any, what: str = "value") -> Any:
        """The plain JSON inside an envelope (``data`` itself when it is not one)."""
        envelope = data.get(ENVELOPE_KEY) if isinstance(data, dict) and len(data) == 1 else None
        if not isinstance(envelope, dict):
            return data
        names, text = envelope.get("codecs"), envelope.get("data")
        if not isinstance(names, list) or not isinstance(text, str):
            raise PayloadConversionError(f"{what}: malformed {ENVELOPE_KEY} envelope (needs codecs and data)")
        by_name: Dict[str, PayloadCodec] = getattr(self, "_by_name")
        missing = [n for n in names if n not in by_name]
        if missing:
            raise PayloadConversionError(
                f"{what} is encoded with {', '.join(map(str, missing))}; give this client a DataConverter with "
                f"that codec (Client.connect(..., data_converter=DataConverter(codecs=[...])))"
            )
        raw = base64.b64decode(text)
        for name in reversed(names):
            raw = by_name[name].decode(raw)
        return json.loads(raw)


def _describe(err: BaseException) -> str:
    errors = getattr(err, "errors", None)
    if callable(errors) and type(err).__name__ == "ValidationError":  # pydantic: each field and why
        try:
            return "; ".join(f"{'.'.join(map(str, e.get('loc', ()))) or 'value'}: {e.get('msg')}" for e in errors())
        except Exception:
            return str(err)
    text = describe_structure_error(err) if isinstance(err, Exception) else str(err)
    return text.replace(" @ body.", " @ ").replace(" @ body", " @ value")  # the field's path inside the value


#: the converter a Client uses unless given another (plain JSON, no codecs)
DEFAULT = DataConverter()
