"""The auth serializer: HMAC and certificate signing, and Celery's wire format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from celeriac import Celery, serialization
from celeriac.exceptions import DecodeError, ImproperlyConfigured
from celeriac.security.serialization import HmacSigner, SecureSerializer, SecurityError
from tests.reliability._certs import certificate


@pytest.fixture(autouse=True)
def _restore_serializers() -> Any:
    """setup_security registers ``auth`` process-wide (as Celery): undo it after each test."""
    saved = dict(serialization._BY_NAME), dict(serialization._BY_CONTENT_TYPE)
    yield
    for table, copy in zip(
        (serialization._BY_NAME, serialization._BY_CONTENT_TYPE), saved, strict=True
    ):
        table.clear()
        table.update(copy)


VALUE = {"args": [1, "two"], "kwargs": {"x": [3.5, None]}}


def _hmac(key: bytes = b"k" * 32) -> SecureSerializer:
    signer = HmacSigner(key)
    return SecureSerializer(signer, signer)


def test_hmac_round_trip() -> None:
    secure = _hmac()
    assert secure.decode(secure.encode(VALUE)) == VALUE


def test_hmac_other_key_is_refused() -> None:
    with pytest.raises(SecurityError, match="bad signature"):
        _hmac(b"other").decode(_hmac().encode(VALUE))


@pytest.mark.parametrize("position", [0, 10, -1])
def test_tampered_message_is_refused(position: int) -> None:
    import base64

    secure = _hmac()
    raw = bytearray(base64.b64decode(secure.encode(VALUE)))
    raw[position] ^= 0x01
    with pytest.raises(SecurityError):
        secure.decode(base64.b64encode(bytes(raw)))


@pytest.mark.parametrize("data", [b"", b"{}", b"not base64!", b"aGVsbG8="])
def test_unsigned_data_is_refused(data: bytes) -> None:
    with pytest.raises(SecurityError):
        _hmac().decode(data)


def _app(**conf: Any) -> Celery:
    app = Celery("sec", broker="memory://", set_as_current=False)
    app.conf.update(task_serializer="auth", accept_content=["auth"], **conf)
    return app


def test_setup_security_needs_auth_only() -> None:
    app = Celery("sec", broker="memory://", set_as_current=False)
    with pytest.raises(ImproperlyConfigured, match="accept_content"):
        app.setup_security(hmac_key="k")
    with pytest.raises(ImproperlyConfigured, match="security_hmac_key"):
        _app().setup_security()


def test_setup_security_registers_auth_refusing_unsigned() -> None:
    _app(security_hmac_key="shared").setup_security()
    accept = serialization.resolve_accept(["auth"])
    content_type, encoding, body = serialization.dumps(VALUE, "auth")
    assert content_type == "application/data"
    assert serialization.loads(body, content_type, encoding, accept) == VALUE
    with pytest.raises(DecodeError, match="not a signed message"):
        serialization.loads(b'{"a": 1}', content_type, encoding, accept)


# -- certificates (Celery's security_key / security_certificate / security_cert_store)


@pytest.fixture
def certs(tmp_path: Path) -> dict[str, Path]:
    pytest.importorskip("cryptography")
    store = tmp_path / "store"
    store.mkdir()
    key, cert = certificate(tmp_path, "signer")
    (store / "signer.pem").write_bytes(cert.read_bytes())
    rogue_key, rogue_cert = certificate(tmp_path, "rogue")
    return {"key": key, "cert": cert, "store": store, "rogue_key": rogue_key, "rogue": rogue_cert}


def _cert_serializer(key: Path, cert: Path, store: Path) -> SecureSerializer:
    from celeriac.security.certificate import Certificate, CertStore, PrivateKey

    signer = PrivateKey(key.read_bytes(), Certificate(cert.read_bytes()), None, "sha256")
    return SecureSerializer(signer, CertStore(str(store), "sha256"))


def test_certificate_round_trip_and_unknown_signer(certs: dict[str, Path]) -> None:
    secure = _cert_serializer(certs["key"], certs["cert"], certs["store"])
    assert secure.decode(secure.encode(VALUE)) == VALUE
    rogue = _cert_serializer(certs["rogue_key"], certs["rogue"], certs["store"])
    with pytest.raises(SecurityError, match="unknown certificate"):
        secure.decode(rogue.encode(VALUE))


def test_celery_verifies_ours_and_we_verify_celerys(certs: dict[str, Path]) -> None:
    from celery.security.certificate import (  # type: ignore[import-untyped]
        Certificate,
        FSCertStore,
    )
    from celery.security.key import PrivateKey  # type: ignore[import-untyped]
    from celery.security.serialization import (  # type: ignore[import-untyped]
        SecureSerializer as CelerySerializer,
    )

    theirs = CelerySerializer(
        PrivateKey(certs["key"].read_text()),
        Certificate(certs["cert"].read_text()),
        FSCertStore(str(certs["store"])),
        "sha256",
    )
    ours = _cert_serializer(certs["key"], certs["cert"], certs["store"])
    assert theirs.deserialize(ours.encode(VALUE)) == VALUE
    assert ours.decode(theirs.serialize(VALUE).encode()) == VALUE


def test_setup_security_with_certificates(certs: dict[str, Path]) -> None:
    app = _app(
        security_key=str(certs["key"]),
        security_certificate=str(certs["cert"]),
        security_cert_store=str(certs["store"] / "*.pem"),
    )
    app.setup_security()
    _, _, body = serialization.dumps(VALUE, "auth")
    assert serialization.loads(body, "application/data", "utf-8") == VALUE
