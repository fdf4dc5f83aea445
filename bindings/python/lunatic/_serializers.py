"""Serializers: how a message (or a spawn's capture) becomes bytes and back.

A serializer is any object with two callables::

    encode(value) -> bytes      # raises lunatic.SerializationError
    decode(data: bytes) -> Any  # raises lunatic.DeserializationError

:class:`Pickle` is the default for Python-only processes. :class:`MessagePack`
and :class:`Json` write exactly the bytes of the C++ ``lunatic::MessagePack``
and ``lunatic::Json`` serializers (docs/wire-format.md), so Python and C++
processes exchange messages.
"""

from __future__ import annotations

import io
import json
import math
import pickle
from typing import Any, List

from . import _lunatic
from ._errors import DeserializationError, SerializationError

__all__ = ["Pickle", "MessagePack", "Json"]

# Values nest at most this many arrays/maps (docs/wire-format.md).
MAX_DEPTH = 128
_U64_MAX = (1 << 64) - 1
_I64_MIN = -(1 << 63)


def _is_handle(value: Any) -> bool:
    # lunatic.Process (and anything else that declares its wire fields).
    return hasattr(type(value), "_lunatic_fields")


def _handle_fields(value: Any):
    return value._lunatic_fields()


class Pickle:
    """Python's :mod:`pickle` (highest protocol): any picklable value; Python only.

    Decoding rejects trailing bytes after the pickle, like the other serializers.
    """

    name = "pickle"

    @staticmethod
    def encode(value: Any) -> bytes:
        try:
            return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # PicklingError, TypeError, AttributeError, RecursionError, ...
            raise SerializationError(f"Pickle: cannot encode {type(value).__name__}: {e}") from e

    @staticmethod
    def decode(data: bytes) -> Any:
        stream = io.BytesIO(data)
        try:
            value = pickle.Unpickler(stream).load()
        except Exception as e:
            raise DeserializationError(f"Pickle: cannot decode the payload: {type(e).__name__}: {e}") from e
        if stream.tell() != len(data):
            raise DeserializationError(
                f"Pickle: {len(data) - stream.tell()} trailing byte(s) after the value")
        return value


# ---------------------------------------------------------------- MessagePack

def _msgpack_default(value: Any) -> Any:
    if _is_handle(value):
        return list(_handle_fields(value))
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    raise TypeError(f"cannot serialize {type(value).__name__!r} object")


def _reject_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"ext type {code} is not allowed")


def _check_msgpack_depth(value: Any, encoding: bool) -> None:
    """Arrays and maps nest at most MAX_DEPTH levels; decoded values hold no ext/Timestamp."""
    stack = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        v, d = pop()
        if isinstance(v, (str, bytes, int, float, bool)) or v is None:
            continue
        if isinstance(v, (list, tuple, set, frozenset)):
            if d > MAX_DEPTH:
                break
            for x in v:
                if not isinstance(x, (str, bytes, int, float)):
                    push((x, d + 1))
        elif isinstance(v, dict):
            if d > MAX_DEPTH:
                break
            for k, x in v.items():
                if not isinstance(k, (str, bytes, int, float)):
                    push((k, d + 1))
                if not isinstance(x, (str, bytes, int, float)):
                    push((x, d + 1))
        elif encoding and _is_handle(v):
            if d > MAX_DEPTH:
                break
        elif not encoding:
            raise DeserializationError(f"MessagePack: {type(v).__name__} values are not allowed")
    else:
        return
    if encoding:
        raise SerializationError(f"MessagePack: the value nests more than {MAX_DEPTH} arrays/maps")
    raise DeserializationError(f"MessagePack: the payload nests more than {MAX_DEPTH} arrays/maps")


