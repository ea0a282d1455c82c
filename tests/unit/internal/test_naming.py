"""Node names and masked URLs."""

from __future__ import annotations

import socket

import pytest
from celery.utils.nodenames import (  # type: ignore[import-untyped]
    default_nodename as celery_default_nodename,
)
from kombu.utils.url import maybe_sanitize_url

from celeriac._internal.naming import (
    DEFAULT_NODE_PREFIX,
    default_nodename,
    expand_hostname,
    mask_url,
)

HOST = "worker1.example.com"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("%h", "worker1.example.com"),
        ("%n", "worker1"),
        ("%d", "example.com"),
        ("%%", "%"),
        ("w@%h", "w@worker1.example.com"),
        ("%n-%d@%%h", "worker1-example.com@%h"),
        ("plain", "plain"),
        ("", ""),
    ],
)
def test_expand_hostname(template: str, expected: str) -> None:
    assert expand_hostname(template, HOST) == expected


def test_expand_hostname_without_domain() -> None:
    assert expand_hostname("%n|%d", "box") == "box|"


def test_expand_hostname_defaults_to_this_host() -> None:
    assert expand_hostname("%h") == socket.gethostname()


@pytest.mark.parametrize("template", ["%x", "a%", "%H"])
def test_unknown_letter_is_an_error(template: str) -> None:
    with pytest.raises(ValueError, match="unknown format"):
        expand_hostname(template, HOST)


def test_default_nodename() -> None:
    assert DEFAULT_NODE_PREFIX == "celery"
    assert default_nodename(None, "box") == "celery@box"
    assert default_nodename("", "box") == "celery@box"
    assert default_nodename(None) == f"celery@{socket.gethostname()}"


def test_name_without_at_is_the_host_part() -> None:
    assert default_nodename("foo", "box") == "celery@foo"


def test_full_name_is_expanded() -> None:
    assert default_nodename("w1@%h", HOST) == "w1@worker1.example.com"
    assert default_nodename("w1@%n", HOST) == "w1@worker1"


@pytest.mark.parametrize("value", [None, "", "foo", "w1@box", "w1@"])
def test_default_nodename_matches_celery(value: str | None) -> None:
    assert default_nodename(value) == celery_default_nodename(value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://user:secret@localhost:6379/0", "redis://user:**@localhost:6379/0"),
        ("redis://:secret@localhost:6379/0", "redis://:**@localhost:6379/0"),
        ("amqp://guest:guest@rabbit//", "amqp://guest:**@rabbit//"),
        ("redis://localhost:6379/0", "redis://localhost:6379/0"),
        ("amqp://guest@rabbit//", "amqp://guest@rabbit//"),
        ("sqlite:///celeriac.sqlite3", "sqlite:///celeriac.sqlite3"),
        ("memory://", "memory://"),
        ("redis://u:p@MyHost:6379/0?ssl=1", "redis://u:**@MyHost:6379/0?ssl=1"),
        ("redis://u:p@[::1]:6379/0", "redis://u:**@[::1]:6379/0"),
        ("rediss://u:p%40ss@host/0", "rediss://u:**@host/0"),
    ],
)
def test_mask_url(url: str, expected: str) -> None:
    assert mask_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "redis://user:secret@localhost:6379/0",
        "redis://:secret@localhost:6379/0",
        "amqp://guest:secret@rabbit:5672//",
        "amqp://guest@rabbit//",
    ],
)
def test_mask_url_matches_kombu(url: str) -> None:
    assert "secret" not in mask_url(url)
    assert mask_url(url) == maybe_sanitize_url(url)


def test_mask_url_leaves_unparsable_urls() -> None:
    assert mask_url("http://[::1") == "http://[::1"
