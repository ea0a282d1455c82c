r"""The ``auth`` serializer: signed task bodies, verified before a byte is decoded.

The wire format is Celery's (``celery/security/serialization.py``), so signed messages
pass between celeriac and Celery in both directions::

    base64( base64(signer) SEP base64(signature) SEP content_type SEP encoding SEP body )

with ``SEP = b"\\x00\\x01"``. What is signed is the inner serializer's output, so the
receiver verifies the signature first and only then decodes. Two kinds of signer share
the format: an RSA key and X.509 certificate (Celery's ``security_key`` /
``security_certificate`` / ``security_cert_store``), and celeriac's simpler shared-key
HMAC (``security_hmac_key``), whose signer id is ``hmac-<digest>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any, Protocol

from celeriac import serialization
from celeriac.exceptions import SecurityError

__all__ = [
    "HmacSigner",
    "SecureSerializer",
    "SecurityError",
    "Signer",
    "Verifier",
    "register_auth",
]

SEPARATOR = b"\x00\x01"
CONTENT_TYPE = "application/data"  # as Celery registers ``auth``


class Signer(Protocol):
    """Signs bytes; ``signer_id`` names the key for the receiver's store."""

    @property
    def signer_id(self) -> str:
        """The id the receiver looks the verifying key up by."""

    def sign(self, data: bytes) -> bytes:
        """The signature of ``data``."""


class Verifier(Protocol):
    """Verifies a signature made by the signer with ``signer_id``; raises if it is bad."""

    def verify(self, signer_id: str, data: bytes, signature: bytes) -> None:
        """Raise :class:`SecurityError` unless ``signature`` is valid."""


@dataclass(frozen=True)
class HmacSigner:
    """HMAC with a shared key: both a :class:`Signer` and a :class:`Verifier`."""

    key: bytes
    digest: str = "sha256"

    @property
    def signer_id(self) -> str:
        """``hmac-<digest>``."""
        return f"hmac-{self.digest}"

    def sign(self, data: bytes) -> bytes:
        """The HMAC of ``data``."""
        return hmac.new(self.key, data, getattr(hashlib, self.digest)).digest()

    def verify(self, signer_id: str, data: bytes, signature: bytes) -> None:
        """Raise :class:`SecurityError` unless ``signature`` is this key's HMAC of ``data``."""
        if signer_id != self.signer_id:
            raise SecurityError(f"unknown signer {signer_id!r}")
        if not hmac.compare_digest(self.sign(data), signature):
            raise SecurityError("bad signature")


@dataclass(frozen=True)
class SecureSerializer:
    """Signs what ``serializer`` produces; verifies before decoding it."""

    signer: Signer | None
    verifier: Verifier
    serializer: str = "json"

    def encode(self, value: Any) -> bytes:
        """Serialize ``value`` and sign the result (Celery's ``auth`` format)."""
        if self.signer is None:
            raise SecurityError("cannot sign: no key configured")
        content_type, encoding, body = serialization.dumps(value, self.serializer)
        fields = [
            base64.b64encode(self.signer.signer_id.encode()),
            base64.b64encode(self.signer.sign(body)),
            content_type.encode(),
            encoding.encode(),
            body,
        ]
        return base64.b64encode(SEPARATOR.join(fields))

    def decode(self, data: bytes) -> Any:
        """Verify the signature, then (only then) decode the inner body."""
        try:
            raw = base64.b64decode(data, validate=True)
            signer, signature, content_type, encoding, body = raw.split(SEPARATOR, 4)
            signer_id = base64.b64decode(signer, validate=True).decode()
            signature = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SecurityError(f"not a signed message: {exc}") from exc
        self.verifier.verify(signer_id, body, signature)
        return serialization.loads(body, content_type.decode(), encoding.decode())


def register_auth(secure: SecureSerializer) -> None:
    """Register ``secure`` as the ``auth`` serializer (content type ``application/data``)."""
    serialization.register(
        serialization.Serializer("auth", CONTENT_TYPE, "utf-8", secure.encode, secure.decode)
    )
