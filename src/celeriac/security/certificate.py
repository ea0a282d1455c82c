"""Celery's certificate-based signing: an RSA private key, X.509 certificates, a store.

Needs the ``cryptography`` package (``pip install celeriac[security]``). Signatures
are RSA-PSS (MGF1, maximum salt length) over the serialized body, as Celery makes
them; a certificate is named ``"<issuer> <serial number>"``.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from celeriac.security.serialization import SecurityError

__all__ = ["CertStore", "Certificate", "PrivateKey"]


def _digest(name: str) -> hashes.HashAlgorithm:
    algorithm = getattr(hashes, name.upper(), None)
    if algorithm is None:
        raise SecurityError(f"unknown digest {name!r}")
    return algorithm()  # type: ignore[no-any-return]


def _pss(digest: hashes.HashAlgorithm) -> padding.PSS:
    return padding.PSS(mgf=padding.MGF1(digest), salt_length=padding.PSS.MAX_LENGTH)


class Certificate:
    """An X.509 certificate holding an RSA public key."""

    def __init__(self, pem: bytes) -> None:
        try:
            self.cert = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise SecurityError(f"invalid certificate: {exc}") from exc
        if not isinstance(self.cert.public_key(), rsa.RSAPublicKey):
            raise SecurityError("only RSA certificates are supported")

    @property
    def cert_id(self) -> str:
        """``"<issuer> <serial>"``, as Celery's ``Certificate.get_id``."""
        issuer = " ".join(str(attribute.value) for attribute in self.cert.issuer)
        return f"{issuer} {self.cert.serial_number}"

    def verify(self, data: bytes, signature: bytes, digest: str) -> None:
        """Raise :class:`SecurityError` unless ``signature`` is this key's, over ``data``."""
        if dt.datetime.now(dt.timezone.utc) >= self.cert.not_valid_after_utc:
            raise SecurityError(f"expired certificate: {self.cert_id!r}")
        key: Any = self.cert.public_key()
        algorithm = _digest(digest)
        try:
            key.verify(signature, data, _pss(algorithm), algorithm)
        except InvalidSignature as exc:
            raise SecurityError("bad signature") from exc


class PrivateKey:
    """An RSA private key, with the certificate that names it."""

    def __init__(self, pem: bytes, cert: Certificate, password: bytes | None, digest: str) -> None:
        try:
            key = serialization.load_pem_private_key(pem, password=password)
        except (ValueError, TypeError) as exc:
            raise SecurityError(f"invalid private key: {exc}") from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SecurityError("only RSA keys are supported")
        self.key = key
        self.cert = cert
        self.digest = digest

    @property
    def signer_id(self) -> str:
        """The certificate's id."""
        return self.cert.cert_id

    def sign(self, data: bytes) -> bytes:
        """RSA-PSS signature of ``data``."""
        algorithm = _digest(self.digest)
        return self.key.sign(data, _pss(algorithm), algorithm)


class CertStore:
    """The certificates whose signatures are accepted, from a file, directory or glob."""

    def __init__(self, path: str, digest: str) -> None:
        self.digest = digest
        self.certs: dict[str, Certificate] = {}
        pattern = os.path.join(path, "*") if os.path.isdir(path) else path
        for name in sorted(glob.glob(pattern)):
            with open(name, "rb") as file:
                cert = Certificate(file.read())
            if cert.cert_id in self.certs:
                raise SecurityError(f"duplicate certificate: {cert.cert_id!r}")
            self.certs[cert.cert_id] = cert

    def verify(self, signer_id: str, data: bytes, signature: bytes) -> None:
        """Raise :class:`SecurityError` unless a stored certificate made ``signature``."""
        cert = self.certs.get(signer_id)
        if cert is None:
            raise SecurityError(f"unknown certificate: {signer_id!r}")
        cert.verify(data, signature, self.digest)
