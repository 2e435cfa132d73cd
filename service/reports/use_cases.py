"""Signed PDF summaries of versions: the view-model from the database, and what a signed
report certifies."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from service import actors
from service.domain import indicators
from service.domain.access import Principal, sees_request
from service.domain.declaration import COUNT_FIELDS
from service.domain.identifiers import region_name
from service.domain.lifecycle import Milestone
from service.domain.targets import INDICATOR_KEYS
from service.funding_requests.use_cases import categories_of, last_version
from service.kit.cache import BoundedCache
from service.kit.offload import Offload
from service.models import AuditEvent, FundingRequest, LogCheckpoint, Submission
from service.reports.pdf import LogPlace, RateCell, ReportModel, ReportRow, render
from service.reports.signing import ReportSigner, Verification
from service.scope import scope_of
from service.submissions.use_cases import get_submission
from service.target_sets import use_cases as target_sets

MILESTONE_LABELS = {Milestone.VA.value: "VA — vérification d'aptitude", Milestone.FIN_PROJET.value: "Fin de projet"}
SHORT_LABELS = {"active_files": "Dossiers actifs (G/H)", "personal_plan": "Projet personnalisé (I/G)",
                "agenda": "Agenda (J/G)", "mssante": "MS Santé (F/I)", "dmp": "DMP (E/I)"}


def _fr_date(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%d/%m/%Y")


def _local(iso: str, zone: ZoneInfo) -> str:
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(zone)
    return moment.strftime("%d/%m/%Y à %H:%M:%S") + " (heure de Paris)" if zone.key == "Europe/Paris" else \
        moment.strftime("%d/%m/%Y à %H:%M:%S %Z")


def _rates(evaluation: dict[str, Any]) -> list[RateCell]:
    return [RateCell(label=SHORT_LABELS[key], rate=evaluation[key]["rate"], target=evaluation[key]["target"],
                     met=evaluation[key]["met"]) for key in INDICATOR_KEYS]


def build_model(session: Session, principal: Principal, submission_id: str, *, timezone: str) -> ReportModel:
    """Everything the report shows, for a version the caller may read."""
    version = get_submission(session, principal, submission_id)
    sub = session.get(Submission, submission_id)
    assert sub is not None
    req = session.get(FundingRequest, sub.request_id)
    assert req is not None
    zone = ZoneInfo(timezone)
    rows = [ReportRow(finess=r["finess"], name=r["raison_sociale"], counts=[r[f] for f in COUNT_FIELDS],
                      period=f"{_fr_date(r['period_start'])} – {_fr_date(r['period_end'])}",
                      rates=_rates(r["indicators"]), target_set=r["target_set"]) for r in version["rows"]]
    sums = {f: sum(r[f] for r in version["rows"]) for f in COUNT_FIELDS}
    target_ids = {r["target_set"] for r in version["rows"]}
    grappe_targets = target_sets.by_id(session.connection(), sorted(target_ids)[0])
    totals = ReportRow(finess=f"Total de la grappe ({len(rows)})", name=None, counts=list(sums.values()), period="",
                       rates=_rates({k: v.as_dict() for k, v in indicators.evaluate(sums, grappe_targets).items()}),
                       target_set=grappe_targets.id)
    proofs = version.get("proofs") or []
    assert req.id is not None
    return ReportModel(
        submission_id=sub.id, galis_ref=req.galis_ref, porteur_name=req.porteur_name, siret=req.siret,
        region=f"{region_name(req.region_code)} ({req.region_code})",
        milestone=MILESTONE_LABELS[sub.milestone], version=sub.version,
        received_at=_local(version["received_at"], zone), pushed_by=actors.in_words(version["pushed_by"]),
        supersedes=version["supersedes_version"], fingerprint=sub.fingerprint, rows=rows, totals=totals,
        target_sets=_target_sets(session, version["rows"], categories_of(session, req.id), req.campaign_year),
        warnings=[(f"Ligne {w['row']}" + (f", colonne {w['column']}" if w.get("column") else "") + " : "
                   if w.get("row") else "") + w["message"]
                  + (f" — Justification du porteur : {w['justification']}" if w.get("justification") else "")
                  for w in version["warnings"]],
        proofs=[_proof_line(p, zone) for p in proofs],
        proofs_missing=version.get("proofs_missing") or [],
        signatory=proofs[-1]["signed_by"] if proofs else None,
        issued_on=_local(version["received_at"], zone).split(" à ")[0],
        created_at=version["received_at"],
        extra={"provenance": _provenance_line(version["provenance"], zone)} if version.get("provenance") else {},
        log_place=_log_place(session, sub.id, sub.request_id),
    )


def _log_place(session: Session, submission_id: str, request_id: int) -> LogPlace | None:
    """The version's stored event in the log and the first checkpoint that includes it."""
    conn = session.connection()
    index = conn.execute(sa.select(AuditEvent.log_index).where(  # type: ignore[call-overload]
        AuditEvent.request_id == request_id, AuditEvent.object_type == "submission",
        AuditEvent.object_id == submission_id, AuditEvent.action == "submission_stored")).scalar_one_or_none()
    if index is None:
        return None
    first = conn.execute(sa.select(LogCheckpoint.size, LogCheckpoint.root_hash)  # type: ignore[call-overload]
                         .where(LogCheckpoint.size > index).order_by(LogCheckpoint.size).limit(1)).one_or_none()
    if first is None:
        return None
    return LogPlace(index=int(index), checkpoint_size=int(first.size), root_hex=bytes(first.root_hash).hex())


