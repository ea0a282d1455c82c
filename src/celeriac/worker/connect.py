"""Connecting the worker to its broker at start-up, retrying as the settings allow."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from celeriac._internal.naming import mask_url
from celeriac.exceptions import OperationalError

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.brokers.base import Broker

__all__ = ["connect_broker"]

logger = logging.getLogger(__name__)


async def connect_broker(app: Celery, retry_interval: float) -> Broker:
    """Connect, retrying transient failures with backoff as the settings allow.

    The wait grows by ``retry_interval`` after each failed attempt (at most 30 s);
    ``broker_connection_retry_on_startup`` (else ``broker_connection_retry``) and
    ``broker_connection_max_retries`` decide whether to try again.
    """
    conf = app.conf
    retry = conf.broker_connection_retry_on_startup
    if retry is None:
        retry = conf.broker_connection_retry
    limit = conf.broker_connection_max_retries
    attempt = 0
    while True:
        try:
            broker = app.broker
            await broker.aopen()
            return broker
        except OperationalError as exc:
            attempt += 1
            if not retry or (limit is not None and attempt > limit):
                raise
            delay = min(retry_interval * attempt, 30.0)
            logger.error(
                "consumer: Cannot connect to %s: %s. Trying again in %.2f seconds... (%d/%s)",
                mask_url(app.broker_url),
                exc,
                delay,
                attempt,
                limit or "inf",
            )
            await asyncio.sleep(delay)
