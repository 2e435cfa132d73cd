"""Proofs of usage (preuves d'usage): what a file is, by its bytes, and what it proves.

A proof is a non-modifiable report (PDF) or screenshot (PNG, JPEG). Spreadsheets, CSV,
word-processor files and archives are modifiable and never a proof (guide, "preuves"). The
kind of a file is told from its first and last bytes, never from its name; opening it with a
real parser is left to the service layer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from service.domain.errors import Issue

#: Bytes of the start and of the end of a file the sniffer needs (a ZIP directory sits in the
#: last 64 KiB + 22 bytes).
HEAD_BYTES = 4096
TAIL_BYTES = 65_536 + 22


class ProofKind(StrEnum):
    PDF = "pdf"
    PNG = "png"
    JPEG = "jpeg"

    @property
    def media_type(self) -> str:
        return {"pdf": "application/pdf", "png": "image/png", "jpeg": "image/jpeg"}[self.value]


_ACCEPTED_SIGNATURES = (
    (b"%PDF-", ProofKind.PDF),
    (b"\x89PNG\r\n\x1a\n", ProofKind.PNG),
    (b"\xff\xd8\xff", ProofKind.JPEG),
)

#: Modifiable documents and archives, by their leading bytes, with the name given to the user.
_MODIFIABLE_SIGNATURES = (
    (b"PK\x03\x04", "une archive ZIP (ou un document bureautique : xlsx, docx, ods, odt…)"),
    (b"PK\x05\x06", "une archive ZIP vide"),
    (b"PK\x07\x08", "une archive ZIP"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "un document Office ancien format (xls, doc, ppt)"),
    (b"{\\rtf", "un document RTF"),
    (b"7z\xbc\xaf\x27\x1c", "une archive 7-Zip"),
    (b"Rar!\x1a\x07", "une archive RAR"),
    (b"\x1f\x8b", "une archive gzip"),
    (b"BZh", "une archive bzip2"),
    (b"\xfd7zXZ\x00", "une archive xz"),
)

_EXTENSIONS = {
    ".pdf": ProofKind.PDF, ".png": ProofKind.PNG, ".jpg": ProofKind.JPEG, ".jpeg": ProofKind.JPEG,
    ".jpe": ProofKind.JPEG,
}
_MEDIA_TYPES = {
    "application/pdf": ProofKind.PDF, "image/png": ProofKind.PNG, "image/jpeg": ProofKind.JPEG,
    "image/jpg": ProofKind.JPEG, "image/pjpeg": ProofKind.JPEG,
}
_FORMATS = "PDF, PNG ou JPEG"


class ProofRefused(Exception):
    """A file that cannot be a proof; ``status`` is the HTTP status that fits."""

    def __init__(self, code: str, message: str, *, status: int = 415) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def sniff(head: bytes, tail: bytes) -> ProofKind:
    """The kind of a file from its first ``HEAD_BYTES`` and last ``TAIL_BYTES`` bytes.

    Raises ``ProofRefused`` for a modifiable format, an unknown one, or a file that is at the
    same time an accepted format and a ZIP archive (a polyglot: what a reader shows may not be
    what an archive tool extracts).
    """
    if not head:
        raise ProofRefused("proof_empty", "Le fichier est vide.", status=422)
    kind = next((k for signature, k in _ACCEPTED_SIGNATURES if head.startswith(signature)), None)
    if kind is None:
        modifiable = next((name for signature, name in _MODIFIABLE_SIGNATURES if head.startswith(signature)), None)
        if modifiable is None and _is_tar(head):
            modifiable = "une archive tar"
        if modifiable is None and _looks_like_text(head):
            modifiable = "un fichier texte (CSV, HTML, XML…)"
        if modifiable is not None:
            raise ProofRefused(
                "proof_modifiable_format",
                f"Le fichier est {modifiable}, un format modifiable : ce n'est pas une preuve d'usage. "
                f"Déposez le rapport non modifiable ({_FORMATS}), par exemple l'export PDF signé "
                "ou une capture d'écran.",
            )
        raise ProofRefused("proof_unsupported_type",
                           f"Format de fichier non reconnu : seuls les formats {_FORMATS} sont acceptés.")
    if b"PK\x05\x06" in tail or b"PK\x03\x04" in head[len(b"%PDF-"):]:
        raise ProofRefused(
            "proof_polyglot",
            f"Le fichier se présente comme un {kind.name} mais contient aussi une archive ZIP : "
            "déposez le document d'origine, sans pièce jointe ni contenu ajouté.", status=422,
        )
    return kind


def _is_tar(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar"


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    sample = head.removeprefix(b"\xef\xbb\xbf")
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # not just a character cut at the end of the sample
            text = sample.decode("latin-1")
        else:
            text = sample[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return bool(text) and printable / len(text) > 0.95


def declared_kind(filename: str | None, media_type: str | None) -> tuple[ProofKind | None, str | None]:
    """What the client says the file is (by its media type, else its name), and how it said it."""
    if media_type:
        kind = _MEDIA_TYPES.get(media_type.split(";")[0].strip().lower())
        if kind is not None:
            return kind, f"type « {media_type} »"
    if filename and "." in filename:
        extension = filename[filename.rfind("."):].lower()
        kind = _EXTENSIONS.get(extension)
        if kind is not None:
            return kind, f"nom « {filename} »"
    return None, None


def require_declared_matches(found: ProofKind, filename: str | None, media_type: str | None) -> None:
    """A file announced as one accepted format and made of another is refused."""
    declared, how = declared_kind(filename, media_type)
    if declared is not None and declared is not found:
        raise ProofRefused(
            "proof_type_mismatch",
            f"Le fichier est annoncé comme {declared.name} ({how}) mais son contenu est un {found.name} : "
            "vérifiez le fichier déposé.", status=422,
        )


def evidence_key(finess: str, counts: Mapping[str, int | None], period_start: date, period_end: date) -> str:
    """Identity of what a proof documents: one FINESS, its figures and its period.

    A proof stays attached to every later version whose row for that FINESS has the same key;
    when a figure or the period changes, that version needs a new proof.
    """
    data = [finess, sorted(counts.items()), period_start.isoformat(), period_end.isoformat()]
    return hashlib.sha256(json.dumps(data, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class ProofMetadata:
    finess: str
    measured_on: date
    period_start: date
    period_end: date
    signed_by: str


@dataclass(frozen=True)
class DeclaredRow:
    """What a version declares for one FINESS, as far as proofs are concerned."""

    finess: str
    period_start: date
    period_end: date
    counts: Mapping[str, int | None]

    @property
    def evidence_key(self) -> str:
        return evidence_key(self.finess, self.counts, self.period_start, self.period_end)


def check_metadata(rows: Mapping[str, DeclaredRow], *, today: date, finess: str | None, measured_on: date | None,
                   period_start: date | None, period_end: date | None, signed_by: str | None) -> list[Issue]:
    """Every rule linking a proof to the version it documents, all at once.

    A value given as None was missing or malformed (already reported): the rules needing it
    are skipped, the others still run.
    """
    issues: list[Issue] = []
    row = rows.get(finess) if finess else None
    if finess and row is None:
        issues.append(Issue(code="proof_finess_not_in_submission", field="finess",
                            message=f"Le FINESS {finess} ne figure pas dans cette version : une preuve documente "
                                    f"un établissement déclaré ({', '.join(sorted(rows))})."))
    if row is not None and period_start and period_end \
            and (period_start, period_end) != (row.period_start, row.period_end):
        issues.append(Issue(
            code="proof_period_mismatch", field="period_start",
            message=f"La période de la preuve ({_fr(period_start)} – {_fr(period_end)}) diffère "
                    f"de la période déclarée pour le FINESS {finess} "
                    f"({_fr(row.period_start)} – {_fr(row.period_end)}) : "
                    "la preuve doit porter sur la même période que les chiffres déclarés."))
    if period_start and period_end and period_end < period_start:
        issues.append(Issue(code="proof_period_inverted", field="period_end",
                            message="La fin de la période précède son début."))
    if measured_on and measured_on > today:
        issues.append(Issue(code="proof_measured_on_future", field="measured_on",
                            message=f"La date de mesure ({_fr(measured_on)}) est dans le futur."))
    elif measured_on and period_start and measured_on < period_start:
        issues.append(Issue(code="proof_measured_on_before_period", field="measured_on",
                            message=f"La date de mesure ({_fr(measured_on)}) précède le début de la période "
                                    f"mesurée ({_fr(period_start)})."))
    if signed_by is not None and not 2 <= len(signed_by.strip()) <= 200:
        issues.append(Issue(code="proof_signatory_invalid", field="signed_by",
                            message="Indiquez le nom et la fonction du signataire qui engage le porteur "
                                    "(2 à 200 caractères)."))
    return issues


def missing_proofs(rows: Iterable[DeclaredRow], proven_keys: Iterable[str]) -> list[str]:
    """FINESS of ``rows`` that no proof covers (same FINESS, figures and period), sorted."""
    proven = set(proven_keys)
    return sorted(row.finess for row in rows if row.evidence_key not in proven)


def _fr(day: date) -> str:
    return day.strftime("%d/%m/%Y")
