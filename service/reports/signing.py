"""PAdES signature of the reports with the service's key, and their verification (pyHanko).

The key and certificate come from ``SERVICE_SIGNING_KEY``/``SERVICE_SIGNING_CERT`` (PEM); when
neither is set, a development key (EC P-256) and a self-signed certificate are generated on
first start under ``var/signing/`` and kept. The key is parsed once: signing then costs a few
milliseconds (an RSA key re-parsed on every signature costs about 140 ms).
"""

from __future__ import annotations

import functools
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from service.kit.keyfiles import create_once
from service.kit.settings import VAR_DIR, Settings

DEV_DIR = VAR_DIR / "signing"
FIELD = "SignatureService"
#: Bytes reserved for the CMS signature (an EC signature with its certificate takes about 1 KB;
#: a 4096-bit RSA chain of three certificates about 6 KB).
SIGNATURE_BYTES = 16_384
_CERTIFIES = re.compile(r"version ([0-9a-f-]{36}) · empreinte ([0-9a-f]{64})")


class SigningKeyError(Exception):
    """The configured key or certificate cannot be used."""


@dataclass(frozen=True)
class Verification:
    signed: bool
    intact: bool
    valid: bool
    trusted: bool
    whole_file: bool
    signer: str | None
    signed_at: datetime | None
    submission_id: str | None
    data_digest: str | None

    @property
    def ok(self) -> bool:
        return self.signed and self.intact and self.valid and self.trusted and self.whole_file


def _dev_pair(directory: Path) -> tuple[Path, Path]:
    """The development key and certificate, generated once and kept in one file readable by its
    owner only; processes starting together agree on the first one written (atomic link)."""
    bundle = directory / "dev-signing.pem"
    if bundle.exists():
        return bundle, bundle
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Service des indicateurs d'usage (développement)"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ESMS Numérique")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_cert_sign=True,
                                         crl_sign=True, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False),
                           critical=True)
            .sign(key, hashes.SHA256()))
    create_once(bundle, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    return bundle, bundle


def _chain_after_first(path: Path) -> list[asn1_x509.Certificate]:
    """The certificates that follow the signer's own in a PEM file (its chain), if any."""
    certs = x509.load_pem_x509_certificates(path.read_bytes())
    return [asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in certs[1:]]


def _asn1_cert(path: Path) -> asn1_x509.Certificate:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


class ReportSigner:
    def __init__(self, key_path: Path, cert_path: Path, previous: tuple[Path, ...] = ()) -> None:
        self._paths = (key_path, cert_path, tuple(previous))
        try:
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except (OSError, ValueError, TypeError) as exc:
            raise SigningKeyError(f"clé ou certificat de signature illisible ({exc})") from exc
        der_key = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        self.certificate = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
        self.certificate_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        try:
            retired = [_asn1_cert(p) for p in previous]
        except (OSError, ValueError) as exc:
            raise SigningKeyError(f"certificat de signature précédent illisible ({exc})") from exc
        #: The current certificate and those of retired keys: reports signed before a key
        #: rotation still verify.
        self.trust_roots = [self.certificate, *retired]
        # The signer's certificate goes into the signature once (pyHanko adds it itself); the
        # registry holds only the chain above it, when the certificate file carries one.
        self._signer = signers.SimpleSigner(
            signing_cert=self.certificate, signing_key=asn1_keys.PrivateKeyInfo.load(der_key),
            cert_registry=SimpleCertificateStore.from_certs(_chain_after_first(cert_path)))

    def __reduce__(self) -> tuple[Any, tuple[Path, Path, tuple[Path, ...]]]:
        """Sent to another process (``Offload``) as the files it is made of, read there once."""
        return _signer_at, self._paths

    @classmethod
    def from_settings(cls, settings: Settings) -> ReportSigner:
        previous = tuple(settings.signing_previous_certs)
        if settings.signing_key and settings.signing_cert:
            return cls(settings.signing_key, settings.signing_cert, previous)
        if settings.signing_key or settings.signing_cert:
            raise SigningKeyError("SERVICE_SIGNING_KEY et SERVICE_SIGNING_CERT se donnent ensemble")
        return cls(*_dev_pair(settings.signing_dir), previous)

    def sign(self, pdf: bytes, *, submission_id: str, data_digest: str, reason: str) -> bytes:
        """Sign ``pdf`` (PAdES B-B); the signature's reason names the version and its data digest."""
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        meta = signers.PdfSignatureMetadata(
            field_name=FIELD, md_algorithm="sha256", subfilter=SigSeedSubFilter.PADES,
            reason=f"{reason} — version {submission_id} · empreinte {data_digest}",
            location="Service des indicateurs d'usage ESMS Numérique")
        # Room reserved for the signature up front: otherwise pyHanko signs twice, once to measure it.
        return signers.sign_pdf(writer, meta, signer=self._signer,
                                bytes_reserved=SIGNATURE_BYTES).getvalue()

    def verify(self, pdf: bytes) -> Verification:
        """Whether ``pdf`` carries an intact, valid signature of this service covering the whole file."""
        unsigned = Verification(False, False, False, False, False, None, None, None, None)
        try:
            reader = PdfFileReader(io.BytesIO(pdf), strict=False)
            signatures = reader.embedded_signatures
        except Exception:  # not a PDF pyHanko can read: no signature to speak of
            return unsigned
        ours = [s for s in signatures if s.field_name == FIELD]
        if not ours:
            return unsigned
        embedded = ours[0]
        try:
            status = validate_pdf_signature(embedded, ValidationContext(trust_roots=self.trust_roots))
        except Exception:  # a signature too damaged to be evaluated
            return Verification(True, False, False, False, False, None, None, None, None)
        reason = str(embedded.sig_object.get("/Reason", ""))
        certified = _CERTIFIES.search(reason)
        whole = embedded.coverage is not None and embedded.coverage.name == "ENTIRE_FILE"
        signer_name = status.signing_cert.subject.human_friendly if status.signing_cert else None
        # pyHanko's ``valid`` speaks of the signature value over the signed attributes alone: it
        # stays true when a signed byte of the document changed. Ours means the signature holds
        # for the document as it is: intact and cryptographically valid.
        return Verification(
            signed=True, intact=bool(status.intact), valid=bool(status.intact and status.valid),
            trusted=bool(status.trusted),
            whole_file=whole, signer=signer_name, signed_at=embedded.self_reported_timestamp,
            submission_id=certified.group(1) if certified else None,
            data_digest=certified.group(2) if certified else None)


@functools.lru_cache(maxsize=4)
def _signer_at(key_path: Path, cert_path: Path, previous: tuple[Path, ...]) -> ReportSigner:
    return ReportSigner(key_path, cert_path, previous)
