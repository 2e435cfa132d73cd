"""Pure rules of proofs: telling a file's kind by its bytes, what a proof documents."""

from __future__ import annotations

from datetime import date

import pytest

from service.domain.proofs import (
    DeclaredRow,
    ProofKind,
    ProofRefused,
    evidence_key,
    missing_proofs,
    require_declared_matches,
    sniff,
)
from tests import proof_files


def test_accepted_formats_are_told_by_their_bytes() -> None:
    assert sniff(proof_files.pdf()[:4096], proof_files.pdf()[-65_558:]) is ProofKind.PDF
    assert sniff(proof_files.png()[:4096], b"") is ProofKind.PNG
    assert sniff(proof_files.jpeg()[:4096], b"") is ProofKind.JPEG


@pytest.mark.parametrize(("head", "code"), [
    (b"PK\x03\x04" + bytes(100), "proof_modifiable_format"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "proof_modifiable_format"),
    ("finess;raison sociale;DUI actifs\n240000372;EHPAD Les Œillets;95\n".encode("cp1252"), "proof_modifiable_format"),
    (b"\xef\xbb\xbffiness;dui\n", "proof_modifiable_format"),
    (b"{\\rtf1\\ansi", "proof_modifiable_format"),
    (b"\x1f\x8b\x08\x00" + bytes(20), "proof_modifiable_format"),
    (bytes(257) + b"ustar" + bytes(300), "proof_modifiable_format"),
    (b"GIF89a" + bytes(30), "proof_unsupported_type"),
    (b"\x00\x00\x00\x18ftypheic" + bytes(30), "proof_unsupported_type"),
    (b"", "proof_empty"),
])
def test_anything_else_is_refused_by_its_bytes(head: bytes, code: str) -> None:
    with pytest.raises(ProofRefused) as refused:
        sniff(head, head[-65_558:])
    assert refused.value.code == code


def test_a_pdf_carrying_a_zip_directory_is_a_polyglot() -> None:
    data = proof_files.polyglot_pdf_zip()
    with pytest.raises(ProofRefused) as refused:
        sniff(data[:4096], data[-65_558:])
    assert refused.value.code == "proof_polyglot"


def test_the_declared_type_must_agree_with_the_content() -> None:
    require_declared_matches(ProofKind.PDF, "rapport.PDF", None)
    require_declared_matches(ProofKind.PNG, "capture", "application/octet-stream")
    with pytest.raises(ProofRefused) as refused:
        require_declared_matches(ProofKind.PNG, "rapport.pdf", None)
    assert refused.value.code == "proof_type_mismatch" and "rapport.pdf" in refused.value.message


def test_a_proof_documents_one_finess_its_figures_and_its_period() -> None:
    counts = {"active_dui": 95, "persons_accompanied": 100}
    row = DeclaredRow(finess="240000372", period_start=date(2024, 1, 1), period_end=date(2024, 3, 31), counts=counts)
    assert row.evidence_key == evidence_key("240000372", dict(reversed(counts.items())), date(2024, 1, 1),
                                            date(2024, 3, 31))
    assert row.evidence_key != evidence_key("240000372", {**counts, "active_dui": 94}, date(2024, 1, 1),
                                            date(2024, 3, 31))
    assert row.evidence_key != evidence_key("240000372", counts, date(2024, 1, 1), date(2024, 4, 30))
    other = DeclaredRow(finess="330000779", period_start=date(2024, 1, 1), period_end=date(2024, 3, 31),
                        counts=counts)
    assert missing_proofs([other, row], [row.evidence_key]) == ["330000779"]
    assert missing_proofs([row], []) == ["240000372"]
