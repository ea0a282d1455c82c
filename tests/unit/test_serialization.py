"""celeriac.serialization: kombu-compatible JSON, accept lists, compression."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import uuid
from typing import Any

import pytest
from kombu import compression as kombu_compression
from kombu import serialization as kombu_serialization

from celeriac import serialization
from celeriac.exceptions import ContentDisallowed, DecodeError, EncodeError, SerializationError
from celeriac.serialization import json_dumps, json_loads

# kombu is untyped: its functions are used as Any.
kombu_compress: Any = kombu_compression.compress
kombu_decompress: Any = kombu_compression.decompress
kombu_dumps: Any = kombu_serialization.dumps
kombu_loads: Any = kombu_serialization.loads

UTC = dt.timezone.utc
JSON = "application/json"
PICKLE = "application/x-python-serialize"


def tagged(tag: str, value: Any) -> dict[str, Any]:
    return {"__type__": tag, "__value__": value}


# -- kombu JSON tags ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.datetime(2024, 1, 2, 3, 4, 5), tagged("datetime", "2024-01-02T03:04:05")),
        (
            dt.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
            tagged("datetime", "2024-01-02T03:04:05.000006+00:00"),
        ),
        (
            dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            tagged("datetime", "2024-01-02T03:04:05+02:00"),
        ),
        (dt.date(2024, 1, 2), tagged("date", "2024-01-02")),
        (dt.time(3, 4, 5), tagged("time", "03:04:05")),
        (dt.time(3, 4, 5, tzinfo=UTC), tagged("time", "03:04:05+00:00")),
        (decimal.Decimal("1.10"), tagged("decimal", "1.10")),
        (
            uuid.UUID("6f1c0a52-7b3e-4a0e-9d4a-0b2c4e6f8a10"),
            tagged("uuid", {"hex": "6f1c0a527b3e4a0e9d4a0b2c4e6f8a10"}),
        ),
        (b"caf\xc3\xa9", tagged("bytes", "café")),
        (b"\xff\x00", tagged("base64", "/wA=")),
    ],
    ids=[
        "naive-datetime",
        "aware-datetime",
        "offset-datetime",
        "date",
        "time",
        "aware-time",
        "decimal",
        "uuid",
        "utf8-bytes",
        "binary-bytes",
    ],
)
def test_extra_types_are_tagged_and_round_trip(value: Any, expected: dict[str, Any]) -> None:
    text = json_dumps(value)
    assert json.loads(text) == expected
    decoded = json_loads(text)
    assert decoded == value
    assert type(decoded) is type(value)


def test_spec_example_exact_text() -> None:
    text = json_dumps((dt.datetime(2024, 1, 2, 3, 4, 5), b"\xff\x00"))
    assert text == (
        '[{"__type__": "datetime", "__value__": "2024-01-02T03:04:05"}, '
        '{"__type__": "base64", "__value__": "/wA="}]'
    )


def test_plain_values_use_json_dumps_defaults() -> None:
    value = {"a": [1, 2.5, None, True], "b": "é\n", "c": (1, 2), "d": {}}
    assert json_dumps(value) == json.dumps(value)
    assert (
        json_dumps(value) == '{"a": [1, 2.5, null, true], "b": "\\u00e9\\n", "c": [1, 2], "d": {}}'
    )


def test_datetime_is_tagged_not_the_date_branch() -> None:
    # datetime is a date subclass; it must keep its time part.
    assert json.loads(json_dumps(dt.datetime(2024, 1, 2)))["__type__"] == "datetime"


def test_object_with_dunder_json_is_encoded_as_its_result() -> None:
    class Point:
        def __json__(self) -> dict[str, int]:
            return {"x": 1, "y": 2}

    assert json_dumps([Point()]) == '[{"x": 1, "y": 2}]'


def test_unknown_tag_raises_decode_error() -> None:
    text = '{"__type__": "pickle", "__value__": "x"}'
    with pytest.raises(DecodeError):
        json_loads(text)
    with pytest.raises(DecodeError):
        serialization.loads(text.encode(), JSON, "utf-8")


def test_objects_with_extra_keys_are_not_tags() -> None:
    value = {"__type__": "datetime", "__value__": "2024-01-02T03:04:05", "other": 1}
    assert json_loads(json.dumps(value)) == value
    assert json_loads('{"__type__": "nope"}') == {"__type__": "nope"}


def test_nested_tags_decode_everywhere() -> None:
    value = {"when": [dt.date(2024, 1, 2), {"id": uuid.UUID(int=5)}]}
    assert json_loads(json_dumps(value)) == value


# -- dumps / loads and the accept list ------------------------------------------------------


def test_dumps_returns_content_type_encoding_and_bytes() -> None:
    assert serialization.dumps([1, "a"], "json") == (JSON, "utf-8", b'[1, "a"]')


def test_dumps_by_content_type_too() -> None:
    assert serialization.dumps(1, JSON)[0] == JSON


def test_pickle_round_trip_when_accepted() -> None:
    ctype, encoding, data = serialization.dumps({"a": {1, 2}}, "pickle")
    assert (ctype, encoding) == (PICKLE, "binary")
    accept = serialization.resolve_accept(["json", "pickle"])
    assert serialization.loads(data, ctype, encoding, accept) == {"a": {1, 2}}


def test_pickle_refused_when_only_json_accepted() -> None:
    ctype, encoding, data = serialization.dumps([1], "pickle")
    with pytest.raises(ContentDisallowed):
        serialization.loads(data, ctype, encoding, serialization.resolve_accept(["json"]))


def test_content_disallowed_is_checked_before_decoding() -> None:
    # Not even valid pickle: refusal must not depend on decoding it.
    with pytest.raises(ContentDisallowed):
        serialization.loads(b"\x80garbage", PICKLE, "binary", frozenset({JSON}))


def test_missing_content_type_counts_as_application_data() -> None:
    with pytest.raises(ContentDisallowed):
        serialization.loads(b"raw", None, None, frozenset({JSON}))
    assert serialization.loads(b"raw", None, None, frozenset({"application/data"})) == b"raw"
    assert serialization.loads(b"raw", None, None) == b"raw"


def test_resolve_accept_maps_names_and_keeps_content_types() -> None:
    assert serialization.resolve_accept(["json", "pickle"]) == {JSON, PICKLE}
    assert serialization.resolve_accept([JSON, "application/x-yaml"]) == {
        JSON,
        "application/x-yaml",
    }
    assert serialization.resolve_accept([]) == frozenset()


def test_loads_accepts_text() -> None:
    assert serialization.loads('{"a": 1}', JSON, "utf-8") == {"a": 1}


def test_invalid_json_raises_decode_error() -> None:
    with pytest.raises(DecodeError):
        serialization.loads(b"[1, ", JSON, "utf-8")


def test_unknown_content_type_raises_decode_error() -> None:
    with pytest.raises(DecodeError):
        serialization.loads(b"x", "application/x-nope", "binary")


def test_unserializable_value_raises_encode_error() -> None:
    with pytest.raises(EncodeError, match="json"):
        serialization.dumps({"a": object()}, "json")


def test_unknown_serializer_raises_encode_error() -> None:
    with pytest.raises(EncodeError):
        serialization.dumps(1, "nope")
    with pytest.raises(EncodeError):
        serialization.serializer_for("nope")


def test_serialization_errors_share_a_base() -> None:
    for cls in (EncodeError, DecodeError, ContentDisallowed):
        assert issubclass(cls, SerializationError)


# -- compression ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "content_type"),
    [
        ("zlib", "application/x-gzip"),
        ("gzip", "application/x-gzip"),
        ("bzip2", "application/x-bz2"),
        ("lzma", "application/x-lzma"),
    ],
)
def test_compression_round_trip(method: str, content_type: str) -> None:
    data = b'[[2, 2], {}, {"callbacks": null}]' * 20
    ctype, compressed = serialization.compress(data, method)
    assert ctype == content_type
    assert compressed != data
    assert serialization.decompress(compressed, ctype) == data


@pytest.mark.parametrize("method", ["zlib", "bzip2", "lzma"])
def test_compression_matches_kombu(method: str) -> None:
    data = b"hello celery " * 10
    ctype, compressed = serialization.compress(data, method)
    assert kombu_decompress(compressed, ctype) == data
    kombu_data, kombu_ctype = kombu_compress(data, method)
    assert kombu_ctype == ctype
    assert serialization.decompress(kombu_data, kombu_ctype) == data


@pytest.mark.parametrize("content_type", ["application/x-gzip", "application/x-bz2"])
def test_bad_compressed_data_raises_decode_error(content_type: str) -> None:
    with pytest.raises(DecodeError):
        serialization.decompress(b"not compressed at all", content_type)


def test_unknown_compression() -> None:
    with pytest.raises(EncodeError):
        serialization.compress(b"x", "snappy")
    with pytest.raises(DecodeError):
        serialization.decompress(b"x", "application/x-snappy")


# -- wire compatibility with kombu ----------------------------------------------------------

PAYLOAD: Any = [
    [2, "two", None, True, 1.5],
    {
        "naive": dt.datetime(2024, 1, 2, 3, 4, 5, 678901),
        "aware": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "date": dt.date(2024, 2, 29),
        "time": dt.time(23, 59, 59),
        "id": uuid.UUID("6f1c0a52-7b3e-4a0e-9d4a-0b2c4e6f8a10"),
        "price": decimal.Decimal("12.3400"),
        "text_bytes": b"plain",
        "raw_bytes": b"\x00\x01\xfe\xff",
        "unicode": "żółw ☃",
    },
    {"callbacks": None, "errbacks": None, "chain": None, "chord": None},
]


def test_kombu_payload_decodes_in_celeriac() -> None:
    ctype, encoding, data = kombu_dumps(PAYLOAD, serializer="json")
    decoded = serialization.loads(data, ctype, encoding, frozenset({JSON}))
    assert decoded == [list(PAYLOAD[0]), PAYLOAD[1], PAYLOAD[2]]


def test_celeriac_payload_decodes_in_kombu() -> None:
    ctype, encoding, data = serialization.dumps(PAYLOAD, "json")
    decoded = kombu_loads(data, ctype, encoding, accept=[JSON])
    assert decoded == [list(PAYLOAD[0]), PAYLOAD[1], PAYLOAD[2]]


def test_celeriac_and_kombu_write_identical_bytes() -> None:
    kombu_ctype, kombu_encoding, kombu_text = kombu_dumps(PAYLOAD, serializer="json")
    ctype, encoding, data = serialization.dumps(PAYLOAD, "json")
    assert (ctype, encoding) == (kombu_ctype, kombu_encoding)
    assert data == kombu_text.encode("utf-8")


def test_kombu_5_3_0_uuid_with_version_is_read() -> None:
    hex_ = uuid.UUID(int=7).hex
    text = f'{{"__type__": "uuid", "__value__": {{"hex": "{hex_}", "version": 4}}}}'
    assert json_loads(text) == uuid.UUID(int=7)


def test_base64_is_standard_padded_alphabet() -> None:
    raw = bytes(range(256))
    value = json.loads(json_dumps(raw))["__value__"]
    assert value == base64.b64encode(raw).decode("ascii")
