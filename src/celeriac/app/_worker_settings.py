"""The worker, security, time and beat settings, declared once (``app.conf`` inherits them)."""

from __future__ import annotations

from typing import Any

from celeriac.app._setting import NONE, Setting, setting


class WorkerSettings:
    """Settings of the worker, message signing, time and beat."""

    # -- worker ------------------------------------------------------------------
    worker_concurrency: Setting[int | None] = setting(
        None,
        int,
        NONE,
        old="CELERYD_CONCURRENCY",
        doc="Pool size (default: CPU count).",
    )
    worker_prefetch_multiplier: Setting[int] = setting(
        4,
        old="CELERYD_PREFETCH_MULTIPLIER",
        doc="Messages reserved per pool slot.",
    )
    worker_pool: Setting[str] = setting(
        "prefork",
        old="CELERYD_POOL",
        doc="Pool used when -P is not given: a name or a 'module:Class' path.",
    )
    worker_max_tasks_per_child: Setting[int | None] = setting(
        None,
        int,
        NONE,
        old="CELERYD_MAX_TASKS_PER_CHILD",
        doc="Replace a pool child after it ran this many tasks.",
    )
    worker_max_memory_per_child: Setting[int | None] = setting(
        None,
        int,
        NONE,
        old="CELERYD_MAX_MEMORY_PER_CHILD",
        doc="Replace a pool child after the task that took it over this many KiB resident.",
    )
    worker_disable_prefetch: Setting[bool] = setting(
        False,
        old="CELERYD_DISABLE_PREFETCH",
        doc="Take a message only when a pool slot is free.",
    )
    task_reject_on_worker_lost: Setting[bool | None] = setting(
        None,
        bool,
        NONE,
        old="CELERY_REJECT_ON_WORKER_LOST",
        doc="Requeue an acks_late task whose pool child died, instead of failing it.",
    )
    worker_send_task_events: Setting[bool] = setting(
        False, old="CELERY_SEND_EVENTS", doc="Send task events (as -E does)."
    )
    worker_enable_remote_control: Setting[bool] = setting(
        True, old="CELERY_ENABLE_REMOTE_CONTROL", doc="Answer inspect and control commands."
    )
    worker_control_allowlist: Setting[list[str] | None] = setting(
        None,
        list,
        NONE,
        doc="Remote-control commands this worker obeys (all when unset); celeriac only.",
    )
    worker_metrics_port: Setting[int | None] = setting(
        None,
        int,
        NONE,
        doc="Serve Prometheus metrics on this port (as --metrics-port); celeriac only.",
    )
    worker_metrics_address: Setting[str] = setting(
        "127.0.0.1",
        doc="Interface worker_metrics_port listens on (as --metrics-address); celeriac only.",
    )
    worker_state_db: Setting[str | None] = setting(
        None,
        str,
        NONE,
        old="CELERYD_STATE_DB",
        doc="File keeping revoked ids and the logical clock across restarts (as -S).",
    )
    worker_pool_restarts: Setting[bool] = setting(
        False, old="CELERYD_POOL_RESTARTS", doc="Allow the pool_restart remote command."
    )
    worker_disable_rate_limits: Setting[bool] = setting(
        False, old="CELERY_DISABLE_RATE_LIMITS", doc="Ignore every task's rate limit."
    )
    task_default_rate_limit: Setting[str | int | float | None] = setting(
        None,
        str,
        int,
        float,
        NONE,
        old="CELERY_DEFAULT_RATE_LIMIT",
        doc="Rate limit of tasks that set none ('10/s', '100/m', '1000/h').",
    )
    # -- logging (the celeriac command's logging set-up; see celeriac.cli.base) -------
    worker_log_format: Setting[str] = setting(
        "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s",
        old="CELERYD_LOG_FORMAT",
        doc="Format of the worker's log lines.",
    )
    worker_task_log_format: Setting[str] = setting(
        "[%(asctime)s: %(levelname)s/%(processName)s] %(task_name)s[%(task_id)s]: %(message)s",
        old="CELERYD_TASK_LOG_FORMAT",
        doc="Format of the lines of task loggers (celeriac.utils.log.get_task_logger).",
    )
    worker_hijack_root_logger: Setting[bool] = setting(
        True,
        old="CELERYD_HIJACK_ROOT_LOGGER",
        doc="Remove the root logger's handlers; when false, a root already set up is kept.",
    )
    worker_log_color: Setting[bool | None] = setting(
        None,
        bool,
        NONE,
        old="CELERYD_LOG_COLOR",
        doc="Colour the log lines by level (unset: only when logging to a terminal).",
    )
    worker_redirect_stdouts: Setting[bool] = setting(
        True,
        old="CELERY_REDIRECT_STDOUTS",
        doc="Send what is printed to stdout and stderr to the log.",
    )
    worker_redirect_stdouts_level: Setting[str] = setting(
        "WARNING",
        old="CELERY_REDIRECT_STDOUTS_LEVEL",
        doc="Level of the log lines of what is printed.",
    )
    # -- security (app.setup_security(); see celeriac.security) -----------------------
    security_key: Setting[str | None] = setting(
        None, str, NONE, old="CELERY_SECURITY_KEY", doc="PEM file of the signing RSA key."
    )
    security_key_password: Setting[bytes | str | None] = setting(
        None, bytes, str, NONE, old="CELERY_SECURITY_KEY_PASSWORD", doc="security_key's password."
    )
    security_certificate: Setting[str | None] = setting(
        None, str, NONE, old="CELERY_SECURITY_CERTIFICATE", doc="PEM file of the signer."
    )
    security_cert_store: Setting[str | None] = setting(
        None, str, NONE, old="CELERY_SECURITY_CERT_STORE", doc="Trusted certificates (glob)."
    )
    security_digest: Setting[str] = setting(
        "sha256", old="CELERY_SECURITY_DIGEST", doc="Digest used to sign messages."
    )
    security_hmac_key: Setting[bytes | str | None] = setting(
        None, bytes, str, NONE, doc="Shared HMAC key: signing without certificates."
    )
    # -- time --------------------------------------------------------------------
    timezone: Setting[str | None] = setting(
        None,
        str,
        NONE,
        old="CELERY_TIMEZONE",
        doc="Time zone for display (UTC when unset).",
    )
    enable_utc: Setting[bool] = setting(True, old="CELERY_ENABLE_UTC", doc="Use UTC internally.")
    # -- beat --------------------------------------------------------------------
    beat_schedule: Setting[dict[str, Any]] = setting(
        {},
        dict,
        old="CELERYBEAT_SCHEDULE",
        doc="Periodic tasks: name -> {'task', 'schedule', 'args', 'kwargs', 'options'}.",
    )
    beat_scheduler: Setting[str | type] = setting(
        "celery.beat:PersistentScheduler",
        str,
        type,
        old="CELERYBEAT_SCHEDULER",
        doc="Scheduler class or path (Celery's default means celeriac's PersistentScheduler).",
    )
    beat_schedule_filename: Setting[str] = setting(
        "celerybeat-schedule",
        old="CELERYBEAT_SCHEDULE_FILENAME",
        doc="The file where beat keeps its schedule state (SQLite).",
    )
    beat_max_loop_interval: Setting[float] = setting(
        0,
        int,
        float,
        old="CELERYBEAT_MAX_LOOP_INTERVAL",
        doc="Longest wait between beat's checks in seconds (0: the scheduler's default).",
    )
