"""celeriac.protocol: task messages exactly as Celery 5.x writes and reads them."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import socket
import uuid
import zlib
from typing import Any

import celery  # type: ignore[import-untyped]
import pytest
from kombu import serialization as kombu_serialization

from celeriac import serialization
from celeriac.exceptions import ContentDisallowed, DecodeError, EncodeError, InvalidTaskError
from celeriac.protocol import (
    Message,
    build_task_message,
    client_origin,
    parse_datetime,
    parse_task_message,
    safe_repr,
)

kombu_dumps: Any = kombu_serialization.dumps  # kombu is untyped

UTC = dt.timezone.utc
NOW = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
JSON_ONLY = frozenset({"application/json"})
TASK_ID = "6f1c0a52-7b3e-4a0e-9d4a-0b2c4e6f8a10"

#: Spec section 2.2: every header Celery 5.7 writes (compression only when compressing).
PROTOCOL_HEADERS = {
    "lang",
    "task",
    "id",
    "shadow",
    "eta",
    "expires",
    "group",
    "group_index",
    "retries",
    "timelimit",
    "root_id",
    "parent_id",
    "argsrepr",
    "kwargsrepr",
    "origin",
    "ignore_result",
    "replaced_task_nesting",
    "stamped_headers",
    "stamps",
}
#: Spec section 3.1: the body of the example envelope.
SPEC_BODY_B64 = (
    "W1syLCAyXSwge30sIHsiY2FsbGJhY2tzIjogbnVsbCwgImVycmJhY2tzIjogbnVsbCwgImNoYWluIjogbnVs"
    "bCwgImNob3JkIjogbnVsbH1d"
)


def simple() -> Message:
    return build_task_message(name="proj.add", task_id=TASK_ID, args=(2, 2), now=NOW)


def v1_message(body: dict[str, Any], content_type: str = "application/json") -> Message:
    serializer = "pickle" if "python" in content_type else "json"
    ctype, encoding, data = serialization.dumps(body, serializer)
    return Message(data, {}, {"correlation_id": body.get("id")}, ctype, encoding)


# -- build_task_message: headers, field by field --------------------------------------------


def test_headers_key_set_is_exactly_the_protocol_set() -> None:
    assert set(simple().headers) == PROTOCOL_HEADERS


def test_default_header_values() -> None:
    headers = simple().headers
    assert headers["lang"] == "py"
    assert headers["task"] == "proj.add"
    assert headers["id"] == TASK_ID
    assert headers["shadow"] is None
    assert headers["eta"] is None
    assert headers["expires"] is None
    assert headers["group"] is None
    assert headers["group_index"] is None
    assert headers["retries"] == 0
    assert type(headers["retries"]) is int
    assert headers["timelimit"] == [None, None]
    assert headers["root_id"] == TASK_ID
    assert headers["parent_id"] is None
    assert headers["argsrepr"] == "(2, 2)"
    assert headers["kwargsrepr"] == "{}"
    assert headers["origin"] == f"gen{os.getpid()}@{socket.gethostname()}"
    assert headers["ignore_result"] is False
    assert headers["replaced_task_nesting"] == 0
    assert headers["stamped_headers"] is None
    assert headers["stamps"] == {}


def test_headers_are_json_serializable_as_is() -> None:
    headers = build_task_message(
        name="t", task_id=TASK_ID, eta=NOW, expires=NOW, now=NOW, time_limit=1
    ).headers
    assert json.loads(json.dumps(headers)) == headers


def test_client_origin() -> None:
    assert client_origin() == f"gen{os.getpid()}@{socket.gethostname()}"


def test_eta_and_expires_are_iso_aware_utc() -> None:
    eta = dt.datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    expires = dt.datetime(2024, 1, 3, tzinfo=UTC)
    headers = build_task_message(
        name="t", task_id=TASK_ID, eta=eta, expires=expires, now=NOW
    ).headers
    assert headers["eta"] == "2024-01-02T03:04:05.123456+00:00"
    assert headers["expires"] == "2024-01-03T00:00:00+00:00"


def test_naive_eta_is_written_as_utc() -> None:
    headers = build_task_message(
        name="t", task_id=TASK_ID, eta=dt.datetime(2024, 1, 2, 3, 4, 5)
    ).headers
    assert headers["eta"] == "2024-01-02T03:04:05+00:00"


def test_group_retries_parent_root_shadow() -> None:
    headers = build_task_message(
        name="proj.add",
        task_id=TASK_ID,
        group_id="g1",
        group_index=3,
        retries=2,
        root_id="root",
        parent_id="parent",
        shadow="display",
        ignore_result=True,
        replaced_task_nesting=1,
    ).headers
    assert headers["group"] == "g1"
    assert headers["group_index"] == 3
    assert headers["retries"] == 2
    assert headers["root_id"] == "root"
    assert headers["parent_id"] == "parent"
    assert headers["shadow"] == "display"
    assert headers["ignore_result"] is True
    assert headers["replaced_task_nesting"] == 1


def test_timelimit_is_hard_then_soft() -> None:
    headers = build_task_message(
        name="t", task_id=TASK_ID, time_limit=30, soft_time_limit=10
    ).headers
    assert headers["timelimit"] == [30, 10]
    only_soft = build_task_message(name="t", task_id=TASK_ID, soft_time_limit=5).headers
    assert only_soft["timelimit"] == [None, 5]


def test_argsrepr_and_kwargsrepr_are_cut_to_1024_chars() -> None:
    headers = build_task_message(
        name="t", task_id=TASK_ID, args=("x" * 5000,), kwargs={"k": "y" * 5000}
    ).headers
    assert len(headers["argsrepr"]) == 1024
    assert headers["argsrepr"].startswith("('xxx")
    assert len(headers["kwargsrepr"]) == 1024
    assert headers["kwargsrepr"].startswith("{'k': 'yyy")


def test_argsrepr_kwargsrepr_explicit_values_are_kept() -> None:
    headers = build_task_message(
        name="t", task_id=TASK_ID, args=(1,), argsrepr="<secret>", kwargsrepr="<hidden>"
    ).headers
    assert (headers["argsrepr"], headers["kwargsrepr"]) == ("<secret>", "<hidden>")


def test_stamps() -> None:
    headers = build_task_message(
        name="t", task_id=TASK_ID, stamped_headers=["mark"], stamps={"mark": "v"}
    ).headers
    assert headers["stamped_headers"] == ["mark"]
    assert headers["stamps"] == {"mark": "v"}


def test_custom_headers_are_kept_but_never_override_protocol_headers() -> None:
    headers = build_task_message(
        name="proj.add",
        task_id=TASK_ID,
        headers={"x-tenant": "acme", "task": "evil.task", "id": "evil", "retries": 99},
    ).headers
    assert headers["x-tenant"] == "acme"
    assert headers["task"] == "proj.add"
    assert headers["id"] == TASK_ID
    assert headers["retries"] == 0


def test_safe_repr_never_raises() -> None:
    class Bad:
        def __repr__(self) -> str:
            raise RuntimeError("boom")

    assert safe_repr(Bad()).startswith("<unrepresentable Bad")
    assert safe_repr("abc", maxsize=5) == "'abc'"
    assert safe_repr("abcdef", maxsize=5) == "'a..."


# -- build_task_message: properties ---------------------------------------------------------


def test_properties_default() -> None:
    message = simple()
    assert message.properties == {
        "correlation_id": TASK_ID,
        "reply_to": "",
        "delivery_mode": 2,
        "priority": 0,
    }
    assert message.priority == 0


def test_properties_reply_to_and_priority() -> None:
    message = build_task_message(name="t", task_id=TASK_ID, reply_to="oid-1", priority=7)
    assert message.properties["reply_to"] == "oid-1"
    assert message.properties["priority"] == 7
    assert message.priority == 7


def test_expiration_is_a_string_of_milliseconds_only_with_expires() -> None:
    assert "expiration" not in simple().properties
    message = build_task_message(
        name="t", task_id=TASK_ID, expires=NOW + dt.timedelta(seconds=60), now=NOW
    )
    assert message.properties["expiration"] == "60000"


def test_expiration_in_the_past_is_zero() -> None:
    message = build_task_message(
        name="t", task_id=TASK_ID, expires=NOW - dt.timedelta(seconds=5), now=NOW
    )
    assert message.properties["expiration"] == "0"


# -- build_task_message: body ---------------------------------------------------------------


def test_body_exact_bytes_match_the_spec_example() -> None:
    message = simple()
    assert message.body == base64.b64decode(SPEC_BODY_B64)
    assert message.body == (
        b'[[2, 2], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]'
    )
    assert message.content_type == "application/json"
    assert message.content_encoding == "utf-8"


def test_body_embed_carries_canvas() -> None:
    callback: dict[str, Any] = {
        "task": "cb",
        "args": [],
        "kwargs": {},
        "options": {},
        "subtask_type": None,
        "immutable": False,
    }
    message = build_task_message(
        name="t",
        task_id=TASK_ID,
        args=[1],
        kwargs={"a": 1},
        callbacks=[callback],
        errbacks=[callback],
        chain=[callback],
        chord=callback,
    )
    body = json.loads(message.body)
    assert body == [
        [1],
        {"a": 1},
        {"callbacks": [callback], "errbacks": [callback], "chain": [callback], "chord": callback},
    ]


def test_unserializable_args_raise_encode_error() -> None:
    with pytest.raises(EncodeError):
        build_task_message(name="t", task_id=TASK_ID, args=(object(),))


def test_pickle_serializer() -> None:
    message = build_task_message(name="t", task_id=TASK_ID, args=({1, 2},), serializer="pickle")
    assert message.content_type == "application/x-python-serialize"
    assert message.content_encoding == "binary"
    parsed = parse_task_message(message)
    with pytest.raises(ContentDisallowed):
        parsed.decode_body(JSON_ONLY)
    accept = frozenset({"application/x-python-serialize"})
    assert parse_task_message(message).decode_body(accept)[0] == [{1, 2}]


def test_compression_header_and_body() -> None:
    message = build_task_message(name="t", task_id=TASK_ID, args=(2, 2), compression="zlib")
    assert message.headers["compression"] == "application/x-gzip"
    assert zlib.decompress(message.body) == simple().body
    args, kwargs, embed = parse_task_message(message).decode_body(JSON_ONLY)
    assert (args, kwargs) == ([2, 2], {})
    assert embed == {"callbacks": None, "errbacks": None, "chain": None, "chord": None}


# -- parse_task_message: v2 -----------------------------------------------------------------


def test_parse_v2_round_trip() -> None:
    message = build_task_message(
        name="proj.add",
        task_id=TASK_ID,
        args=(2, 2),
        kwargs={"z": 1},
        eta=NOW,
        expires=NOW + dt.timedelta(hours=1),
        retries=1,
        group_id="g",
        group_index=0,
        root_id="r",
        parent_id="p",
        shadow="s",
        time_limit=30,
        soft_time_limit=10,
        ignore_result=True,
        reply_to="oid",
        headers={"x-custom": 1},
        now=NOW,
    )
    parsed = parse_task_message(message, JSON_ONLY)
    assert parsed.name == "proj.add"
    assert parsed.id == TASK_ID
    assert parsed.eta == NOW
    assert parsed.expires == NOW + dt.timedelta(hours=1)
    assert parsed.retries == 1
    assert (parsed.group, parsed.group_index) == ("g", 0)
    assert (parsed.root_id, parsed.parent_id, parsed.shadow) == ("r", "p", "s")
    assert (parsed.time_limit, parsed.soft_time_limit) == (30.0, 10.0)
    assert parsed.argsrepr == "(2, 2)"
    assert parsed.kwargsrepr == "{'z': 1}"
    assert parsed.origin == client_origin()
    assert parsed.ignore_result is True
    assert parsed.reply_to == "oid"
    assert parsed.correlation_id == TASK_ID
    assert parsed.headers["x-custom"] == 1
    assert parsed.decode_body(JSON_ONLY) == (
        [2, 2],
        {"z": 1},
        {"callbacks": None, "errbacks": None, "chain": None, "chord": None},
    )


def test_parse_v2_needs_only_task_and_id() -> None:
    # Spec 2.2: a Celery worker accepts a hand-built message with just these.
    body = b"[[1], {}, {}]"
    parsed = parse_task_message(
        Message(
            body,
            {
                "lang": "py",
                "task": "t",
                "id": "i",
                "root_id": "i",
                "parent_id": None,
                "group": None,
            },
            {},
        )
    )
    assert (parsed.name, parsed.id, parsed.retries) == ("t", "i", 0)
    assert parsed.eta is None
    assert (parsed.time_limit, parsed.soft_time_limit) == (None, None)
    assert parsed.reply_to is None
    assert parsed.correlation_id == "i"
    assert parsed.decode_body() == ([1], {}, {})


def test_parse_does_not_decode_a_v2_body() -> None:
    # The body is decoded by the pool, on demand; a broken one fails only then.
    parsed = parse_task_message(Message(b"[1, ", {"task": "t", "id": "i"}, {}))
    with pytest.raises(DecodeError):
        parsed.decode_body()


@pytest.mark.parametrize(
    "headers",
    [
        {"id": "i"},
        {"task": "t"},
        {"task": "", "id": "i"},
        {"task": "t", "id": None},
        {"task": 5, "id": "i"},
    ],
)
def test_missing_task_or_id_is_invalid(headers: dict[str, Any]) -> None:
    with pytest.raises(InvalidTaskError):
        parse_task_message(Message(b"[[], {}, {}]", headers, {}))


@pytest.mark.parametrize("retries", ["1", 1.0, True, [1]])
def test_bad_retries_type_is_invalid(retries: Any) -> None:
    with pytest.raises(InvalidTaskError, match="retries"):
        parse_task_message(Message(b"", {"task": "t", "id": "i", "retries": retries}, {}))


def test_null_retries_is_zero() -> None:
    parsed = parse_task_message(Message(b"", {"task": "t", "id": "i", "retries": None}, {}))
    assert parsed.retries == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-02T03:04:05", NOW),
        ("2024-01-02T03:04:05Z", NOW),
        ("2024-01-02T03:04:05+00:00", NOW),
        ("2024-01-02T05:04:05+02:00", NOW),
        ("2024-01-02T03:04:05.250000", NOW + dt.timedelta(milliseconds=250)),
    ],
)
def test_eta_parsing(text: str, expected: dt.datetime) -> None:
    parsed = parse_task_message(
        Message(b"", {"task": "t", "id": "i", "eta": text, "expires": text}, {})
    )
    assert parsed.eta == expected
    assert parsed.eta is not None
    assert parsed.eta.tzinfo is not None
    assert parsed.expires == expected


def test_naive_eta_is_utc() -> None:
    parsed = parse_datetime("2024-01-02T03:04:05")
    assert parsed is not None
    assert parsed.utcoffset() == dt.timedelta(0)


def test_parse_datetime_values() -> None:
    assert parse_datetime(None) is None
    assert parse_datetime("") is None
    assert parse_datetime(dt.datetime(2024, 1, 2, 3, 4, 5)) == NOW


@pytest.mark.parametrize("value", ["tomorrow", 12345, ["2024-01-02"]])
def test_bad_eta_is_invalid(value: Any) -> None:
    with pytest.raises(InvalidTaskError):
        parse_task_message(Message(b"", {"task": "t", "id": "i", "eta": value}, {}))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ([30, 10], (30.0, 10.0)),
        ([None, 5], (None, 5.0)),
        ([2.5, None], (2.5, None)),
        ([None, None], (None, None)),
        (None, (None, None)),
        ("30", (None, None)),
        ([1, 2, 3], (None, None)),
        ([True, "x"], (None, None)),
    ],
)
def test_timelimit_parsing(value: Any, expected: tuple[float | None, float | None]) -> None:
    parsed = parse_task_message(Message(b"", {"task": "t", "id": "i", "timelimit": value}, {}))
    assert (parsed.time_limit, parsed.soft_time_limit) == expected


def test_group_index_must_be_an_int() -> None:
    parsed = parse_task_message(Message(b"", {"task": "t", "id": "i", "group_index": "3"}, {}))
    assert parsed.group_index is None


def test_headers_must_be_an_object() -> None:
    with pytest.raises(InvalidTaskError):
        parse_task_message(Message(b"", ["task"], {}))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body",
    [b"[1, 2, 3, 4]", b'"text"', b'[{"a": 1}, {}]', b"[[1], []]", b"[[1], {}, [2]]"],
)
def test_malformed_v2_body_raises_decode_error(body: bytes) -> None:
    parsed = parse_task_message(Message(body, {"task": "t", "id": "i"}, {}))
    with pytest.raises(DecodeError):
        parsed.decode_body()


def test_two_element_body_and_null_embed_are_accepted() -> None:
    for body in (b"[[1], {}]", b"[[1], {}, null]"):
        parsed = parse_task_message(Message(body, {"task": "t", "id": "i"}, {}))
        assert parsed.decode_body() == ([1], {}, {})


# -- parse_task_message: v1 and hybrid ------------------------------------------------------


def test_parse_v1_body() -> None:
    callback: dict[str, Any] = {
        "task": "cb",
        "args": [],
        "kwargs": {},
        "options": {},
        "subtask_type": None,
        "immutable": False,
    }
    message = v1_message(
        {
            "task": "proj.add",
            "id": TASK_ID,
            "args": [2, 2],
            "kwargs": {"z": 1},
            "taskset": "gid",
            "retries": 1,
            "eta": "2024-01-02T03:04:05",
            "expires": "2024-01-03T00:00:00Z",
            "utc": True,
            "callbacks": [callback],
            "errbacks": None,
            "timelimit": [30, 10],
            "chord": None,
        }
    )
    assert message.headers == {}
    parsed = parse_task_message(message, JSON_ONLY)
    assert (parsed.name, parsed.id) == ("proj.add", TASK_ID)
    assert parsed.group == "gid"
    assert parsed.retries == 1
    assert parsed.eta == NOW
    assert parsed.expires == dt.datetime(2024, 1, 3, tzinfo=UTC)
    assert (parsed.time_limit, parsed.soft_time_limit) == (30.0, 10.0)
    assert parsed.decode_body(JSON_ONLY) == (
        [2, 2],
        {"z": 1},
        {"callbacks": [callback], "errbacks": None, "chain": None, "chord": None},
    )


def test_parse_v1_group_key_wins_over_taskset_alias() -> None:
    message = v1_message({"task": "t", "id": "i", "group": "g", "taskset": "old"})
    assert parse_task_message(message).group == "g"


def test_parse_v1_without_task_is_invalid() -> None:
    with pytest.raises(InvalidTaskError):
        parse_task_message(v1_message({"id": "i", "args": []}))
    with pytest.raises(InvalidTaskError):
        parse_task_message(Message(b"[[], {}, {}]", {}, {}))


def test_parse_v1_without_id_is_invalid() -> None:
    with pytest.raises(InvalidTaskError):
        parse_task_message(v1_message({"task": "t", "args": []}))


def test_parse_v1_content_disallowed() -> None:
    message = v1_message({"task": "t", "id": "i"}, "application/x-python-serialize")
    with pytest.raises(ContentDisallowed):
        parse_task_message(message, JSON_ONLY)


def test_parse_v1_compressed() -> None:
    _, _, data = serialization.dumps({"task": "t", "id": "i", "args": [1]}, "json")
    ctype, compressed = serialization.compress(data, "bzip2")
    parsed = parse_task_message(Message(compressed, {"compression": ctype}, {}), JSON_ONLY)
    assert parsed.decode_body()[0] == [1]


def test_parse_hybrid_v2_headers_with_v1_body() -> None:
    body = {
        "args": [1, 2],
        "kwargs": {"a": 1},
        "callbacks": None,
        "errbacks": None,
        "chord": None,
        "retries": 5,
    }
    _, _, data = serialization.dumps(body, "json")
    message = Message(data, {"task": "proj.add", "id": TASK_ID, "retries": 2}, {})
    parsed = parse_task_message(message, JSON_ONLY)
    assert (parsed.name, parsed.id) == ("proj.add", TASK_ID)
    assert parsed.retries == 2  # headers override body fields
    assert parsed.decode_body(JSON_ONLY) == (
        [1, 2],
        {"a": 1},
        {"callbacks": None, "errbacks": None, "chain": None, "chord": None},
    )


# -- the real Celery client -----------------------------------------------------------------


@pytest.fixture(scope="module")
def peer() -> celery.Celery:
    return celery.Celery("peer", set_as_current=False)


def celery_message_as_celeriac(task_message: Any) -> Message:
    ctype, encoding, data = kombu_dumps(task_message.body, serializer="json")
    return Message(
        data.encode("utf-8"), task_message.headers, task_message.properties, ctype, encoding
    )


def test_headers_and_body_match_celery(peer: celery.Celery) -> None:
    eta = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    expires = dt.datetime(2024, 1, 3, 3, 4, 5, tzinfo=UTC)
    callback = dict(celery.signature("proj.cb", (1,)))
    common: dict[str, Any] = {
        "args": (2, 2),
        "kwargs": {"z": 1},
        "eta": eta,
        "expires": expires,
        "retries": 3,
        "time_limit": 30,
        "soft_time_limit": 10,
        "root_id": "root-id",
        "parent_id": "parent-id",
        "shadow": "shadow-name",
        "ignore_result": True,
        "reply_to": "reply-oid",
        "group_index": 1,
    }
    theirs = peer.amqp.as_task_v2(
        TASK_ID, "proj.add", group_id="gid", callbacks=[callback], **common
    )
    ours = build_task_message(
        name="proj.add", task_id=TASK_ID, group_id="gid", callbacks=[callback], now=NOW, **common
    )
    assert set(ours.headers) == set(theirs.headers)
    assert ours.headers == theirs.headers
    for key, value in theirs.properties.items():
        assert ours.properties[key] == value
    ctype, encoding, body = kombu_dumps(theirs.body, serializer="json")
    assert (ours.content_type, ours.content_encoding) == (ctype, encoding)
    assert ours.body == body.encode("utf-8")


def test_minimal_headers_match_celery(peer: celery.Celery) -> None:
    theirs = peer.amqp.as_task_v2(TASK_ID, "proj.add", (2, 2))
    ours = simple()
    assert ours.headers == theirs.headers
    assert ours.body == kombu_dumps(theirs.body, serializer="json")[2].encode("utf-8")


def test_celeriac_parses_a_celery_message(peer: celery.Celery) -> None:
    task_id = str(uuid.uuid4())
    theirs = peer.amqp.as_task_v2(
        task_id,
        "proj.add",
        (2, 2),
        {"z": 1},
        countdown=10,
        expires=60,
        group_id="gid",
        group_index=0,
        time_limit=30,
        soft_time_limit=10,
        root_id="root",
        parent_id="parent",
    )
    parsed = parse_task_message(celery_message_as_celeriac(theirs), JSON_ONLY)
    assert (parsed.name, parsed.id) == ("proj.add", task_id)
    assert parsed.eta is not None
    assert parsed.expires is not None
    assert parsed.eta == dt.datetime.fromisoformat(theirs.headers["eta"])
    assert parsed.expires - parsed.eta == dt.timedelta(seconds=50)
    assert (parsed.group, parsed.group_index) == ("gid", 0)
    assert (parsed.time_limit, parsed.soft_time_limit) == (30.0, 10.0)
    assert (parsed.root_id, parsed.parent_id) == ("root", "parent")
    assert parsed.origin == client_origin()
    assert parsed.decode_body(JSON_ONLY) == (
        [2, 2],
        {"z": 1},
        {"callbacks": None, "errbacks": None, "chain": None, "chord": None},
    )


def test_celeriac_parses_a_celery_v1_message(peer: celery.Celery) -> None:
    theirs = peer.amqp.as_task_v1(
        TASK_ID,
        "proj.add",
        (2, 2),
        {},
        group_id="gid",
        retries=2,
        time_limit=30,
        soft_time_limit=10,
        eta=dt.datetime(2024, 1, 2, 3, 4, 5),
    )
    message = celery_message_as_celeriac(theirs)
    assert message.headers == {}
    parsed = parse_task_message(message, JSON_ONLY)
    assert (parsed.name, parsed.id, parsed.group, parsed.retries) == (
        "proj.add",
        TASK_ID,
        "gid",
        2,
    )
    assert parsed.eta == NOW
    assert (parsed.time_limit, parsed.soft_time_limit) == (30.0, 10.0)
    assert parsed.decode_body(JSON_ONLY)[:2] == ([2, 2], {})
