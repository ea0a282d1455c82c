"""Testing helpers: the conformance suites every engine passes, and worker processes.

* :mod:`celeriac.testing.conformance`: ``BrokerConformance`` and ``BackendConformance``,
  pytest test classes an engine's tests subclass.
* :mod:`celeriac.testing.processes`: real worker processes for end-to-end tests.
"""

import sys

# The suites use plain ``assert``; have pytest rewrite them for readable failures. Only
# when pytest is running: the demo imports this package without it.
if "pytest" in sys.modules:
    sys.modules["pytest"].register_assert_rewrite(
        "celeriac.testing.conformance",
        "celeriac.testing._broker_suite",
        "celeriac.testing._broker_async_suite",
        "celeriac.testing._broker_support",
        "celeriac.testing._backend_suite",
    )
