"""Serializer registry: names, content types, and kombu-compatible JSON.

A serializer turns a Python value into ``(content_type, content_encoding, bytes)`` and
back. Consumers pass the list of accepted content types; anything else is refused with
:class:`~celeriac.exceptions.ContentDisallowed` before a byte of it is decoded.
"""

from __future__ import annotations

import base64
import bz2
import datetime as dt
import decimal
import json
import lzma
import pickle
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from celeriac.exceptions import ContentDisallowed, DecodeError, EncodeError

__all__ = [
    "Serializer",
    "compress",
    "decompress",
    "dumps",
    "loads",
    "register",
    "resolve_accept",
    "serializer_for",
]


@dataclass(frozen=True, slots=True)
class Serializer:
    """One registered serializer."""

    name: str
    content_type: str
    content_encoding: str
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]


_BY_NAME: dict[str, Serializer] = {}
_BY_CONTENT_TYPE: dict[str, Serializer] = {}


def register(serializer: Serializer) -> None:
    """Make ``serializer`` known by its name and by its content type."""
    _BY_NAME[serializer.name] = serializer
    _BY_CONTENT_TYPE[serializer.content_type] = serializer


def serializer_for(name_or_content_type: str) -> Serializer:
    """Return the serializer with this name or content type."""
    found = _BY_NAME.get(name_or_content_type) or _BY_CONTENT_TYPE.get(name_or_content_type)
    if found is None:
        raise EncodeError(f"unknown serializer {name_or_content_type!r}")
    return found


def resolve_accept(accept: Iterable[str]) -> frozenset[str]:
    """Turn a list of serializer names or content types into content types."""
    types = set()
    for item in accept:
        found = _BY_NAME.get(item)
        types.add(found.content_type if found else item)
    return frozenset(types)


def dumps(value: Any, serializer: str) -> tuple[str, str, bytes]:
    """Serialize ``value``; raise :class:`EncodeError` if it cannot be."""
    codec = serializer_for(serializer)
    try:
        return codec.content_type, codec.content_encoding, codec.encode(value)
    except EncodeError:
        raise
    except Exception as exc:
        raise EncodeError(f"cannot serialize with {codec.name}: {exc}") from exc


def loads(
    data: bytes | str,
    content_type: str | None,
    content_encoding: str | None,
    accept: frozenset[str] | None = None,
) -> Any:
    """Deserialize ``data``; refuse content types outside ``accept`` (if given)."""
    content_type = content_type or "application/data"
    if accept is not None and content_type not in accept:
        raise ContentDisallowed(f"refusing to deserialize untrusted content of type {content_type}")
    codec = _BY_CONTENT_TYPE.get(content_type)
    if codec is None:
        if content_type in ("application/data", "text/plain"):
            return data
        raise DecodeError(f"no decoder for content type {content_type!r}")
    if isinstance(data, str):
        data = data.encode(content_encoding or "utf-8")
    try:
        return codec.decode(data)
    except Exception as exc:
        raise DecodeError(f"cannot decode {content_type} payload: {exc}") from exc


# -- JSON, kombu flavour -------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if hasattr(value, "__json__"):
        return value.__json__()
    if isinstance(value, dt.datetime):
        return {"__type__": "datetime", "__value__": value.isoformat()}
    if isinstance(value, dt.date):
        return {"__type__": "date", "__value__": value.isoformat()}
    if isinstance(value, dt.time):
        return {"__type__": "time", "__value__": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"__type__": "decimal", "__value__": str(value)}
    if isinstance(value, uuid.UUID):
        return {"__type__": "uuid", "__value__": {"hex": value.hex}}
    if isinstance(value, bytes | bytearray):
        try:
            return {"__type__": "bytes", "__value__": bytes(value).decode("utf-8")}
        except UnicodeDecodeError:
            return {"__type__": "base64", "__value__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_TAG_DECODERS: dict[str, Callable[[Any], Any]] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "decimal": decimal.Decimal,
    "uuid": lambda v: uuid.UUID(hex=v["hex"]),
    "bytes": lambda v: v.encode("utf-8"),
    "base64": base64.b64decode,
}


def _json_object_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 2 and "__type__" in obj and "__value__" in obj:
        decoder = _TAG_DECODERS.get(obj["__type__"])
        if decoder is None:
            raise DecodeError(f"unknown JSON type tag {obj['__type__']!r}")
        return decoder(obj["__value__"])
    return obj


_json_encoder = json.JSONEncoder(default=_json_default, allow_nan=True)
_json_decoder = json.JSONDecoder(object_hook=_json_object_hook)


def json_dumps(value: Any) -> str:
    """Encode ``value`` as kombu's JSON serializer does (tagged extra types)."""
    return _json_encoder.encode(value)


def json_loads(text: str) -> Any:
    """Decode JSON text, turning kombu's type tags back into values."""
    return _json_decoder.decode(text)


def _json_decode(data: bytes) -> Any:
    return json_loads(data.decode("utf-8"))


register(
    Serializer(
        "json",
        "application/json",
        "utf-8",
        lambda v: json_dumps(v).encode("utf-8"),
        _json_decode,
    )
)
register(
    Serializer(
        "pickle",
        "application/x-python-serialize",
        "binary",
        lambda v: pickle.dumps(v, protocol=4),
        pickle.loads,
    )
)


def _register_optional() -> None:
    try:
        import yaml
    except ImportError:
        pass
    else:
        register(
            Serializer(
                "yaml",
                "application/x-yaml",
                "utf-8",
                lambda v: yaml.safe_dump(v).encode("utf-8"),
                yaml.safe_load,
            )
        )
    try:
        import msgpack
    except ImportError:
        pass
    else:
        register(
            Serializer(
                "msgpack",
                "application/x-msgpack",
                "binary",
                lambda v: msgpack.packb(v, use_bin_type=True),
                lambda d: msgpack.unpackb(d, raw=False),
            )
        )


_register_optional()


# -- compression -------------------------------------------------------------------

_COMPRESSORS: dict[str, tuple[str, Callable[[bytes], bytes], Callable[[bytes], bytes]]] = {
    "zlib": ("application/x-gzip", zlib.compress, zlib.decompress),
    "gzip": ("application/x-gzip", zlib.compress, zlib.decompress),
    "bzip2": ("application/x-bz2", bz2.compress, bz2.decompress),
    "lzma": ("application/x-lzma", lzma.compress, lzma.decompress),
}
_DECOMPRESSORS = {ctype: decode for ctype, _, decode in _COMPRESSORS.values()}


def compress(data: bytes, method: str) -> tuple[str, bytes]:
    """Compress ``data``; return the compression content type and the bytes."""
    try:
        ctype, encode, _ = _COMPRESSORS[method]
    except KeyError as exc:
        raise EncodeError(f"unknown compression method {method!r}") from exc
    return ctype, encode(data)


def decompress(data: bytes, content_type: str) -> bytes:
    """Undo :func:`compress` given the compression content type from the header."""
    decode = _DECOMPRESSORS.get(content_type)
    if decode is None:
        raise DecodeError(f"unsupported compression {content_type!r}")
    try:
        return decode(data)
    except Exception as exc:
        raise DecodeError(f"cannot decompress {content_type} payload: {exc}") from exc
