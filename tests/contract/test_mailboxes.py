"""Every built-in broker's mailbox and event channel pass their shared suites."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from celeriac.brokers.base import Broker
from celeriac.brokers.memory import MemoryBroker
from celeriac.brokers.sqlite import SQLiteBroker
from celeriac.testing.conformance import (
    BrokerFactory,
    EventChannelConformance,
    MailboxConformance,
)


class TestSQLiteMailbox(MailboxConformance, EventChannelConformance):
    @pytest.fixture
    def broker_factory(self, tmp_path: Path) -> BrokerFactory:
        url = f"sqlite:///{tmp_path / 'broker.sqlite3'}"

        def make(*, visibility_timeout: float = 3600.0) -> Broker:
            return SQLiteBroker.from_url(url, transport_options={})

        return make


class TestMemoryMailbox(MailboxConformance, EventChannelConformance):
    @pytest.fixture
    def broker_factory(self) -> Iterator[BrokerFactory]:
        name = f"mailbox-{uuid.uuid4().hex}"

        def make(*, visibility_timeout: float = 3600.0) -> Broker:
            return MemoryBroker.from_url(f"memory://{name}", transport_options={})

        yield make
        MemoryBroker.reset(name)


@pytest.mark.redis
class TestRedisMailbox(MailboxConformance, EventChannelConformance):
    @pytest.fixture
    def broker_factory(self, redis_url: str) -> BrokerFactory:
        from celeriac.brokers.redis import RedisBroker

        def make(*, visibility_timeout: float = 3600.0) -> Broker:
            return RedisBroker.from_url(redis_url, transport_options={})

        return make


@pytest.mark.amqp
class TestAmqpMailbox(MailboxConformance, EventChannelConformance):
    @pytest.fixture
    def broker_factory(self, amqp_url: str) -> BrokerFactory:
        from celeriac.brokers.amqp import AmqpBroker

        def make(*, visibility_timeout: float = 3600.0) -> Broker:
            return AmqpBroker.from_url(amqp_url, transport_options={})

        return make
