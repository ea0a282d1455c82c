"""celeriac.app.config: Celery's settings, names, defaults and sources."""

from __future__ import annotations

import datetime as dt
import logging
import sys
import textwrap
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celery  # type: ignore[import-untyped]
import pytest
from celery.app.defaults import (  # type: ignore[import-untyped]
    _TO_OLD_KEY as CELERY_OLD_NAMES,
)
from celery.app.defaults import NAMESPACES, flatten

from celeriac.app._celery_settings import CELERY_SETTING_NAMES
from celeriac.app.config import SETTINGS, Settings, celery_settings_without_effect
from celeriac.exceptions import ImproperlyConfigured

ENV_VARS = (
    "CELERIAC_BROKER_URL",
    "CELERY_BROKER_URL",
    "CELERIAC_RESULT_BACKEND",
    "CELERY_RESULT_BACKEND",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def conf() -> Settings:
    return Settings()


@pytest.fixture(scope="module")
def celery_conf() -> Any:
    return celery.Celery("peer", set_as_current=False).conf


# -- defaults -------------------------------------------------------------------------------


def test_documented_defaults(conf: Settings) -> None:
    assert conf.task_default_queue == "celery"
    assert conf.result_expires == 86400
    assert conf.accept_content == ["json"]
    assert conf.worker_prefetch_multiplier == 4
    assert conf.enable_utc is True
    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert conf.broker_url is None
    assert conf.result_backend is None
    assert conf.task_always_eager is False
    assert conf.task_default_exchange_type == "direct"
    assert conf.task_create_missing_queues is True


#: Settings celeriac defaults differently on purpose, or that Celery does not have.
NOT_COMPARED = {
    "worker_pool",
    "task_default_retry_delay",
    "task_max_retries",
    "security_hmac_key",
    "worker_control_allowlist",
    "worker_metrics_port",
    "worker_metrics_address",
}


def _normalize(value: Any) -> Any:
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, tuple):
        return list(value)
    return value


@pytest.mark.parametrize("name", [spec.name for spec in SETTINGS if spec.name not in NOT_COMPARED])
def test_defaults_match_celery(conf: Settings, celery_conf: Any, name: str) -> None:
    assert _normalize(conf[name]) == _normalize(celery_conf[name])


@pytest.mark.parametrize("name", [spec.name for spec in SETTINGS if spec.name != "enable_utc"])
def test_old_names_match_celery(name: str) -> None:
    # enable_utc: Celery 5 maps ENABLE_UTC; celeriac keeps the documented CELERY_ENABLE_UTC.
    spec = next(spec for spec in SETTINGS if spec.name == name)
    assert spec.old == CELERY_OLD_NAMES.get(name)


def test_mutable_defaults_are_not_shared(conf: Settings) -> None:
    conf.accept_content.append("pickle")
    conf.broker_transport_options["x"] = 1
    assert Settings().accept_content == ["json"]
    assert Settings().broker_transport_options == {}


# -- access ---------------------------------------------------------------------------------


def test_attribute_and_mapping_access(conf: Settings) -> None:
    conf.task_default_queue = "hipri"
    assert conf["task_default_queue"] == "hipri"
    conf["task_default_queue"] = "lopri"
    assert conf.task_default_queue == "lopri"
    assert "task_default_queue" in conf
    assert conf.get("task_default_queue") == "lopri"


def test_every_setting_is_listed(conf: Settings) -> None:
    names = [spec.name for spec in SETTINGS]
    assert list(conf)[: len(names)] == names
    assert len(conf) == len(names)


def test_update_and_changes(conf: Settings) -> None:
    conf.update(task_serializer="pickle", accept_content=["json", "pickle"])
    conf.update({"result_expires": 60})
    assert conf.task_serializer == "pickle"
    assert conf.accept_content == ["json", "pickle"]
    assert conf.changes() == {
        "task_serializer": "pickle",
        "accept_content": ["json", "pickle"],
        "result_expires": 60,
    }


def test_settings_from_constructor() -> None:
    assert Settings({"task_default_queue": "q"}).task_default_queue == "q"


def test_setdefault_only_when_unset(conf: Settings) -> None:
    assert conf.setdefault("task_default_queue", "first") == "first"
    assert conf.setdefault("task_default_queue", "second") == "first"
    assert conf.task_default_queue == "first"


def test_user_keys_are_kept(conf: Settings, caplog: pytest.LogCaptureFixture) -> None:
    conf["my_project_flag"] = 1
    assert conf["my_project_flag"] == 1
    assert conf.my_project_flag == 1
    del conf["my_project_flag"]
    with pytest.raises(KeyError):
        conf["my_project_flag"]
    with pytest.raises(AttributeError, match="no setting named"):
        _ = conf.my_project_flag


def test_delete_resets_to_default(conf: Settings) -> None:
    conf.task_default_queue = "q"
    del conf["task_default_queue"]
    assert conf.task_default_queue == "celery"


