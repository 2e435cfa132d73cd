"""Use cases of proofs of usage: where an upload may go, what it must say, storing and reading it.

Load rows, call the domain rules, persist; no HTTP and no commit here.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service import actors
from service.audit import trail as audit
from service.control import use_cases as control
from service.domain import access, proofs
from service.domain.access import Principal
from service.domain.errors import InvalidIdentifier, Issue, NotFound, ValidationFailed
from service.domain.identifiers import Finess
from service.domain.proofs import DeclaredRow, ProofKind, ProofMetadata, ProofRefused
from service.funding_requests.use_cases import REQUEST_ROW_BY_ID, declared_row, declared_rows, lifecycle_state
from service.http.uploads import StagedFile
from service.models import FundingRequest, Proof, ProofRequest, Submission, SubmissionRow, iso_z, utcnow
from service.proofs.content import inspect
from service.scope import load_submission, scope_of
from service.webhooks import outbox

METADATA_FIELDS = ("finess", "measured_on", "period_start", "period_end", "signed_by")


@dataclass(frozen=True)
class UploadTarget:
    """The version a proof is uploaded for, as checked before its body is read."""

    submission_id: str
    request_id: int
    galis_ref: str
    milestone: str
    rows: Mapping[str, DeclaredRow]


def proof_not_found(proof_id: str) -> NotFound:
    return NotFound(f"Preuve {proof_id} introuvable.", code="proof_not_found")


def upload_target(session: Session, principal: Principal, submission_id: str) -> UploadTarget:
    """Where a proof may go: a version in the caller's scope (404), a role that may upload (403),
    a request still open (409). Checked before the body is read."""
    sub, req = load_submission(session, principal, submission_id)
    access.require_may_submit(principal)
    lifecycle_state(req).require_not_closed()
    assert req.id is not None
    return UploadTarget(submission_id=sub.id, request_id=req.id, galis_ref=req.galis_ref, milestone=sub.milestone,
                        rows=declared_rows(session, sub.id))


def parse_metadata(fields: Mapping[str, str], target: UploadTarget, *, today: date) -> ProofMetadata:
    """The form fields of an upload, every problem reported at once."""
    issues: list[Issue] = []
    for name in METADATA_FIELDS:
        if not fields.get(name):
            issues.append(Issue(code="field_required", field=name, message=f"Le champ « {name} » est obligatoire."))
    finess = fields.get("finess", "")
    if finess:
        try:
            finess = Finess.parse(finess).value
        except InvalidIdentifier as exc:
            issues.append(Issue(code=exc.code or "invalid_finess", field="finess", message=str(exc)))
            finess = ""
    days: dict[str, date] = {}
    for name in ("measured_on", "period_start", "period_end"):
        raw = fields.get(name, "")
        if raw:
            try:
                if len(raw) != 10:  # AAAA-MM-JJ only, not the other ISO forms Python accepts
                    raise ValueError(raw)
                days[name] = date.fromisoformat(raw)
            except ValueError:
                issues.append(Issue(code="invalid_date", field=name,
                                    message=f"Date attendue au format AAAA-MM-JJ (reçu « {raw} »)."))
    signed_by = fields.get("signed_by") or None
    issues += proofs.check_metadata(target.rows, today=today, finess=finess or None, signed_by=signed_by,
                                    **{name: days.get(name) for name in ("measured_on", "period_start", "period_end")})
    if issues:
        raise ValidationFailed(issues)
    assert signed_by is not None
    return ProofMetadata(finess=finess, measured_on=days["measured_on"], period_start=days["period_start"],
                         period_end=days["period_end"], signed_by=signed_by.strip())


def check_file(staged: StagedFile | None, *, max_pixels: int) -> ProofKind:
    """What the staged file is, by its bytes and by opening it; ``ProofRefused`` otherwise."""
    if staged is None:
        raise ProofRefused("proof_file_missing", "Joignez le fichier de la preuve dans le champ « file ».",
                           status=422)
    kind = proofs.sniff(staged.head, staged.tail)
    proofs.require_declared_matches(kind, staged.filename, staged.content_type)
    inspect(staged.path, kind, max_pixels=max_pixels)
    return kind


def record_proof(session: Session, principal: Principal, target: UploadTarget, meta: ProofMetadata,
                 staged: StagedFile, kind: ProofKind) -> dict[str, Any]:
    """Insert the proof row; its bytes are already in the store. The request is checked again
    under the write lock: a balance paid while the file was uploading closes it."""
    state = session.execute(REQUEST_ROW_BY_ID, {"request_id": target.request_id}).one()
    lifecycle_state(state).require_not_closed()
    proof = Proof(
        id=str(uuid.uuid4()), submission_id=target.submission_id, request_id=target.request_id,
        milestone=target.milestone, finess=meta.finess, evidence_key=target.rows[meta.finess].evidence_key,
        sha256=staged.sha256, sha512=staged.sha512 or None, media_type=kind.media_type, size=staged.size,
        filename=_clean_name(staged.filename),
        measured_on=meta.measured_on, period_start=meta.period_start, period_end=meta.period_end,
        signed_by=meta.signed_by, uploaded_at=utcnow(), uploaded_by_key_id=principal.key_id or None,
        uploaded_by_person_id=principal.person_id,
    )
    session.add(proof)
    session.flush()
    _mark_covered(session, proof)
    audit.record(session, principal, "proof_stored", "proof", proof.id, request_id=target.request_id,
                 galis_ref=target.galis_ref, payload={
                     "submission_id": proof.submission_id, "milestone": proof.milestone, "finess": proof.finess,
                     "sha256": proof.sha256, "media_type": proof.media_type, "size": proof.size,
                     "filename": proof.filename, "measured_on": proof.measured_on.isoformat(),
                     "period_start": proof.period_start.isoformat(), "period_end": proof.period_end.isoformat(),
                     "signed_by": proof.signed_by})
    outbox.emit(session, "proof.stored", request_id=target.request_id, data={
        "proof_id": proof.id, "submission_id": proof.submission_id, "milestone": proof.milestone,
        "finess": proof.finess})
    answered = control.after_proof(session, principal, proof, galis_ref=target.galis_ref)
    return {**proof_view(proof, galis_ref=target.galis_ref,
                         uploaded_by=actors.of_principal(principal)),
            "answers_proof_requests": sorted(answered)}


def _mark_covered(session: Session, proof: Proof) -> None:
    """Every version the new proof covers has changed (the auditors' feed brings it up again)."""
    rows = session.exec(select(SubmissionRow).join(Submission).where(
        Submission.request_id == proof.request_id, Submission.milestone == proof.milestone,
        SubmissionRow.finess == proof.finess)).all()
    covered = [r.submission_id for r in rows if declared_row(r).evidence_key == proof.evidence_key]
    if covered:
        session.execute(sa.update(Submission).where(Submission.id.in_(covered))  # type: ignore[attr-defined]
                        .values(changed_at=proof.uploaded_at))


def _clean_name(filename: str | None) -> str | None:
    if not filename:
        return None
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch.isprintable())[:255] or None


