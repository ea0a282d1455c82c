"""The broker, result and task settings, declared once (``app.conf`` inherits them)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from celeriac.app._setting import CALLABLE, NONE, Setting, setting


class BrokerTaskSettings:
    """Settings of the broker, the result backend and tasks."""

    # -- broker ------------------------------------------------------------------
    broker_url: Setting[str | None] = setting(
        None,
        str,
        NONE,
        env=("CELERIAC_BROKER_URL", "CELERY_BROKER_URL"),
        old="BROKER_URL",
        doc="Broker URL; the embedded SQLite broker when unset.",
    )
    broker_transport_options: Setting[dict[str, Any]] = setting(
        {},
        dict,
        old="BROKER_TRANSPORT_OPTIONS",
        doc="Engine-specific broker options.",
    )
    broker_connection_retry_on_startup: Setting[bool | None] = setting(
        None,
        bool,
        NONE,
        old="BROKER_CONNECTION_RETRY_ON_STARTUP",
        doc="Retry connecting to the broker at worker start-up (broker_connection_retry "
        "when unset).",
    )
    broker_connection_retry: Setting[bool] = setting(
        True,
        old="BROKER_CONNECTION_RETRY",
        doc="Retry connecting to the broker when the connection fails.",
    )
    broker_connection_max_retries: Setting[int | None] = setting(
        100,
        int,
        NONE,
        old="BROKER_CONNECTION_MAX_RETRIES",
        doc="Connection attempts before giving up (None: forever).",
    )
    broker_use_ssl: Setting[bool | dict[str, Any]] = setting(
        False,
        bool,
        dict,
        old="BROKER_USE_SSL",
        doc="TLS to the broker: True (verify the server against the system's CAs) or a "
        "dict. RabbitMQ takes py-amqp's keys keyfile, certfile, ca_certs, cert_reqs, "
        "server_hostname, ciphers; Redis takes ssl_keyfile, ssl_certfile, ssl_ca_certs, "
        "ssl_cert_reqs. An amqps:// or rediss:// URL turns TLS on by itself.",
    )
    broker_heartbeat: Setting[float] = setting(
        120,
        int,
        float,
        old="BROKER_HEARTBEAT",
        doc="AMQP heartbeat in seconds (0 turns heartbeats off); RabbitMQ only.",
    )
    # -- results -----------------------------------------------------------------
    result_backend: Setting[str | None] = setting(
        None,
        str,
        NONE,
        env=("CELERIAC_RESULT_BACKEND", "CELERY_RESULT_BACKEND"),
        old="CELERY_RESULT_BACKEND",
        doc="Result backend URL; results are disabled when unset.",
    )
    result_serializer: Setting[str] = setting(
        "json",
        old="CELERY_RESULT_SERIALIZER",
        doc="Serializer for stored results.",
    )
    result_accept_content: Setting[list[str] | None] = setting(
        None,
        list,
        tuple,
        set,
        frozenset,
        NONE,
        old="RESULT_ACCEPT_CONTENT",
        doc="Content types accepted when reading results.",
    )
    result_expires: Setting[float | dt.timedelta | None] = setting(
        86400.0,
        int,
        float,
        dt.timedelta,
        NONE,
        old="CELERY_TASK_RESULT_EXPIRES",
        doc="Seconds results are kept (None or 0: forever).",
    )
    result_extended: Setting[bool] = setting(
        False,
        old="CELERY_RESULT_EXTENDED",
        doc="Also store name, args, kwargs, worker, retries and queue.",
    )
    result_backend_transport_options: Setting[dict[str, Any]] = setting(
        {},
        dict,
        old="CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS",
        doc="Engine-specific backend options.",
    )
    # -- tasks -------------------------------------------------------------------
    include: Setting[list[str]] = setting(
        [],
        list,
        tuple,
        old="CELERY_INCLUDE",
        doc="Modules imported when the worker starts.",
    )
    imports: Setting[list[str]] = setting(
        [],
        list,
        tuple,
        old="CELERY_IMPORTS",
        doc="Modules imported when the worker starts.",
    )
    task_serializer: Setting[str] = setting(
        "json",
        old="CELERY_TASK_SERIALIZER",
        doc="Serializer for task messages.",
    )
    task_compression: Setting[str | None] = setting(
        None,
        str,
        NONE,
        old="CELERY_MESSAGE_COMPRESSION",
        doc="Compression for task messages (zlib, bzip2, lzma).",
    )
    accept_content: Setting[list[str]] = setting(
        ["json"],
        list,
        tuple,
        set,
        frozenset,
        old="CELERY_ACCEPT_CONTENT",
        doc="Content types (or serializer names) a worker accepts.",
    )
    task_routes: Setting[Any] = setting(
        None,
        dict,
        list,
        tuple,
        NONE,
        str,
        CALLABLE,
        old="CELERY_ROUTES",
        doc="Routers: a dict by task name (globs, regexes), a list of them, or functions.",
    )
    task_queues: Setting[list[Any] | None] = setting(
        None,
        list,
        tuple,
        NONE,
        old="CELERY_QUEUES",
        doc="Declared queues (celeriac.Queue or kombu.Queue objects).",
    )
    task_default_queue: Setting[str] = setting(
        "celery",
        old="CELERY_DEFAULT_QUEUE",
        doc="Queue for tasks with no route.",
    )
    task_default_exchange: Setting[str | None] = setting(
        None,
        str,
        NONE,
        old="CELERY_DEFAULT_EXCHANGE",
        doc="Exchange of the default queue (its name when unset).",
    )
    task_default_exchange_type: Setting[str] = setting(
        "direct",
        old="CELERY_DEFAULT_EXCHANGE_TYPE",
        doc="Type of the default exchange.",
    )
    task_default_routing_key: Setting[str | None] = setting(
        None,
        str,
        NONE,
        old="CELERY_DEFAULT_ROUTING_KEY",
        doc="Routing key of the default queue (its name when unset).",
    )
    task_default_priority: Setting[int | None] = setting(
        None,
        int,
        NONE,
        old="CELERY_DEFAULT_PRIORITY",
        doc="Priority of messages that set none.",
    )
    task_queue_max_priority: Setting[int | None] = setting(
        None,
        int,
        NONE,
        old="CELERY_QUEUE_MAX_PRIORITY",
        doc="x-max-priority of the queues declared on RabbitMQ (None: no priorities).",
    )
    task_create_missing_queues: Setting[bool] = setting(
        True,
        old="CELERY_CREATE_MISSING_QUEUES",
        doc="Create queues named in routes that are not declared.",
    )
    task_track_started: Setting[bool] = setting(
        False,
        old="CELERY_TRACK_STARTED",
        doc="Record STARTED when a task starts.",
    )
    task_ignore_result: Setting[bool] = setting(
        False,
        old="CELERY_IGNORE_RESULT",
        doc="Store no results by default.",
    )
    task_send_sent_event: Setting[bool] = setting(
        False,
        old="CELERY_SEND_TASK_SENT_EVENT",
        doc="Send a task-sent event for each message published (for monitors).",
    )
    task_acks_late: Setting[bool] = setting(
        False,
        old="CELERY_ACKS_LATE",
        doc="Ack after the task ran, not before.",
    )
    task_acks_on_failure_or_timeout: Setting[bool] = setting(
        True,
        old="CELERY_ACKS_ON_FAILURE_OR_TIMEOUT",
        doc="With acks_late: ack a task that failed or hit its hard time limit. When "
        "false, a failed task's message is rejected (RabbitMQ dead-letters it if the "
        "queue has a dead-letter exchange) and a timed-out one is requeued.",
    )
    task_acks_on_failure: Setting[bool | None] = setting(
        None,
        bool,
        NONE,
        old="CELERY_ACKS_ON_FAILURE",
        doc="With acks_late: ack a failed task (else reject it); unset: "
        "task_acks_on_failure_or_timeout decides.",
    )
    task_acks_on_timeout: Setting[bool | None] = setting(
        None,
        bool,
        NONE,
        old="CELERY_ACKS_ON_TIMEOUT",
        doc="With acks_late: ack a task that hit its hard time limit (else requeue it); "
        "unset: task_acks_on_failure_or_timeout decides.",
    )
    task_always_eager: Setting[bool] = setting(
        False,
        old="CELERY_ALWAYS_EAGER",
        doc="Run tasks locally instead of sending them.",
    )
    task_eager_propagates: Setting[bool] = setting(
        False,
        old="CELERY_EAGER_PROPAGATES_EXCEPTIONS",
        doc="Eager tasks re-raise their exceptions.",
    )
    task_store_eager_result: Setting[bool] = setting(
        False,
        old="CELERY_STORE_EAGER_RESULT",
        doc="Eager tasks store their result in the backend.",
    )
    task_time_limit: Setting[float | None] = setting(
        None,
        int,
        float,
        NONE,
        old="CELERYD_TASK_TIME_LIMIT",
        doc="Hard time limit in seconds.",
    )
    task_soft_time_limit: Setting[float | None] = setting(
        None,
        int,
        float,
        NONE,
        old="CELERYD_TASK_SOFT_TIME_LIMIT",
        doc="Soft time limit in seconds.",
    )
    task_default_retry_delay: Setting[float] = setting(
        180,
        int,
        float,
        doc="Seconds before a retry when the task gives none.",
    )
    task_max_retries: Setting[int | None] = setting(
        3,
        int,
        NONE,
        doc="Retries allowed when the task sets none.",
    )