def test_humanize(conf: Settings) -> None:
    conf.task_default_queue = "q"
    assert conf.humanize() == {"task_default_queue": "q"}
    full = conf.humanize(with_defaults=True)
    assert full["task_default_queue"] == "q"
    assert full["task_serializer"] == "json"


def test_timedelta_result_expires(conf: Settings) -> None:
    conf.result_expires = dt.timedelta(hours=1)
    assert conf.result_expires == dt.timedelta(hours=1)


# -- old names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "value"),
    [
        ("CELERY_ALWAYS_EAGER", "task_always_eager", True),
        ("BROKER_URL", "broker_url", "memory://"),
        ("CELERY_RESULT_BACKEND", "result_backend", "cache+memory://"),
        ("CELERYD_CONCURRENCY", "worker_concurrency", 2),
        ("CELERY_TASK_RESULT_EXPIRES", "result_expires", 10),
        ("CELERY_ROUTES", "task_routes", {"a": "b"}),
        ("CELERY_DEFAULT_QUEUE", "task_default_queue", "q"),
        ("CELERY_RESULT_EXTENDED", "result_extended", True),
        ("CELERY_DEFAULT_EXCHANGE", "task_default_exchange", "ex"),
    ],
)
def test_old_uppercase_names_are_mapped(conf: Settings, old: str, new: str, value: Any) -> None:
    conf[old] = value
    assert conf[new] == value
    assert conf[old] == value  # Celery reads old names too
    assert getattr(conf, old) == value
    assert old not in conf.changes()


def test_old_names_from_update(conf: Settings, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        conf.update(CELERY_ALWAYS_EAGER=True, CELERY_EAGER_PROPAGATES_EXCEPTIONS=True)
    assert conf.task_always_eager is True
    assert conf.task_eager_propagates is True
    assert caplog.records == []


def test_old_names_are_type_checked_too(conf: Settings) -> None:
    with pytest.raises(ImproperlyConfigured, match="task_always_eager"):
        conf["CELERY_ALWAYS_EAGER"] = "yes"


# -- types and unknown keys -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("task_default_queue", 1),
        ("task_always_eager", "true"),
        ("worker_prefetch_multiplier", "4"),
        ("accept_content", "json"),
        ("broker_url", 5),
        ("result_expires", "1d"),
    ],
)
def test_type_errors_raise_improperly_configured_in_one_line(
    conf: Settings, key: str, value: Any
) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        conf[key] = value
    message = str(info.value)
    assert "\n" not in message
    assert key in message
    assert repr(value) in message


def test_none_allowed_only_where_declared(conf: Settings) -> None:
    conf.broker_url = None
    with pytest.raises(ImproperlyConfigured):
        conf.task_default_queue = None  # type: ignore[assignment]


def test_unknown_key_warns_with_did_you_mean(
    conf: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="celeriac.app.config"):
        conf["task_defualt_queue"] = "x"
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "task_defualt_queue" in message
    assert "did you mean 'task_default_queue'" in message
    assert conf["task_defualt_queue"] == "x"


def test_unknown_key_without_close_match(conf: Settings, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="celeriac.app.config"):
        conf["zzzz_qqqq"] = 1
    assert len(caplog.records) == 1
    assert "did you mean" not in caplog.records[0].getMessage()


def test_unknown_key_warns_once(conf: Settings, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="celeriac.app.config"):
        conf["my_flag"] = 1
        conf["my_flag"] = 2
    assert len(caplog.records) == 1


# -- config_from_object ---------------------------------------------------------------------


def test_config_from_an_object(conf: Settings) -> None:
    class Config:
        task_default_queue = "from-object"
        broker_url = "memory://obj"
        CELERY_ALWAYS_EAGER = True
        SOMETHING_ELSE = 1
        _private = 2

    conf.config_from_object(Config)
    assert conf.task_default_queue == "from-object"
    assert conf.broker_url == "memory://obj"
    assert conf.task_always_eager is True
    assert "SOMETHING_ELSE" not in conf.changes()
    assert "_private" not in conf.changes()


def test_config_from_a_dict(conf: Settings) -> None:
    conf.config_from_object({"task_serializer": "pickle", "CELERY_DEFAULT_QUEUE": "q"})
    assert conf.task_serializer == "pickle"
    assert conf.task_default_queue == "q"


@pytest.fixture
def config_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = "celeriac_test_settings_module"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            broker_url = "memory://module"
            task_acks_late = True

            class Settings:
                task_default_queue = "from-attr"
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_config_from_a_module_path(conf: Settings, config_module: str) -> None:
    conf.config_from_object(config_module)
    assert conf.broker_url == "memory://module"
    assert conf.task_acks_late is True


