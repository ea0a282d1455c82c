"""Beat inside another process, in a thread: what ``celeriac worker -B`` runs."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, final

from celeriac import signals
from celeriac.beat.service import Service

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.beat.clock import Clock
    from celeriac.beat.scheduler import Scheduler

__all__ = ["EmbeddedBeat"]

logger = logging.getLogger(__name__)


@final
class EmbeddedBeat:
    """Runs a beat :class:`~celeriac.beat.service.Service` in a daemon thread.

    Args:
        app: The app.
        schedule_filename: The schedule file (``-s``; ``beat_schedule_filename`` when unset).
        scheduler: The scheduler class or path (``--scheduler``; ``beat_scheduler``).
        max_interval: Longest wait between ticks.
        lease_timeout: Seconds the leader lease lasts.
        clock: The time source.
    """

    def __init__(
        self,
        app: Celery,
        schedule_filename: str | None = None,
        scheduler: str | type[Scheduler] | None = None,
        *,
        max_interval: float | None = None,
        lease_timeout: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.service = Service(
            app,
            max_interval=max_interval,
            schedule_filename=schedule_filename,
            scheduler_cls=scheduler,
            lease_timeout=lease_timeout,
            clock=clock,
        )
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the beat thread (once)."""
        if self._thread is not None:
            raise RuntimeError("embedded beat already started")
        self._thread = threading.Thread(target=self._run, name="Beat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        signals.beat_embedded_init.send(sender=self.service)
        try:
            self.service.start()
        except Exception:
            logger.exception("beat: embedded beat stopped by an error")

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the beat thread and wait up to ``timeout`` seconds for it to finish."""
        self.service.stop()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def is_alive(self) -> bool:
        """Whether the beat thread is running."""
        return self._thread is not None and self._thread.is_alive()
