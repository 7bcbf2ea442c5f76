"""Self-signed TLS material for the local test servers.

PostgreSQL and PgBouncer are run with TLS on so that connection strings carrying
``sslmode=require`` are tested for real. The certificate is also marked as a CA,
so a client can pin it with ``sslrootcert=<cert>`` and ``sslmode=verify-full``.

Each certificate gets its own subject (``syncd test <name> <random>``; the
SAN still names localhost and 127.0.0.1): clients that verify against a
bundle of several of them (node-postgres with ``NODE_EXTRA_CA_CERTS`` holding
PostgreSQL's and PgBouncer's) look the issuer up by subject, and with two
certificates of one subject OpenSSL may pick the wrong one and fail.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class TlsFiles:
    """Paths of a PEM certificate and its private key (the key has mode 0600)."""

    cert: Path
    key: Path


def write_self_signed(directory: Path, *, name: str = "server") -> TlsFiles:
    """Write ``<name>.crt`` and ``<name>.key`` for ``localhost``/``127.0.0.1`` into ``directory``.

    The key is created with mode 0600 from the start (PostgreSQL refuses a key
    readable by others); ownership is left to the caller.
    """
    key = ec.generate_private_key(ec.SECP256R1())  # EC: far faster to generate than RSA
    common_name = f"syncd test {name} {secrets.token_hex(4)}"
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    files = TlsFiles(cert=directory / f"{name}.crt", key=directory / f"{name}.key")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(files.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_pem)
    return files
