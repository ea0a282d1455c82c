"""Hypothesis strategies for poison messages, each tagged with what the worker must do.

``DEAD``: the message cannot be run; it must land in ``celeriac.dead_letter``.
``ANY``: a wrong-typed optional header; the task may run or be dead-lettered, but it
must be accounted for (a final state, or the dead-letter queue) and never wedge the
worker. Bodies are unique per message, so the dead-letter queue is matched by body.
"""

from __future__ import annotations

import pickle
import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from celeriac.protocol import Message, build_task_message

DEAD = "dead"
ANY = "any"
TASK = "rel.work"

#: Headers whose wrong types must not stop the task (the worker may still refuse it).
#: ``stamps`` is left out: test_poison.test_wrong_stamps_header holds it (a known bug).
OPTIONAL_HEADERS = (
    "lang",
    "eta",
    "expires",
    "group",
    "group_index",
    "root_id",
    "parent_id",
    "argsrepr",
    "kwargsrepr",
    "origin",
    "shadow",
    "timelimit",
    "ignore_result",
    "stamped_headers",
    "replaced_task_nesting",
)


@dataclass(frozen=True)
class Poison:
    """One message to publish and what must become of it."""

    message: Message
    expect: str
    what: str

    @property
    def task_id(self) -> str | None:
        headers = self.message.headers
        task_id = headers.get("id") if isinstance(headers, dict) else None
        return task_id if isinstance(task_id, str) and task_id else None


class Pickled:
    """Unpickling this would create a file: proof the worker never unpickles refused content."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (self.path, "w"))


def good(marker: str) -> Message:
    """A valid ``rel.work`` message whose body carries ``marker``."""
    return build_task_message(name=TASK, task_id=str(uuid.uuid4()), args=(marker,))


def _with(message: Message, **changes: Any) -> Message:
    fields = {
        "body": message.body,
        "headers": message.headers,
        "properties": message.properties,
        "content_type": message.content_type,
        "content_encoding": message.content_encoding,
        **changes,
    }
    return Message(**fields)


wrong_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(alphabet="xyz!\u00e9\U0001f600", max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
#: Values ``retries`` may not have (falsy values mean 0, which is valid).
wrong_retries = st.one_of(
    st.just(True),
    st.floats(allow_nan=False).filter(lambda f: f != int(f) if abs(f) < 1e300 else True),
    st.text(min_size=1, max_size=10),
    st.lists(st.integers(), min_size=1, max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), min_size=1, max_size=2),
)
bad_bodies = st.one_of(
    st.binary(max_size=64).map(lambda b: b"\xff\xfe" + b),  # invalid UTF-8
    st.binary(min_size=1, max_size=64).map(lambda b: b"{not json " + b),
    st.integers(1_000, 200_000).map(lambda depth: b"[" * depth + b"]" * depth),
    st.sampled_from([b"", b"null", b"1", b'"s"', b"[1]", b'[1, {}, {"x": 1}]']),
)
#: Well-formed JSON in the wrong shape or with wrong arguments: refused, or a FAILURE.
odd_bodies = st.sampled_from(
    [
        b"{}",
        b"[]",
        b"[[1], 5, {}]",
        b"[{}, {}, {}]",
        b"[[], {}, []]",
        b"[[], [], {}]",
        b"[[], {}, {}]",
    ]
)
compressions = st.one_of(
    st.sampled_from(["application/x-gzip", "application/x-bz2", "zlib", "bogus"]),
    st.integers(),
    st.lists(st.text(max_size=3), min_size=1, max_size=2),
)


@st.composite
def poisons(draw: st.DrawFn, marker_dir: str) -> Poison:
    """One poison message (see the module docstring)."""
    marker = uuid.uuid4().hex
    base = good(marker)
    kind = draw(st.integers(0, 8))
    if kind == 0:
        content_type = draw(
            st.sampled_from(
                ["application/x-python-serialize", "application/x-yaml", "text/plain", ""]
            )
            | st.text(max_size=30).filter(lambda t: t != "application/json")
        )
        body = pickle.dumps(Pickled(f"{marker_dir}/unpickled-{marker}"))
        return Poison(_with(base, body=body, content_type=content_type), DEAD, "content type")
    if kind == 1:
        return Poison(_with(base, body=draw(bad_bodies)), DEAD, "body")
    if kind == 2:
        headers = {**base.headers, "compression": draw(compressions)}
        body = draw(st.binary(max_size=64)) + marker.encode()
        return Poison(_with(base, body=body, headers=headers), DEAD, "compression")
    if kind == 3:
        key = draw(st.sampled_from(["task", "id"]))
        value = draw(wrong_values.filter(lambda v: not isinstance(v, str)) | st.just(""))
        headers = {**base.headers, key: value}
        return Poison(_with(base, headers=headers), DEAD, f"header {key}")
    if kind == 4:
        headers = {**base.headers, "retries": draw(wrong_retries)}
        return Poison(_with(base, headers=headers), DEAD, "header retries")
    if kind == 5:
        headers = draw(st.sampled_from([[1, 2], "headers", 5, None]))
        return Poison(_with(base, headers=headers), DEAD, "headers not an object")
    if kind == 6:
        headers = dict(base.headers)
        for key in draw(st.lists(st.sampled_from(OPTIONAL_HEADERS), min_size=1, max_size=4)):
            headers[key] = draw(wrong_values)
        return Poison(_with(base, headers=headers), ANY, "optional headers")
    if kind == 7:
        return Poison(_with(base, body=draw(odd_bodies)), ANY, "odd body")
    encoding = draw(st.sampled_from(["binary", "latin-1", "bogus", ""]))
    return Poison(_with(base, content_encoding=encoding), ANY, "content encoding")
