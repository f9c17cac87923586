"""The issuer's signing key: an RSA key and a self-signed certificate, made once and kept.

Like the local CA, the key lives in the data directory, so tokens stay valid across
restarts and an operator can sign test tokens with it. Its JWK carries the certificate
(``x5c``) and its SHA-1 thumbprint as ``kid`` and ``x5t``, as Entra ID's keys do.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from ..tls import _write_private as write_private
from ..tls import self_signed

log = logging.getLogger(__name__)

KEY_FILE = "signing-key.pem"
CERT_FILE = "signing-cert.pem"
_YEARS = 10


@dataclass(frozen=True, slots=True)
class SigningKey:
    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def kid(self) -> str:
        return _b64url(hashlib.sha1(self._der).digest())

    @property
    def _der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def jwk(self) -> dict[str, Any]:
        """The public half, as a JSON Web Key in Entra ID's shape."""
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "kid": self.kid,
            "x5t": self.kid,
            "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
            "x5c": [base64.b64encode(self._der).decode()],
        }


def ensure(directory: Path) -> SigningKey:
    """The key under ``directory``, created on first use."""
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / KEY_FILE, directory / CERT_FILE
    if not key_path.exists() or not cert_path.exists():
        _create(key_path, cert_path)
        log.info("created a token signing key at %s", key_path)
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return SigningKey(key, x509.load_pem_x509_certificate(cert_path.read_bytes()))


def _create(key_path: Path, cert_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "compute-gallery token issuer")])
    certificate = self_signed(key, name, _YEARS).sign(key, hashes.SHA256())
    write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
