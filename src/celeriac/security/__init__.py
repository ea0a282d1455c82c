"""Message signing (Celery's ``celery.security``): the ``auth`` serializer.

``app.setup_security()`` registers it from the settings: Celery's certificate trio
(``security_key``, ``security_certificate``, ``security_cert_store``, needs the
``security`` extra) or celeriac's shared-key HMAC (``security_hmac_key``). Like Celery,
it insists on ``task_serializer='auth'`` and ``accept_content=['auth']``: a message that
is unsigned, tampered with or signed by an unknown key is never decoded; the worker
moves it to the dead-letter queue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celeriac.exceptions import ImproperlyConfigured
from celeriac.security.serialization import (
    HmacSigner,
    SecureSerializer,
    SecurityError,
    register_auth,
)

__all__ = ["SecureSerializer", "SecurityError", "setup_security"]

SETTINGS_MISSING = (
    "Set security_hmac_key, or all of security_key, security_certificate and "
    "security_cert_store, to use the auth serializer"
)
SERIALIZER_MISSING = (
    "Message signing needs task_serializer='auth' and accept_content=['auth']: "
    "there is no point in signing messages if they are not verified"
)


def setup_security(
    conf: Any,
    *,
    key: str | None = None,
    key_password: bytes | str | None = None,
    cert: str | None = None,
    store: str | None = None,
    digest: str | None = None,
    serializer: str = "json",
    hmac_key: bytes | str | None = None,
) -> None:
    """Register the ``auth`` serializer for an app's settings ``conf`` (see module doc)."""
    if conf.task_serializer != "auth" or list(conf.accept_content) != ["auth"]:
        raise ImproperlyConfigured(SERIALIZER_MISSING)
    digest = digest or conf.security_digest
    hmac_key = hmac_key or conf.security_hmac_key
    key = key or conf.security_key
    cert = cert or conf.security_certificate
    store = store or conf.security_cert_store
    if hmac_key:
        shared = HmacSigner(hmac_key.encode() if isinstance(hmac_key, str) else hmac_key, digest)
        register_auth(SecureSerializer(shared, shared, serializer))
        return
    if not (key and cert and store):
        raise ImproperlyConfigured(SETTINGS_MISSING)
    try:
        from celeriac.security.certificate import Certificate, CertStore, PrivateKey
    except ImportError as exc:
        raise ImproperlyConfigured(
            "certificate signing needs the cryptography package: pip install 'celeriac[security]'"
        ) from exc
    password = key_password or conf.security_key_password
    if isinstance(password, str):
        password = password.encode()
    certificate = Certificate(Path(cert).read_bytes())
    signer = PrivateKey(Path(key).read_bytes(), certificate, password, digest)
    register_auth(SecureSerializer(signer, CertStore(store, digest), serializer))