class MessagePack:
    """MessagePack, byte-compatible with C++ ``lunatic::MessagePack``.

    ``None``, ``bool``, ``int`` (−2⁶³ … 2⁶⁴−1), ``float`` (always float 64),
    ``str``, ``bytes``/``bytearray`` (bin), ``list``/``tuple`` (array),
    ``set`` (array, sorted when it can be), ``dict`` (map) and
    :class:`lunatic.Process` (the array ``[node_id, id]``). Decoding gives
    lists for arrays and dicts for maps; turn a received handle back into a
    process with :meth:`lunatic.Process.from_wire`.
    """

    name = "msgpack"

    @staticmethod
    def encode(value: Any) -> bytes:
        import msgpack

        _check_msgpack_depth(value, True)
        try:
            return msgpack.packb(value, default=_msgpack_default, use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as e:  # UnicodeEncodeError is a ValueError
            raise SerializationError(f"MessagePack: cannot encode the value: {e}") from e

    @staticmethod
    def decode(data: bytes) -> Any:
        import msgpack

        try:
            value = msgpack.unpackb(data, raw=False, strict_map_key=False, ext_hook=_reject_ext)
        except Exception as e:  # ExtraData, FormatError, StackError, UnicodeDecodeError, TypeError...
            raise DeserializationError(f"MessagePack: cannot decode the payload: {type(e).__name__}: {e}") from e
        _check_msgpack_depth(value, False)
        return value


# ----------------------------------------------------------------------- Json

def _json_float(x: float) -> str:
    if not math.isfinite(x):
        raise SerializationError(f"Json: {x!r} cannot be written as JSON")
    if _json_double is not None:
        return _json_double(x)
    text = float.__repr__(x)
    # Python writes 1e15 <= |x| < 1e16 in positional form; nlohmann_json (the
    # C++ side) switches to an exponent one decade earlier.
    if "e" not in text and 1e15 <= abs(x) < 1e16:
        sign = "-" if text[0] == "-" else ""
        integral, fraction = text.lstrip("-").split(".")
        digits = (integral + fraction).rstrip("0")  # integral has exactly 16 digits
        text = sign + digits[0] + ("." + digits[1:] if len(digits) > 1 else "") + "e+15"
    return text


# The C++ side writes doubles with nlohmann_json's Grisu2, whose digits are not
# always Python's shortest repr (-1.19738 -> -1.1973800000000001): the binding
# formats them with the very same code when it was built with nlohmann_json.
_json_double = _lunatic.json_double if _lunatic.json_double(1.0) is not None else None

_encode_str = json.encoder.encode_basestring  # the C escaper json.dumps uses (ensure_ascii=False)


def _json_write(v: Any, depth: int, out: List[str]) -> None:
    t = type(v)
    if t is str:
        out.append(_encode_str(v))
    elif v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, int):
        if not _I64_MIN <= v <= _U64_MAX:
            raise SerializationError(f"Json: the integer {v} does not fit 64 bits")
        out.append(int.__repr__(v))
    elif isinstance(v, float):
        out.append(_json_float(v))
    elif isinstance(v, str):
        out.append(_encode_str(str(v)))
    elif isinstance(v, (list, tuple)):
        if depth > MAX_DEPTH:
            raise SerializationError(f"Json: the value nests more than {MAX_DEPTH} arrays/objects")
        out.append("[")
        first = True
        for x in v:
            if not first:
                out.append(",")
            first = False
            _json_write(x, depth + 1, out)
        out.append("]")
    elif isinstance(v, dict):
        if depth > MAX_DEPTH:
            raise SerializationError(f"Json: the value nests more than {MAX_DEPTH} arrays/objects")
        if all(isinstance(k, str) for k in v):
            out.append("{")
            first = True
            for k, x in v.items():
                if not first:
                    out.append(",")
                first = False
                out.append(_encode_str(str(k)))
                out.append(":")
                _json_write(x, depth + 1, out)
            out.append("}")
        else:
            # Maps with other keys: an array of [key, value] arrays (two levels).
            if depth + 1 > MAX_DEPTH:
                raise SerializationError(f"Json: the value nests more than {MAX_DEPTH} arrays/objects")
            out.append("[")
            first = True
            for k, x in v.items():
                if not first:
                    out.append(",")
                first = False
                out.append("[")
                _json_write(k, depth + 2, out)
                out.append(",")
                _json_write(x, depth + 2, out)
                out.append("]")
            out.append("]")
    elif isinstance(v, (bytes, bytearray, memoryview)):
        if depth > MAX_DEPTH:
            raise SerializationError(f"Json: the value nests more than {MAX_DEPTH} arrays/objects")
        out.append("[" + ",".join(map(str, bytes(v))) + "]")
    elif isinstance(v, (set, frozenset)):
        try:
            items = sorted(v)
        except TypeError:
            items = list(v)
        _json_write(items, depth, out)
    elif _is_handle(v):
        if depth > MAX_DEPTH:
            raise SerializationError(f"Json: the value nests more than {MAX_DEPTH} arrays/objects")
        node_id, id_ = _handle_fields(v)
        out.append('{"node_id":%d,"id":%d}' % (node_id, id_))
    else:
        raise SerializationError(f"Json: cannot encode {type(v).__name__!r} values")


def _json_reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"the number {text} is out of range")
    return value


def _check_json_value(value: Any, check_strings: bool) -> None:
    stack = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        v, d = pop()
        if isinstance(v, list):
            if d > MAX_DEPTH:
                raise DeserializationError(f"Json: the payload nests more than {MAX_DEPTH} arrays/objects")
            for x in v:
                if isinstance(x, (list, dict)) or (check_strings and isinstance(x, str)):
                    push((x, d + 1))
        elif isinstance(v, dict):
            if d > MAX_DEPTH:
                raise DeserializationError(f"Json: the payload nests more than {MAX_DEPTH} arrays/objects")
            for k, x in v.items():
                if check_strings:
                    push((k, d + 1))
                if isinstance(x, (list, dict)) or (check_strings and isinstance(x, str)):
                    push((x, d + 1))
        elif isinstance(v, str):
            try:
                v.encode("utf-8")
            except UnicodeEncodeError:
                raise DeserializationError("Json: the payload holds a lone surrogate (\\uD800-\\uDFFF)") from None


class Json:
    """JSON text (UTF-8, compact), byte-compatible with C++ ``lunatic::Json``.

    ``None``, ``bool``, ``int`` (−2⁶³ … 2⁶⁴−1), finite ``float`` (shortest
    form, as nlohmann_json writes it), ``str``, ``list``/``tuple`` (array),
    ``dict`` with ``str`` keys (object, in insertion order), ``dict`` with other
    keys (``[[key, value], …]``, as C++ writes such maps), ``bytes`` (array of
    integers), ``set`` (array, sorted when it can be) and
    :class:`lunatic.Process` (``{"node_id": n, "id": i}``).
    """

    name = "json"

    @staticmethod
    def encode(value: Any) -> bytes:
        out: List[str] = []
        try:
            _json_write(value, 1, out)
        except RecursionError as e:
            raise SerializationError("Json: the value nests too deeply") from e
        try:
            return "".join(out).encode("utf-8")
        except UnicodeEncodeError as e:
            raise SerializationError(f"Json: a string is not valid Unicode: {e}") from e

    @staticmethod
    def decode(data: bytes) -> Any:
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise DeserializationError(f"Json: the payload is not UTF-8: {e}") from e
        if text.startswith("\ufeff"):
            text = text[1:]
        try:
            value = json.loads(text, parse_constant=_json_reject_constant, parse_float=_json_parse_float)
        except (ValueError, RecursionError) as e:
            raise DeserializationError(f"Json: cannot decode the payload: {e}") from e
        _check_json_value(value, "\\u" in text)
        return value
