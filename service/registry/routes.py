"""Reference data: the FINESS registry, fed with the public extract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from service.domain import access
from service.http.deps import CurrentPrincipal, DatabaseDep, FinessPath, Page, ReadSession, SettingsDep
from service.http.problems import problem_responses
from service.http.routing import api_router, caller_rule
from service.http.schemas import Page as PageOut
from service.http.uploads import single_file
from service.registry import finess as use_cases
from service.registry import imports
from service.registry.schemas import FinessSnapshotOut, RegistryEstablishmentOut

router = api_router(tags=["referentiel"])

_IMPORT_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "L'extrait FINESS (etalab-cs1100507-stock-….csv)."}},
}}}}}


@router.post(
    "/v1/registry/finess-imports",
    response_model=FinessSnapshotOut,
    status_code=201,
    summary="Importer l'extrait FINESS",
    description="L'extrait public du fichier FINESS (data.gouv.fr, CSV « stock » etalab : première ligne "
                "`finess;etalab;<version>;<AAAA-MM-JJ>`, puis les enregistrements `structureet` et "
                "`geolocalisation`, séparés par `;`), en UTF-8 ou Windows-1252 (reconnu). Conservé comme "
                "instantané avec son SHA-256 et sa date ; les établissements sont mis à jour, ceux du registre "
                "absents de l'extrait sont fermés à sa date. Un enregistrement mal formé refuse tout le fichier "
                "(422, chaque ligne en cause) ; le même fichier une seconde fois répond 200 avec l'instantané "
                "existant ; un extrait plus ancien que le dernier importé répond 409 `finess_snapshot_older`. "
                "Administrateurs ; corps `multipart/form-data`, champ `file`.",
    operation_id="import_finess_extract",
    responses={200: {"description": "Ce fichier était déjà importé.", "model": FinessSnapshotOut},
               **problem_responses(400, 401, 403, 409, 413, 415, 422)},
    dependencies=[caller_rule(access.require_may_manage_registry)],
    openapi_extra=_IMPORT_BODY,
)
async def import_finess_extract(request: Request, principal: CurrentPrincipal, database: DatabaseDep,
                                settings: SettingsDep) -> Any:
    async with single_file(request, suffix=".csv", max_bytes=settings.max_finess_extract_bytes,
                           too_large_code="finess_extract_too_large", what="l'extrait FINESS") as staged:
        view, created = await database.writer.run(lambda session: imports.import_extract(
            session, principal, Path(staged.path), filename=staged.filename, sha256=staged.sha256, size=staged.size,
            closures_changed=request.app.state.closures_changed))
    return JSONResponse(view, status_code=201 if created else 200)


@router.get(
    "/v1/registry/finess-imports",
    response_model=PageOut[FinessSnapshotOut],
    summary="Instantanés du registre FINESS",
    description="Les extraits importés, du plus récent au plus ancien, avec leurs comptes.",
    operation_id="list_finess_imports",
    responses=problem_responses(401, 422),
)
def list_finess_imports(principal: CurrentPrincipal, session: ReadSession, page: Page) -> Any:
    return use_cases.list_snapshots(session, page)


@router.get(
    "/v1/registry/finess/{finess}",
    response_model=RegistryEstablishmentOut,
    summary="Un établissement du registre FINESS",
    description="L'établissement (FINESS ET) tel que le registre le connaît : entité juridique, raison sociale, "
                "catégorie, département, région, SIRET, ouverture, et s'il est fermé (absent d'un extrait plus "
                "récent). 404 `finess_not_in_registry` s'il est inconnu. Toute clé valide.",
    operation_id="get_registry_establishment",
    responses=problem_responses(401, 404, 422),
)
def get_registry_establishment(finess: FinessPath, principal: CurrentPrincipal, session: ReadSession) -> Any:
    return use_cases.get_establishment(session, finess)