def proof_view(proof: Proof, *, galis_ref: str, uploaded_by: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": proof.id,
        "submission_id": proof.submission_id,
        "galis_ref": galis_ref,
        "milestone": proof.milestone,
        "finess": proof.finess,
        "sha256": proof.sha256,
        "media_type": proof.media_type,
        "size": proof.size,
        "filename": proof.filename,
        "measured_on": proof.measured_on.isoformat(),
        "period_start": proof.period_start.isoformat(),
        "period_end": proof.period_end.isoformat(),
        "signed_by": proof.signed_by,
        "uploaded_at": iso_z(proof.uploaded_at),
        "uploaded_by": uploaded_by,
        "content_url": f"/v1/proofs/{proof.id}/content",
    }


def _views(session: Session, found: list[Proof], galis_ref: str) -> list[dict[str, Any]]:
    """Views of ``found``, each with who uploaded it (one query for all the keys)."""
    who = actors.resolver(session.connection(), ((p.uploaded_by_key_id, p.uploaded_by_person_id) for p in found))
    answered: dict[str, list[str]] = {p.id: [] for p in found}
    if found:
        for request_id, proof_id in session.exec(select(ProofRequest.id, ProofRequest.proof_id).where(
                ProofRequest.proof_id.in_(list(answered))).order_by(ProofRequest.id)):  # type: ignore[union-attr]
            answered[proof_id].append(request_id)  # type: ignore[index]
    return [{**proof_view(p, galis_ref=galis_ref, uploaded_by=who(p.uploaded_by_key_id, p.uploaded_by_person_id)
                          or actors.service_actor("", "")),
             "answers_proof_requests": answered[p.id]} for p in found]


def proofs_of_version(session: Session, sub: Submission, galis_ref: str) -> dict[str, Any]:
    """The proofs covering a version (uploaded for it, or for an earlier version whose row for
    that FINESS had the same figures and period), by FINESS, and the FINESS none covers."""
    rows = declared_rows(session, sub.id)
    found = list(session.exec(
        select(Proof).where(Proof.request_id == sub.request_id, Proof.milestone == sub.milestone,
                            Proof.finess.in_(list(rows)))  # type: ignore[attr-defined]
        .order_by(Proof.finess, Proof.uploaded_at, Proof.id)))  # type: ignore[arg-type]
    covering = [p for p in found if rows[p.finess].evidence_key == p.evidence_key]
    return {
        "proofs": _views(session, covering, galis_ref),
        "proofs_missing": proofs.missing_proofs(rows.values(), {p.evidence_key for p in covering}),
    }


def get_proof(session: Session, principal: Principal, proof_id: str) -> tuple[Proof, dict[str, Any]]:
    """A proof the caller may read (anyone who sees its request), with its view."""
    proof = session.get(Proof, proof_id)
    req = session.get(FundingRequest, proof.request_id) if proof else None
    if proof is None or req is None or not access.sees_request(principal, scope_of(req)):
        raise proof_not_found(proof_id)
    return proof, _views(session, [proof], req.galis_ref)[0]


def referenced_digests(session: Session) -> set[str]:
    return set(session.exec(select(Proof.sha256).distinct()).all())