def _target_sets(session: Session, rows: list[dict[str, Any]], categories: dict[str, str | None],
                 campaign: int) -> list[str]:
    """Each target set applied, with the campaign and the ESMS categories it was applied to."""
    applied: dict[str, set[str]] = {}
    for r in rows:
        applied.setdefault(r["target_set"], set()).add(categories.get(r["finess"]) or "non renseignée")
    return [f"{target_sets.by_id(session.connection(), t).label} (campagne {campaign} ; catégorie(s) ESMS "
            f"{', '.join(sorted(c))})" for t, c in sorted(applied.items())]


def _provenance_line(provenance: dict[str, Any], zone: ZoneInfo) -> str:
    software = provenance.get("software")
    parts = [f"{software['name']} {software.get('version') or ''}".strip()] if software else []
    if provenance.get("extracted_at"):
        parts.append(f"données extraites le {_local(provenance['extracted_at'], zone)}")
    return ", ".join(parts)


def _proof_line(p: dict[str, Any], zone: ZoneInfo) -> Any:
    from service.reports.pdf import ProofLine

    return ProofLine(finess=p["finess"], filename=p["filename"], media_type=p["media_type"], sha256=p["sha256"],
                     signed_by=p["signed_by"], uploaded_at=_local(p["uploaded_at"], zone))


def signed_report(model: ReportModel, signer: ReportSigner, digest: str | None = None) -> bytes:
    digest = digest or model.digest()
    pdf = render(model, digest)
    return signer.sign(pdf, submission_id=model.submission_id, data_digest=digest,
                       reason=f"Synthèse certifiée de la version {model.version} de la demande {model.galis_ref}")


def cached_report(model: ReportModel, signer: ReportSigner, cache: BoundedCache[tuple[str, str, Any], bytes],
                  offload: Offload) -> tuple[bytes, str]:
    """The signed PDF of ``model`` (signed once per version, data and place in the log, out of the
    request's process) and its ETag."""
    key = (model.submission_id, model.digest(), model.log_place)  # the log's place comes once sequenced
    pdf = cache.get(key)
    if pdf is None:
        pdf = offload.run(signed_report, model, signer, key[1])
        cache.put(key, pdf)
    place = model.log_place
    return pdf, key[1] if place is None else f"{key[1]}.{place.index}.{place.checkpoint_size}"


def verification_view(session: Session, principal: Principal, check: Verification, *,
                      timezone: str) -> dict[str, Any]:
    """What a report's signature says, and where the version it certifies stands today (when the
    caller may see that version)."""
    certifies: dict[str, Any] | None = None
    if check.ok and check.submission_id:
        certifies = {"submission_id": check.submission_id, "data_digest": check.data_digest, "found": False}
        sub = session.get(Submission, check.submission_id)
        req = session.get(FundingRequest, sub.request_id) if sub else None
        if sub is not None and req is not None and sees_request(principal, scope_of(req)):
            latest = last_version(req, sub.milestone)
            current = build_model(session, principal, sub.id, timezone=timezone).digest()
            certifies.update({"found": True, "galis_ref": req.galis_ref, "milestone": sub.milestone,
                              "version": sub.version, "latest_version": latest, "is_latest": sub.version == latest,
                              "same_data_as_today": current == check.data_digest})
    if not check.signed:
        message = "Aucune signature du service dans ce fichier."
    elif not check.intact:
        message = "Le document a été modifié après sa signature : la signature n'est plus intacte."
    elif not check.whole_file:
        message = "Des modifications ont été ajoutées au document après sa signature."
    elif not (check.valid and check.trusted):
        message = "La signature n'est pas celle du service (certificat non reconnu)."
    else:
        message = "Signature intacte du service : le document n'a pas été modifié depuis son émission."
    return {
        "valid": check.ok, "message": message,
        "signature": {"present": check.signed, "intact": check.intact, "valid": check.valid,
                      "trusted": check.trusted, "covers_whole_file": check.whole_file, "signer": check.signer,
                      "signed_at": check.signed_at.isoformat() if check.signed_at else None},
        "certifies": certifies,
    }
