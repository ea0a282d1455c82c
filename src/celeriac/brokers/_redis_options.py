"""The Redis broker's transport options: the publish retry policy and the key layout.

:class:`RetryPolicy` is Celery's ``task_publish_retry_policy`` and runs the retries;
:func:`parse_options` checks the options that shape kombu's key layout before
:class:`~celeriac.brokers._redis_plan.Plan` uses them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from celeriac.exceptions import ImproperlyConfigured, OperationalError

__all__ = ["RetryPolicy", "parse_options"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Celery's ``task_publish_retry_policy``: waits between publish attempts.

    Attributes:
        max_retries: Retries after the first failure (0: none).
        interval_start: Seconds before the first retry.
        interval_step: Seconds added for each further retry.
        interval_max: Longest wait.
    """

    max_retries: int = 3
    interval_start: float = 0.0
    interval_step: float = 0.2
    interval_max: float = 0.2

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RetryPolicy:
        """Read ``max_retries`` and ``interval_*`` from transport options."""
        default = cls()
        try:
            return cls(
                max_retries=int(options.get("max_retries", default.max_retries)),
                interval_start=float(options.get("interval_start", default.interval_start)),
                interval_step=float(options.get("interval_step", default.interval_step)),
                interval_max=float(options.get("interval_max", default.interval_max)),
            )
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"invalid publish retry option: {exc}") from exc

    def delays(self) -> list[float]:
        """The wait before each retry."""
        return [
            min(self.interval_start + self.interval_step * n, self.interval_max)
            for n in range(max(self.max_retries, 0))
        ]

    def call(self, action: Callable[[], None]) -> None:
        """Run ``action``, retrying it after an :class:`OperationalError` as the policy says."""
        try:
            action()
            return
        except OperationalError as exc:
            error = exc  # the common case above does not compute the delays
        for attempt, delay in enumerate(self.delays()):
            logger.warning("Publishing failed (%s), retry %d in %.2fs", error, attempt + 1, delay)
            time.sleep(delay)
            try:
                action()
                return
            except OperationalError as exc:
                error = exc
        raise error


def parse_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The key-layout options of :class:`~celeriac.brokers.redis.RedisBroker`.

    Raises:
        ImproperlyConfigured: an option has the wrong type.

    """
    found: dict[str, Any] = {}
    for name in ("global_keyprefix", "queue_order_strategy", "sep"):
        if options.get(name) is not None:
            if not isinstance(options[name], str):
                raise ImproperlyConfigured(f"transport option {name!r} must be a string")
            found[name] = options[name]
    steps = options.get("priority_steps")
    if steps is not None:
        try:
            found["priority_steps"] = tuple(int(step) for step in steps)
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured("priority_steps must be a list of numbers") from exc
    return found