def test_config_module_imports_and_helpers_are_not_settings(
    conf: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = "celeriac_test_settings_with_imports"
    (tmp_path / f"{name}.py").write_text(
        textwrap.dedent(
            """
            import os
            from datetime import timedelta

            def route_task(name, args, kwargs, options, task=None, **kw):
                return None

            broker_url = os.environ.get("NO_SUCH_VARIABLE_X", "memory://helpers")
            result_expires = timedelta(hours=1)
            task_routes = (route_task,)
            my_project_flag = 1
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with caplog.at_level(logging.WARNING, logger="celeriac.app.config"):
            conf.config_from_object(name)
    finally:
        sys.modules.pop(name, None)
    assert conf.broker_url == "memory://helpers"
    assert conf.result_expires == dt.timedelta(hours=1)
    assert set(conf.changes()) == {"broker_url", "result_expires", "task_routes", "my_project_flag"}
    assert [r.getMessage() for r in caplog.records] == ["Unknown setting 'my_project_flag'"]


def test_celery_setting_names_follow_celery() -> None:
    assert {name for name, _ in flatten(NAMESPACES)} == CELERY_SETTING_NAMES


def test_a_celery_setting_celeriac_lacks_is_named_as_such(
    conf: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    name = celery_settings_without_effect()[0]
    with caplog.at_level(logging.WARNING, logger="celeriac.app.config"):
        conf[name] = conf.get(name)
    assert [r.getMessage() for r in caplog.records] == [
        f"Setting {name!r} is Celery's; celeriac does not implement it: no effect"
    ]
    assert conf[name] is None  # kept, like any other key


def test_settings_without_effect_are_celerys_minus_the_declared() -> None:
    without = set(celery_settings_without_effect())
    assert without <= CELERY_SETTING_NAMES
    assert not without & {spec.name for spec in SETTINGS}


def test_task_routes_may_be_a_single_router_function(conf: Settings) -> None:
    # Celery accepts one router (function or import path) as well as a list.
    def route_task(name: str, *args: Any, **kwargs: Any) -> None:
        return None

    conf.task_routes = route_task
    assert conf.task_routes is route_task


def test_config_from_a_module_attribute_path(conf: Settings, config_module: str) -> None:
    conf.config_from_object(f"{config_module}:Settings")
    assert conf.task_default_queue == "from-attr"


def test_config_from_a_module_object(conf: Settings) -> None:
    module = types.ModuleType("cfg")
    module.task_default_queue = "mod"  # type: ignore[attr-defined]
    conf.config_from_object(module)
    assert conf.task_default_queue == "mod"


def test_config_from_a_missing_module(conf: Settings) -> None:
    with pytest.raises(ImproperlyConfigured, match="no_such_config_module"):
        conf.config_from_object("no_such_config_module")


def test_django_style_namespace(conf: Settings) -> None:
    django_settings = {
        "CELERY_BROKER_URL": "memory://django",
        "CELERY_TASK_ALWAYS_EAGER": True,
        "CELERY_RESULT_BACKEND": "cache+memory://",
        "DEBUG": True,
        "INSTALLED_APPS": [],
        "task_default_queue": "ignored-without-prefix",
    }
    conf.config_from_object(django_settings, namespace="CELERY")
    assert conf.broker_url == "memory://django"
    assert conf.task_always_eager is True
    assert conf.result_backend == "cache+memory://"
    assert conf.task_default_queue == "celery"
    assert set(conf.changes()) == {"broker_url", "task_always_eager", "result_backend"}


# -- environment and overrides --------------------------------------------------------------


def test_celeriac_env_var_wins_over_config(conf: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    conf.broker_url = "memory://config"
    monkeypatch.setenv("CELERIAC_BROKER_URL", "memory://env")
    assert conf.broker_url == "memory://env"


def test_celery_env_var_wins_over_config(conf: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    conf.broker_url = "memory://config"
    monkeypatch.setenv("CELERY_BROKER_URL", "memory://celery-env")
    assert conf.broker_url == "memory://celery-env"
    monkeypatch.setenv("CELERIAC_BROKER_URL", "memory://celeriac-env")
    assert conf.broker_url == "memory://celeriac-env"


def test_env_var_is_read_when_the_setting_is_read(
    conf: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def backend() -> str | None:
        return conf.result_backend

    assert backend() is None
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "cache+memory://")
    assert backend() == "cache+memory://"
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "")
    assert backend() is None


def test_override_wins_over_env(conf: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELERIAC_BROKER_URL", "memory://env")
    conf.override(broker_url="memory://flag")
    assert conf.broker_url == "memory://flag"
    conf.broker_url = "memory://later-config"
    assert conf.broker_url == "memory://flag"


def test_override_is_type_checked(conf: Settings) -> None:
    with pytest.raises(ImproperlyConfigured):
        conf.override(worker_concurrency="two")


def test_mutating_an_unset_mutable_setting_sticks() -> None:
    conf = Settings()
    conf.beat_schedule["every-second"] = {"task": "t", "schedule": 1.0}
    conf.accept_content.append("pickle")
    assert conf.beat_schedule == {"every-second": {"task": "t", "schedule": 1.0}}
    assert conf.accept_content == ["json", "pickle"]
    assert Settings().accept_content == ["json"]  # other apps keep their own defaults
