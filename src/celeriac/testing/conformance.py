"""The conformance suites every broker, result backend and pool must pass.

Each suite is a plain pytest test class. An engine's tests subclass it and provide one
fixture that builds a new, *unopened* engine on storage private to the test::

    from celeriac.testing.conformance import BackendConformance, BrokerConformance

    class TestSQLiteBroker(BrokerConformance):
        @pytest.fixture
        def broker_factory(self, tmp_path):
            url = f"sqlite:///{tmp_path / 'broker.sqlite3'}"

            def make(*, visibility_timeout: float = 3600.0) -> Broker:
                return SQLiteBroker.from_url(
                    url, transport_options={"visibility_timeout": visibility_timeout}
                )

            return make

    class TestSQLiteBackend(BackendConformance):
        @pytest.fixture
        def backend_factory(self, tmp_path):
            return lambda **options: SQLiteBackend.from_url(
                f"sqlite:///{tmp_path / 'results.sqlite3'}", **options
            )

A pool's tests provide ``pool_factory`` instead, ``make(concurrency, target)`` returning
a new, unstarted pool; pools that enforce time limits take the supervising suite::

    class TestThreadPool(PoolConformance):
        @pytest.fixture
        def pool_factory(self):
            return lambda concurrency, target: ThreadPool(
                concurrency=concurrency, target=target
            )

Every engine made by a factory during one test must share that test's storage (the
suites open several to play producer and consumers). The suites open what they make
and close it afterwards; queue names carry a per-test random prefix, so engines on a
shared server (Redis, RabbitMQ) can run them too.
"""

from celeriac.testing._backend_suite import BackendConformance, BackendFactory, ConformanceError
from celeriac.testing._broker_suite import BrokerConformance, BrokerFactory
from celeriac.testing._events_suite import EventChannelConformance
from celeriac.testing._mailbox_suite import MailboxConformance
from celeriac.testing._pool_suite import (
    PoolConformance,
    PoolFactory,
    SupervisingPoolConformance,
    conformance_target,
)

__all__ = [
    "BackendConformance",
    "BackendFactory",
    "BrokerConformance",
    "BrokerFactory",
    "ConformanceError",
    "EventChannelConformance",
    "MailboxConformance",
    "PoolConformance",
    "PoolFactory",
    "SupervisingPoolConformance",
    "conformance_target",
]
