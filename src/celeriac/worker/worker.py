"""The worker's lifecycle: start in order, run, stop in reverse.

Start: import task modules, connect the broker (and purge if asked), start the pool,
start consuming. Stop (warm): stop fetching, return unstarted messages, let running
tasks finish, stop the pool, close connections. A second stop request (or
``cold=True``) skips the waiting.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from celeriac import signals
from celeriac._internal.daemon import node_format
from celeriac._internal.naming import default_nodename, mask_url
from celeriac.app.config import environment_variable
from celeriac.app.routing import Queue
from celeriac.pools.base import Pool, PoolOptions
from celeriac.pools.registry import pool_class
from celeriac.serialization import resolve_accept
from celeriac.worker.autoscale import Autoscaler
from celeriac.worker.banner import banner
from celeriac.worker.connect import connect_broker
from celeriac.worker.consumer import Consumer
from celeriac.worker.execute import describe_job, run_task
from celeriac.worker.execute_async import run_task_async
from celeriac.worker.gossip import Gossip
from celeriac.worker.hooks import EventsHook, Hook, SignalsHook, StatsHook
from celeriac.worker.metrics import WorkerMetrics
from celeriac.worker.node import (
    NodeServices,
    init_pool_process,
    install_stop_handlers,
    shut_pool_process,
)
from celeriac.worker.revokes import Revocations
from celeriac.worker.state_db import StateDB

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.beat.embedded import EmbeddedBeat

__all__ = ["Worker"]

logger = logging.getLogger(__name__)


class Worker:
    """One worker node.

    Args:
        app: The app whose tasks run here.
        hostname: Node name template (``-n``), ``celery@%h`` by default.
        queues: Queues to consume (``-Q``); the default queue when empty.
        exclude_queues: Queues not to consume (``-X``).
        concurrency: Pool size (``-c``); ``worker_concurrency`` or the CPU count.
        pool: Pool name (``-P``); ``worker_pool`` when ``None``.
        prefetch_multiplier: Messages held per pool slot; ``worker_prefetch_multiplier``.
        disable_prefetch: Take a message only when a pool slot is free
            (``worker_disable_prefetch``).
        time_limit: Hard time limit of tasks that set none (``task_time_limit``).
        soft_time_limit: Soft time limit of tasks that set none (``task_soft_time_limit``).
        max_tasks_per_child: Replace a pool child after this many tasks
            (``worker_max_tasks_per_child``).
        max_memory_per_child: Replace a pool child after the task that took it over this
            many KiB resident (``worker_max_memory_per_child``).
        purge: Delete waiting messages of the consumed queues before starting.
        include: Extra modules to import (``-I``).
        retry_interval: Seconds added to the wait after each failed connection attempt.
        task_events: Send task events (``-E``); ``worker_send_task_events`` when ``None``.
        heartbeat_interval: Seconds between heartbeat events; ``None``/0 turns them off.
        beat: Also run the periodic-task scheduler (``-B``).
        schedule_filename: Beat's schedule file (``-s``).
        scheduler: Beat's scheduler class path (``--scheduler``).
        autoscale: ``(max, min)`` pool sizes to scale between (``--autoscale``).
        statedb: File keeping revoked ids and the clock across restarts (``-S``,
            ``worker_state_db``); ``%n``/``%h``/``%p`` expand as in Celery.
        mingle: Sync revoked ids and the clock with the other workers at start-up
            (the command line turns it on unless ``--without-mingle``).
        gossip: Follow the other workers' events (the command line turns it on unless
            ``--without-gossip``).
        process_init: Called in each new pool child process with its index.
        metrics_port: Serve Prometheus metrics on this port (``--metrics-port``,
            ``worker_metrics_port``), on ``metrics_address`` (``worker_metrics_address``).
        cli_options: The ``celeriac worker`` command line's options: this worker is then
            that program's, and sends them with ``celeryd_init`` before it reads its
            settings (a receiver may still change them).
    """

    def __init__(
        self,
        app: Celery,
        *,
        hostname: str | None = None,
        queues: Sequence[str] = (),
        exclude_queues: Sequence[str] = (),
        concurrency: int | None = None,
        pool: str | None = None,
        prefetch_multiplier: int | None = None,
        disable_prefetch: bool | None = None,
        time_limit: float | None = None,
        soft_time_limit: float | None = None,
        max_tasks_per_child: int | None = None,
        max_memory_per_child: int | None = None,
        purge: bool = False,
        include: Sequence[str] = (),
        retry_interval: float = 2.0,
        task_events: bool | None = None,
        heartbeat_interval: float | None = 2.0,
        beat: bool = False,
        schedule_filename: str | None = None,
        scheduler: str | None = None,
        autoscale: tuple[int, int] | None = None,
        statedb: str | None = None,
        mingle: bool = False,
        gossip: bool = False,
        process_init: Callable[[int], None] | None = None,
        metrics_port: int | None = None,
        metrics_address: str | None = None,
        cli_options: dict[str, Any] | None = None,
    ) -> None:
        self.app = app
        self.hostname = default_nodename(hostname)
        if cli_options is not None:
            signals.celeryd_init.send(
                sender=self.hostname, instance=self, conf=app.conf, options=cli_options
            )
        conf = app.conf
        self.pool_name = pool or conf.worker_pool
        custom = environment_variable("CELERIAC_CUSTOM_WORKER_POOL") or environment_variable(
            "CELERY_CUSTOM_WORKER_POOL"
        )
        self.pool_cls = pool_class(self.pool_name, custom=custom)
        self.concurrency = concurrency or conf.worker_concurrency or os.cpu_count() or 1
        multiplier = conf.worker_prefetch_multiplier
        self.prefetch_multiplier = (
            multiplier if prefetch_multiplier is None else prefetch_multiplier
        )
        if conf.worker_disable_prefetch if disable_prefetch is None else disable_prefetch:
            self.prefetch_multiplier = 1
        self.time_limit = conf.task_time_limit if time_limit is None else time_limit
        self.soft_time_limit = (
            conf.task_soft_time_limit if soft_time_limit is None else soft_time_limit
        )
        self.autoscale = autoscale
        self.autoscaler: Autoscaler | None = None
        if autoscale is not None:
            self.concurrency = autoscale[0]
        statedb = statedb or conf.worker_state_db
        self.state_db = StateDB(node_format(statedb, self.hostname)) if statedb else None
        self.mingle = mingle
        self.with_gossip = gossip
        self.gossip: Gossip | None = None
        self.pool_options = PoolOptions(
            initializer=functools.partial(init_pool_process, process_init, self.hostname),
            finalizer=functools.partial(shut_pool_process, self.hostname),
            describe=describe_job,
            max_tasks_per_child=max_tasks_per_child or conf.worker_max_tasks_per_child,
            max_memory_per_child=max_memory_per_child or conf.worker_max_memory_per_child,
        )
        self.purge = purge
        self.include = list(include)
        self.retry_interval = retry_interval
        self.queues = self._select_queues(queues, exclude_queues)
        self.pool: Pool | None = None
        self.consumer: Consumer | None = None
        self.clock = 0
        self.started_at = time.monotonic()
        self.revoked = Revocations()
        self.stats = StatsHook()
        self.services = NodeServices(
            self,
            task_events=conf.worker_send_task_events if task_events is None else task_events,
            heartbeat_interval=heartbeat_interval or None,
            remote_control=conf.worker_enable_remote_control,
        )
        self.beat: EmbeddedBeat | None = None
        if beat:
            from celeriac.beat.embedded import EmbeddedBeat

            # Built now, so a bad --scheduler fails before anything starts.
            self.beat = EmbeddedBeat(app, schedule_filename, scheduler)
        self._stop_requested = 0
        self._stopped = asyncio.Event()
        self.metrics = WorkerMetrics.configure(self, metrics_port, metrics_address)
        signals.worker_init.send(sender=self)

    def _select_queues(self, names: Sequence[str], exclude: Sequence[str]) -> list[Queue]:
        router = self.app.router
        if names:
            selected = [router.queue(name) for name in names]
        else:
            declared = self.app.conf.task_queues
            selected = (
                [router.queue(q.name) for q in declared] if declared else [self.app.default_queue()]
            )
        return [q for q in selected if q.name not in set(exclude)]

    # -- start ------------------------------------------------------------------------

    def load_tasks(self) -> None:
        """Import ``include``/``imports`` and ``-I`` modules so their tasks register."""
        self.app.import_default_modules()
        for module_name in self.include:
            __import__(module_name)

    def _make_pool(self) -> Pool:
        accept = resolve_accept(self.app.conf.accept_content)
        run = run_task_async if self.pool_cls.is_async else run_task
        target = functools.partial(run, self.app, self.hostname, accept)
        pool = self.pool_cls(concurrency=self.concurrency, target=target, options=self.pool_options)
        if self.autoscale is not None:  # start small: the autoscaler grows it under load
            pool.resize(max(self.autoscale[1], 1))
        return pool

    def banner(self) -> str:
        """The start-up banner for this worker."""
        pool = self._make_pool()
        return banner(
            self.app,
            hostname=self.hostname,
            queues=self.queues,
            concurrency=(
                f"{{min={self.autoscale[1]}, max={self.autoscale[0]}}}"
                if self.autoscale
                else pool.concurrency
            ),
            pool_name=pool.name or self.pool_name,
            events=self.services.task_events,
        )

    def _hooks(self) -> list[Hook]:
        """What the consumer calls around each task, in this order."""
        hooks: list[Hook] = [self.stats, SignalsHook(self)]
        if self.metrics is not None:
            hooks.append(self.metrics.hook)
        if self.services.events is not None:
            hooks.append(EventsHook(self.services.events))
        return hooks

    async def run(self, on_started: Callable[[], None] | None = None) -> None:
        """Run until stopped; ``on_started`` is called once the worker is ready."""
        app = self.app
        if self.metrics is not None:  # first: a taken port stops the worker at once
            self.metrics.start()
        broker = await connect_broker(app, self.retry_interval)
        if not app.conf.broker_url:
            logger.info(
                "No broker configured: using the embedded SQLite broker %s in %s",
                app.broker_url,
                os.getcwd(),
            )
        logger.info("Connected to %s", mask_url(app.broker_url))
        for queue in self.queues:
            broker.declare_queue(queue.name)
        if self.purge:
            removed = sum(broker.purge(q.name) for q in self.queues)
            logger.warning("Purged %d message(s) from %d queue(s)", removed, len(self.queues))
        if self.state_db is not None:
            expiries, clock = await asyncio.to_thread(self.state_db.load)
            self.revoked.update(expiries)
            self.clock = max(self.clock, clock)
        pool = self.pool = self._make_pool()
        pool.start()
        if pool.is_inline:  # tasks run in this process: it is the pool process (Celery's solo)
            signals.worker_process_init.send(sender=self.hostname)
        self.started_at = time.monotonic()
        self.services.open()
        if self.mingle:
            await self.services.mingle()
        if self.with_gossip and self.services.events is not None:
            self.gossip = Gossip(self, app.broker.event_channel())
            self.services.watch(self.gossip.run())
        hooks = self._hooks()
        self.consumer = Consumer(
            app,
            pool,
            [q.name for q in self.queues],
            hostname=self.hostname,
            prefetch_multiplier=self.prefetch_multiplier,
            time_limit=self.time_limit,
            soft_time_limit=self.soft_time_limit,
            hooks=hooks,
            revoked=self.revoked,
        )
        if self.autoscale is not None:
            self.autoscaler = Autoscaler(
                pool,
                self.consumer.held,
                max_concurrency=self.autoscale[0],
                min_concurrency=self.autoscale[1],
                keepalive=float(environment_variable("AUTOSCALE_KEEPALIVE") or 30.0),
            )
            self.consumer.max_concurrency = self.autoscale[0]
            self.consumer.hooks.append(self.autoscaler)  # the consumer keeps its own list
            self.services.watch(self.autoscaler.run())
        install_stop_handlers(self)
        await self.services.start()
        if self.beat is not None:  # after the pool: no child forks while beat's thread runs
            self.beat.start()
        signals.worker_ready.send(sender=self.consumer)
        logger.info("%s ready.", self.hostname)
        if on_started is not None:
            on_started()
        try:
            await self.consumer.run()
        finally:
            await self._shutdown()

    # -- what remote control reads and changes ------------------------------------

    def tick_clock(self) -> int:
        """Advance the logical clock (once per handled command)."""
        self.clock += 1
        return self.clock

    def consumer_accept(self) -> frozenset[str]:
        """The content types this worker decodes."""
        return resolve_accept(self.app.conf.accept_content)

    def revoke(self, task_ids: Sequence[str]) -> None:
        """Refuse these task ids from now on (and after a restart, with ``-S``)."""
        added = self.revoked.add(task_ids)
        if self.state_db is not None and added:
            self.state_db.add_revoked(added)

    def merge_revoked(self, revoked: Any) -> None:
        """Add revoked ids a peer sent: a list (Celery 5.7), or a dict (<= 5.6) of ids.

        As Celery 5.7 does, the ids count as revoked now: a dict's stamps are another
        host's monotonic clock, not comparable with ours.
        """
        if isinstance(revoked, dict | list | tuple):
            self.revoked.add([str(task_id) for task_id in revoked])

    def adjust_clock(self, other: int) -> int:
        """Lamport: move past a clock value seen elsewhere."""
        self.clock = max(self.clock, int(other)) + 1
        return self.clock

    # -- stop -------------------------------------------------------------------------

    def request_stop(self, cold: bool = False) -> None:
        """Ask for a warm shutdown; a second request (or ``cold``) makes it cold."""
        self._stop_requested += 2 if cold else 1
        if self._stop_requested == 1:
            logger.warning("worker: Warm shutdown (MainProcess)")
        else:
            logger.warning("worker: Cold shutdown (MainProcess)")
        if self.consumer is not None:
            self.consumer.stop()
        self._stopped.set()

    @property
    def is_cold(self) -> bool:
        """Whether running tasks are to be abandoned rather than awaited."""
        return self._stop_requested > 1

    async def _shutdown(self) -> None:
        if self.beat is not None:  # first: stopping it hands its lease over at once
            await asyncio.to_thread(self.beat.stop)
        consumer, pool = self.consumer, self.pool
        if consumer is not None:
            await consumer.release(include_active=False)
            while consumer.active and not self.is_cold:
                self._stopped.clear()
                waiter = asyncio.ensure_future(self._stopped.wait())
                drained = asyncio.ensure_future(consumer.drain())
                await asyncio.wait({waiter, drained}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                drained.cancel()
            if self.is_cold:
                await consumer.release(include_active=True)
            else:
                await consumer.drain()
        if pool is not None:
            pool.stop(wait=not self.is_cold)
            await pool.wait_stopped()  # nothing of it left pending when the loop closes
        await self.services.stop()
        if self.metrics is not None:
            self.metrics.stop()
        if self.state_db is not None:
            self.state_db.save_clock(self.clock)
            self.state_db.close()
        await self.app.broker.aclose()
        self.app.close()
        signals.worker_shutdown.send(sender=self)
        logger.info("%s stopped.", self.hostname)
