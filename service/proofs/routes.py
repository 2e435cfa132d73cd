"""Proofs of usage: upload for one FINESS of a version, read back byte for byte."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request, status
from fastapi.responses import StreamingResponse

from service.audit import custody
from service.domain import access
from service.http.deps import (
    CurrentPrincipal,
    DatabaseDep,
    ProofIdPath,
    ReadSession,
    SettingsDep,
    SubmissionIdPath,
    Today,
)
from service.http.problems import problem_responses
from service.http.responses import attachment
from service.http.routing import api_router, caller_rule
from service.http.schemas import FINESS_SCHEMA
from service.kit.storage import CorruptProof, MissingProof, ProofStore, checked_chunks, sha256_b64
from service.proofs import use_cases
from service.proofs.schemas import ProofOut
from service.proofs.serving import receive_proof, unavailable

log = logging.getLogger(__name__)
router = api_router(tags=["preuves"])

UPLOAD_DESCRIPTION = """\
Dépose la preuve d'usage d'un établissement (FINESS géographique) pour une version : un
rapport **non modifiable** (PDF) ou une capture d'écran (PNG, JPEG) qui montre le FINESS, les
nombres absolus, la date de mesure et la période, signé par la personne qui engage le porteur.

* Corps `multipart/form-data` : `file` (le fichier), `finess`, `measured_on`, `period_start`,
  `period_end` (dates `AAAA-MM-JJ`), `signed_by` (nom et fonction du signataire).
* Le format est reconnu au contenu, jamais au nom : 415 `proof_modifiable_format` pour un
  tableur, un CSV, un document de traitement de texte ou une archive (un export Excel n'est pas
  une preuve), 415 `proof_unsupported_type` pour tout autre format, 422 `proof_type_mismatch`
  quand le type annoncé contredit le contenu, `proof_polyglot` pour un fichier qui est aussi
  une archive, `proof_encrypted` pour un PDF protégé, `proof_corrupt` pour un fichier tronqué
  ou illisible, `proof_image_too_large` au-delà de la taille d'image admise ; 413
  `proof_too_large` au-delà de la taille de fichier admise.
* La période doit être celle déclarée pour ce FINESS dans la version (`proof_period_mismatch`).
* Porteur de la demande, éditeur mandaté ou administrateur ; 409 `request_closed` après le
  paiement du solde. Une preuve n'est ni modifiée ni supprimée ; des octets identiques ne sont
  conservés qu'une fois. Elle reste attachée aux versions suivantes tant que les chiffres et la
  période de ce FINESS ne changent pas.
"""

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", *use_cases.METADATA_FIELDS],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "PDF, PNG ou JPEG."},
                    "finess": {**FINESS_SCHEMA, "examples": ["240000372"]},
                    "measured_on": {"type": "string", "format": "date", "examples": ["2024-04-02"]},
                    "period_start": {"type": "string", "format": "date", "examples": ["2024-01-01"]},
                    "period_end": {"type": "string", "format": "date", "examples": ["2024-03-31"]},
                    "signed_by": {"type": "string", "maxLength": 200,
                                  "examples": ["Marie Dupont, directrice générale"]},
                },
            },
        }},
    }
}


@router.post(
    "/v1/submissions/{submission_id}/proofs",
    status_code=status.HTTP_201_CREATED,
    response_model=ProofOut,
    summary="Déposer une preuve d'usage",
    description=UPLOAD_DESCRIPTION,
    operation_id="upload_proof",
    dependencies=[caller_rule(access.require_may_submit)],
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422),
    openapi_extra=_UPLOAD_BODY,
)
async def upload_proof(
    submission_id: SubmissionIdPath,
    request: Request, principal: CurrentPrincipal, database: DatabaseDep, settings: SettingsDep, today: Today,
) -> Any:
    return await receive_proof(request, principal, submission_id, database=database, settings=settings, today=today)


@router.get(
    "/v1/proofs/{proof_id}",
    response_model=ProofOut,
    summary="Consulter une preuve",
    description="Les métadonnées d'une preuve : FINESS, période, signataire, empreinte SHA-256, type et taille.",
    operation_id="get_proof",
    responses=problem_responses(401, 404),
)
def get_proof(proof_id: ProofIdPath,
              principal: CurrentPrincipal, session: ReadSession) -> Any:
    return use_cases.get_proof(session, principal, proof_id)[1]


@router.get(
    "/v1/proofs/{proof_id}/content",
    summary="Télécharger une preuve",
    description="Les octets exacts déposés, avec `Repr-Digest: sha-256=:…:`. Le contenu est vérifié à chaque "
                "lecture : un contenu dont l'empreinte ne correspond plus n'est jamais servi (500 "
                "`proof_integrity_error`).",
    operation_id="get_proof_content",
    response_class=StreamingResponse,
    responses={200: {"description": "Le fichier, tel que déposé.",
                     "content": {media: {"schema": {"type": "string", "format": "binary"}}
                                 for media in ("application/pdf", "image/png", "image/jpeg")}},
               **problem_responses(401, 404, 500)},
)
def get_proof_content(proof_id: ProofIdPath, request: Request, principal: CurrentPrincipal,
                      session: ReadSession, database: DatabaseDep) -> Any:
    proof, view = use_cases.get_proof(session, principal, proof_id)
    store: ProofStore = request.app.state.proof_store
    try:
        handle = store.open_verified(proof.sha256)
    except (CorruptProof, MissingProof) as exc:
        raise unavailable(proof.id, exc) from None
    try:
        custody.record_read(database, principal, request, [custody.Read(
            custody.PROOF_READ, "proof", proof.id, request_id=proof.request_id, galis_ref=view["galis_ref"])])
    except BaseException:
        handle.close()
        raise
    return StreamingResponse(checked_chunks(handle, proof.sha256), media_type=proof.media_type, headers={
        "Content-Length": str(proof.size),
        "Repr-Digest": f"sha-256=:{sha256_b64(proof.sha256)}:",
        "ETag": f'"{proof.sha256}"',
        "Cache-Control": "private, max-age=0, must-revalidate",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": attachment(proof.filename or f"preuve-{proof.finess}"),
    })


