"""The local CA is made once and reused; the server certificate names the hosts it serves."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509

from compute_gallery import tls


def _san(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in names.get_values_for_type(x509.DNSName)} | {
        str(v) for v in names.get_values_for_type(x509.IPAddress)
    }


def test_ensure_creates_ca_and_server_certificate(tmp_path: Path) -> None:
    certificates = tls.ensure(tmp_path, "127.0.0.1")

    assert _san(certificates.server_cert) == {"localhost", "127.0.0.1", "::1"}
    assert oct(certificates.server_key.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "ca-key.pem").stat().st_mode & 0o777) == "0o600"
    # The server certificate verifies against the CA, as a client's TLS stack would check it.
    context = ssl.create_default_context(cafile=str(certificates.ca_cert))
    context.load_cert_chain(certificates.server_cert, certificates.server_key)
    store = context.get_ca_certs()
    assert store and store[0]["subject"][-1][0][1] == "compute-gallery local CA"


def test_ensure_reuses_existing_files(tmp_path: Path) -> None:
    first = tls.ensure(tmp_path, "127.0.0.1")
    ca_bytes, server_bytes = first.ca_cert.read_bytes(), first.server_cert.read_bytes()

    second = tls.ensure(tmp_path, "localhost")

    assert second.ca_cert.read_bytes() == ca_bytes
    assert second.server_cert.read_bytes() == server_bytes


def test_ensure_reissues_for_a_new_host_with_the_same_ca(tmp_path: Path) -> None:
    first = tls.ensure(tmp_path, "127.0.0.1")
    ca_bytes = first.ca_cert.read_bytes()

    second = tls.ensure(tmp_path, "gallery.test")

    assert second.ca_cert.read_bytes() == ca_bytes
    assert "gallery.test" in _san(second.server_cert)


def test_ensure_renews_a_certificate_near_expiry(tmp_path: Path) -> None:
    first = tls.ensure(tmp_path, "127.0.0.1")
    cert = x509.load_pem_x509_certificate(first.server_cert.read_bytes())
    # Rewrite the server certificate as one that expires in a day, signed by the same CA.
    from cryptography.hazmat.primitives import hashes, serialization

    ca_key = serialization.load_pem_private_key((tmp_path / "ca-key.pem").read_bytes(), None)
    key = serialization.load_pem_private_key(first.server_key.read_bytes(), None)
    now = dt.datetime.now(dt.UTC)
    short = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    first.server_cert.write_bytes(short.public_bytes(serialization.Encoding.PEM))

    renewed = tls.ensure(tmp_path, "127.0.0.1")

    after = x509.load_pem_x509_certificate(renewed.server_cert.read_bytes())
    assert after.not_valid_after_utc - now > dt.timedelta(days=300)
