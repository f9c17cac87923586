"""A local certificate authority and the server certificate it signs.

The CA is created once in the data directory and reused, so clients trust it once
(``REQUESTS_CA_BUNDLE``, ``connection_verify=``). The server certificate is renewed when it
nears expiry or does not name the host the service listens on.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

log = logging.getLogger(__name__)

CA_YEARS = 10
SERVER_DAYS = 397
RENEW_BEFORE_DAYS = 30


@dataclass(frozen=True, slots=True)
class Certificates:
    """Paths of the PEM files: the CA clients trust, and the server's certificate and key."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def ensure(directory: Path, host: str) -> Certificates:
    """Create what is missing (or about to expire) under ``directory``; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert_path, ca_key_path = directory / "ca.pem", directory / "ca-key.pem"
    if not ca_cert_path.exists() or not ca_key_path.exists():
        _write_ca(ca_cert_path, ca_key_path)
        log.info("created a certificate authority at %s", ca_cert_path)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)

    names = _names(host)
    server_cert_path, server_key_path = directory / "server.pem", directory / "server-key.pem"
    if _needs_server_cert(server_cert_path, server_key_path, ca_cert, names):
        _write_server(server_cert_path, server_key_path, ca_cert, ca_key, names)
        log.info("issued a server certificate for %s", ", ".join(sorted(names)))
    return Certificates(ca_cert_path, server_cert_path, server_key_path)


def _names(host: str) -> set[str]:
    names = {"localhost", "127.0.0.1", "::1"}
    if host not in ("", "0.0.0.0", "::"):
        names.add(host)
    return names


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def self_signed(
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, name: x509.Name, years: int
) -> x509.CertificateBuilder:
    """A certificate that names ``key``'s owner as both subject and issuer, valid from now."""
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365 * years))
    )


def _write_ca(cert_path: Path, key_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "compute-gallery"),
            x509.NameAttribute(NameOID.COMMON_NAME, "compute-gallery local CA"),
        ]
    )
    cert = (
        self_signed(key, name, CA_YEARS)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _needs_server_cert(
    cert_path: Path, key_path: Path, ca_cert: x509.Certificate, names: set[str]
) -> bool:
    if not cert_path.exists() or not key_path.exists():
        return True
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    if cert.issuer != ca_cert.subject:
        return True
    if cert.not_valid_after_utc - _now() < dt.timedelta(days=RENEW_BEFORE_DAYS):
        return True
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    present = {str(v) for v in san.get_values_for_type(x509.DNSName)}
    present |= {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    return not names <= present


def _write_server(
    cert_path: Path,
    key_path: Path,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    names: set[str],
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    alternative: list[x509.GeneralName] = []
    for name in sorted(names):
        try:
            alternative.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternative.append(x509.DNSName(name))
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
