"""Every built-in broker passes the shared broker conformance suite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from celeriac.brokers.base import Broker
from celeriac.brokers.memory import MemoryBroker
from celeriac.brokers.sqlite import SQLiteBroker
from celeriac.testing.conformance import BrokerConformance, BrokerFactory


class TestSQLiteBroker(BrokerConformance):
    @pytest.fixture
    def broker_factory(self, tmp_path: Path) -> BrokerFactory:
        url = f"sqlite:///{tmp_path / 'broker.sqlite3'}"

        def make(*, visibility_timeout: float = 3600.0) -> Broker:
            options = {"visibility_timeout": visibility_timeout}
            return SQLiteBroker.from_url(url, transport_options=options)

        return make


class TestMemoryBroker(BrokerConformance):
    @pytest.fixture
    def broker_factory(self) -> Iterator[BrokerFactory]:
        name = f"contract-{uuid.uuid4().hex}"

        def make(*, visibility_timeout: float = 3600.0) -> Broker:
            options = {"visibility_timeout": visibility_timeout}
            return MemoryBroker.from_url(f"memory://{name}", transport_options=options)

        yield make
        MemoryBroker.reset(name)
