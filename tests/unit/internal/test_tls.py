"""broker_use_ssl and broker_heartbeat: what the AMQP and Redis clients are given."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from celeriac import Celery
from celeriac._internal.redis_url import connection_kwargs
from celeriac._internal.tls import amqp_context, connect_failure, redis_kwargs
from celeriac._internal.transport_options import broker_options
from celeriac.brokers._amqp_settings import connection_settings
from celeriac.exceptions import ImproperlyConfigured


def test_amqps_url_uses_tls_on_5671_with_celerys_heartbeat() -> None:
    settings = connection_settings("amqps://u:p@rabbit//", {})
    assert settings.url == "amqps://u:p@rabbit:5671/?heartbeat=120&timeout=4"
    assert settings.ssl_context is None  # aiormq's: system CAs, host name checked


def test_use_ssl_true_turns_an_amqp_url_into_tls() -> None:
    assert connection_settings("amqp://rabbit", {"ssl": True}).url.startswith(
        "amqps://guest:guest@rabbit:5671/"
    )
    assert connection_settings("amqp://rabbit:5673", {"ssl": True}).url.startswith(
        "amqps://guest:guest@rabbit:5673/"
    )
    assert connection_settings("amqp://rabbit", {"ssl": False}).url.startswith("amqp://")


def test_use_ssl_dict_becomes_a_verifying_context() -> None:
    settings = connection_settings(
        "amqp://rabbit", {"ssl": {"cert_reqs": ssl.CERT_REQUIRED, "server_hostname": "mq"}}
    )
    context = settings.ssl_context
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert settings.server_hostname == "mq"
    assert settings.url.startswith("amqps://")


def test_cert_reqs_by_name_and_none() -> None:
    assert amqp_context({"cert_reqs": "CERT_OPTIONAL"}).verify_mode == ssl.CERT_OPTIONAL
    context = amqp_context({"cert_reqs": "none"})
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"ssl_cert_reqs": "required"}, "does not take ssl_cert_reqs"),
        ({"cert_reqs": "always"}, "cert_reqs must be CERT_REQUIRED"),
        ({"keyfile": "/k.pem"}, "keyfile needs certfile"),
        ({"ca_certs": "/does/not/exist.pem"}, "cannot load the TLS files"),
    ],
)
def test_bad_amqp_tls_options_get_one_clear_line(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message) as caught:
        connection_settings("amqp://rabbit", {"ssl": options})
    assert "\n" not in str(caught.value)


def test_use_ssl_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="True, False or a dict, not str"):
        connection_settings("amqp://rabbit", {"ssl": "yes"})


def test_heartbeat_from_options_url_query_wins() -> None:
    assert "heartbeat=30" in connection_settings("amqp://r", {"heartbeat": 30}).url
    assert "heartbeat=0" in connection_settings("amqp://r?heartbeat=0", {"heartbeat": 30}).url
    with pytest.raises(ImproperlyConfigured, match="must not be negative"):
        connection_settings("amqp://r", {"heartbeat": -1})


def test_app_passes_the_settings_as_kombu_does() -> None:
    app = Celery("t", broker="amqp://r", set_as_current=False)
    app.conf.broker_use_ssl = {"cert_reqs": "CERT_NONE"}
    app.conf.broker_heartbeat = 10
    assert broker_options({}, use_ssl=True, heartbeat=120) == {"ssl": True, "heartbeat": 120}
    assert broker_options({"heartbeat": 5}, use_ssl=False, heartbeat=120)["heartbeat"] == 5
    broker: Any = app.connection()
    assert "heartbeat=10" in broker.settings.url
    assert broker.settings.ssl_context.verify_mode == ssl.CERT_NONE
    with pytest.raises(ImproperlyConfigured, match="broker_use_ssl must be bool or dict"):
        app.conf.broker_use_ssl = "yes"


def test_redis_use_ssl_turns_tls_on_and_the_url_query_wins() -> None:
    assert connection_kwargs("redis://h/0", True)["ssl_cert_reqs"] == ssl.CERT_REQUIRED
    kwargs = connection_kwargs("redis://h/0", {"ssl_cert_reqs": "none", "ssl_ca_certs": "/ca"})
    assert kwargs["ssl"] is True and kwargs["ssl_cert_reqs"] == ssl.CERT_NONE
    assert kwargs["ssl_ca_certs"] == "/ca"
    both = connection_kwargs("rediss://h/0?ssl_cert_reqs=optional", {"ssl_cert_reqs": "none"})
    assert both["ssl_cert_reqs"] == ssl.CERT_OPTIONAL
    assert "ssl" not in connection_kwargs("redis://h/0", False)
    assert redis_kwargs({}) == {}


def test_redis_use_ssl_refuses_amqp_keys_and_unix_sockets() -> None:
    with pytest.raises(ImproperlyConfigured, match="does not take ca_certs"):
        connection_kwargs("redis://h/0", {"ca_certs": "/ca"})
    with pytest.raises(ImproperlyConfigured, match="Unix socket"):
        connection_kwargs("unix:///tmp/redis.sock", True)


def test_connect_failures_are_named() -> None:
    verify = ssl.SSLCertVerificationError(1, "certificate verify failed")
    verify.verify_message = "self-signed certificate"
    wrapped = ConnectionError("transport")
    wrapped.__cause__ = verify
    assert connect_failure(wrapped, tls=True, how_to_use_tls="amqps://") == (
        "TLS certificate verification failed: self-signed certificate"
    )
    reset = ConnectionError("reset")
    reset.__cause__ = ConnectionResetError(104, "Connection reset by peer")
    assert "use amqps://" in str(connect_failure(reset, tls=False, how_to_use_tls="amqps://"))
    assert connect_failure(reset, tls=True, how_to_use_tls="amqps://") is None
    assert connect_failure(TimeoutError(), tls=False, how_to_use_tls="x") is None
