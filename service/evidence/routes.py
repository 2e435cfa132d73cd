"""What a CNSA auditor fetches within 48 hours: evidence bundles, a proof's chain of custody, and
the feed of changed versions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import StreamingResponse

from service.audit import custody
from service.domain import access
from service.evidence import feed, serving
from service.evidence.schemas import ChangedVersionPage, CustodyPage
from service.http.deps import (
    CaseIdPath,
    CurrentPrincipal,
    DatabaseDep,
    Page,
    ProofIdPath,
    ReadSession,
    RegionQuery,
    SettingsDep,
    SubmissionIdPath,
)
from service.http.limits import rate_class
from service.http.problems import problem_responses
from service.http.routing import api_router, caller_rule
from service.kit.rate_limits import EXPORTS
from service.proofs.use_cases import get_proof

router = api_router(tags=["dossiers-de-preuve"])

_BAG_CONTENTS = """\
Un ZIP qui contient un seul sac **BagIt 1.0** (RFC 8493), dossier
`evidence-<galis_ref>-<jalon>-v<version>/` : `bagit.txt`, `bag-info.txt` (`Payload-Oxum`,
`Bagging-Date`, `External-Identifier` = l'identifiant de la version, `Source-Organization`),
`manifest-sha256.txt`, `manifest-sha512.txt`, `tagmanifest-sha256.txt` et, dans `data/` :
`submission.json` (la version, comme `GET /v1/submissions/{id}`), `declaration.xlsx` (le modèle
de la CNSA), `report.pdf` (la synthèse signée), `proofs/<sha256>.<pdf|png|jpg>` (chaque preuve
qui couvre la version, octet pour octet), `proofs.json` (FINESS, période, date de mesure,
signataire, empreintes, dépôt et déposant, et la chaîne de garde de chaque preuve),
`audit-events.json` (les événements de la demande) et, une fois séquencés, `log/checkpoint.txt`
et `log/inclusion-proofs.json` (une preuve d'inclusion par événement). Se vérifie avec tout outil
BagIt (`bagit.py --validate`).

Le ZIP est écrit pendant l'envoi. Chaque preuve est vérifiée avant le premier octet : une preuve
dont le contenu conservé ne correspond plus à son SHA-256 n'entre jamais dans un sac (500
`proof_integrity_error`, signalé). La lecture du dossier et de chacune de ses preuves est
consignée au journal d'audit (chaîne de garde) avant l'envoi.
"""

_ZIP_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"description": "Le ZIP du sac BagIt.",
          "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}},
}


@router.get(
    "/v1/submissions/{submission_id}/evidence.zip",
    summary="Dossier de preuve d'une version (BagIt)",
    description=_BAG_CONTENTS + "\nMême portée que la lecture de la version (404 hors périmètre).",
    operation_id="get_submission_evidence",
    response_class=StreamingResponse,
    responses={**_ZIP_RESPONSE, **problem_responses(401, 404, 500)},
    dependencies=[rate_class(EXPORTS)],
)
def get_submission_evidence(submission_id: SubmissionIdPath, request: Request, principal: CurrentPrincipal,
                            database: DatabaseDep, settings: SettingsDep) -> Any:
    return serving.version_evidence(submission_id, request, principal, database, settings)


@router.get(
    "/v1/control-cases/{case_id}/evidence.zip",
    summary="Dossier de preuve d'un contrôle (BagIt)",
    description=_BAG_CONTENTS + "\nLe même sac pour la version contrôlée, avec en plus `data/case.json` (le "
                                "dossier de contrôle : score, motifs, demandes de preuve et leurs réponses, "
                                "conclusion). Auditeurs de la CNSA et administrateurs.",
    operation_id="get_control_case_evidence",
    response_class=StreamingResponse,
    responses={**_ZIP_RESPONSE, **problem_responses(401, 403, 404, 500)},
    dependencies=[caller_rule(access.require_may_control), rate_class(EXPORTS)],
)
def get_case_evidence(case_id: CaseIdPath, request: Request, principal: CurrentPrincipal,
                      database: DatabaseDep, settings: SettingsDep) -> Any:
    return serving.case_evidence(case_id, request, principal, database, settings)


@router.get(
    "/v1/proofs/{proof_id}/custody",
    response_model=CustodyPage,
    summary="Chaîne de garde d'une preuve",
    description="Qui a lu les octets de la preuve, quand et par quelle route (téléchargement direct ou dossier "
                "de preuve), du plus ancien au plus récent ; chaque lecture est un événement du journal "
                "d'audit (`seq`, `index`). Même portée que la lecture de la preuve.",
    operation_id="get_proof_custody",
    responses=problem_responses(401, 404, 422),
)
def get_proof_custody(proof_id: ProofIdPath, principal: CurrentPrincipal, session: ReadSession,
                      page: Page) -> Any:
    get_proof(session, principal, proof_id)  # 404 outside the caller's scope
    return custody.custody_of(session, proof_id, page)


@router.get(
    "/v1/submissions",
    response_model=ChangedVersionPage,
    summary="Fil des versions modifiées",
    description="Chaque version reçue, examinée par l'ARS ou dotée d'une preuve depuis `updated_since` (toutes "
                "sans ce paramètre), le changement le plus ancien d'abord, par pages (`cursor`) : de quoi tenir "
                "à jour une copie. Une version qui change encore revient plus loin dans le fil. Le fil s'arrête "
                "quelques secondes avant l'instant de la réponse (`as_of`) pour ne rien sauter d'une écriture "
                "en cours. CNSA et administrateurs : tout le programme (filtre `region` possible) ; une ARS : "
                "sa région.",
    operation_id="list_changed_submissions",
    responses=problem_responses(401, 403, 422),
    dependencies=[caller_rule(access.require_may_follow_changes)],
)
def list_changed_submissions(
    principal: CurrentPrincipal, session: ReadSession, page: Page, settings: SettingsDep,
    updated_since: Annotated[datetime | None, Query(description="Instant ISO 8601 avec son fuseau, par exemple "
                                                                "`2026-12-01T08:00:00Z`.")] = None,
    region: RegionQuery = None,
) -> Any:
    return feed.changed_versions(session, principal, page, updated_since=updated_since, region_code=region,
                                 settle=timedelta(seconds=settings.feed_settle_seconds))
