"""The verifiable log: checkpoint, key and proofs, for anyone holding a key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import PlainTextResponse, Response

from service.http.deps import CurrentPrincipal, ReadSession, SettingsDep
from service.http.problems import problem_responses
from service.http.routing import api_router
from service.log import queries as use_cases
from service.log.schemas import ConsistencyProofOut, InclusionProofOut, LogKeyOut

router = api_router(tags=["journal-verifiable"])

Size = Annotated[int, Query(ge=0, le=2**62, description="Nombre de feuilles de l'arbre.")]


@router.get(
    "/v1/log/checkpoint",
    response_class=PlainTextResponse,
    summary="Dernier point de contrôle signé du journal",
    description="Note signée au format C2SP *tlog-checkpoint* : l'origine, la taille de l'arbre, sa racine "
                "(base64), une ligne vide, puis `— <nom de clé> <base64(identifiant ‖ signature Ed25519)>`. À "
                "conserver par un témoin : un historique réécrit ne sera plus cohérent avec lui.",
    operation_id="get_log_checkpoint",
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                     "description": "La note signée."}, **problem_responses(401, 404, 422)},
)
def get_checkpoint(principal: CurrentPrincipal, session: ReadSession,
                   size: Annotated[int | None, Query(ge=0, le=2**62, description="Le point de contrôle de cette "
                                                     "taille d'arbre plutôt que le dernier.")] = None) -> Any:
    return PlainTextResponse(use_cases.checkpoint_note(session, size), media_type="text/plain; charset=utf-8")


@router.get(
    "/v1/log/checkpoint/timestamp",
    response_class=Response,
    summary="Horodatage RFC 3161 du dernier point de contrôle horodaté",
    description="La réponse d'horodatage (DER, `application/timestamp-reply`) d'une autorité extérieure au service "
                "sur les octets exacts du point de contrôle de taille `Checkpoint-Size` (à obtenir par "
                "`GET /v1/log/checkpoint?size=…`) : `openssl ts -verify -data <note> -in <réponse> -CAfile <AC>`. "
                "404 `timestamp_not_found` tant qu'aucun point de contrôle n'est horodaté.",
    operation_id="get_log_checkpoint_timestamp",
    responses={200: {"content": {"application/timestamp-reply": {"schema": {"type": "string", "format": "binary"}}},
                     "description": "La réponse d'horodatage.", "headers": {"Checkpoint-Size": {
                         "description": "Taille de l'arbre du point de contrôle horodaté.",
                         "schema": {"type": "integer"}}}},
               **problem_responses(401, 404)},
)
def get_checkpoint_timestamp(principal: CurrentPrincipal, session: ReadSession) -> Any:
    size, reply = use_cases.latest_timestamp(session)
    return Response(reply, media_type="application/timestamp-reply", headers={"Checkpoint-Size": str(size)})


@router.get(
    "/v1/log/key",
    response_model=LogKeyOut,
    summary="Clé publique du journal",
    description="La clé Ed25519 qui signe les points de contrôle, son nom, son identifiant et sa forme de clé de "
                "vérification C2SP (`vkey`).",
    operation_id="get_log_key",
    responses=problem_responses(401),
)
def get_key(request: Request, principal: CurrentPrincipal, settings: SettingsDep) -> Any:
    return use_cases.key_view(request.app.state.log_signer, origin=settings.log_origin)


@router.get(
    "/v1/log/proofs/inclusion",
    response_model=InclusionProofOut,
    summary="Preuve d'inclusion d'un événement",
    description="Le chemin d'audit (RFC 9162 §2.1.3.1) de la feuille `index` dans l'arbre de `tree_size` "
                "feuilles, avec l'empreinte de la feuille et la racine (hexadécimal). 422 `proof_impossible` si "
                "`index` ≥ `tree_size` ou si l'arbre n'a pas encore cette taille.",
    operation_id="get_inclusion_proof",
    responses=problem_responses(401, 422),
)
def inclusion_proof(principal: CurrentPrincipal, session: ReadSession,
                    index: Annotated[int, Query(ge=0, le=2**62, description="Rang de l'événement (0, 1, 2 …).")],
                    tree_size: Size) -> Any:
    return use_cases.inclusion(session, index=index, tree_size=tree_size)


@router.get(
    "/v1/log/proofs/consistency",
    response_model=ConsistencyProofOut,
    summary="Preuve de cohérence entre deux tailles du journal",
    description="La preuve (RFC 9162 §2.1.4.1) que l'arbre de `second` feuilles prolonge celui de `first` "
                "feuilles, sans rien en retirer ni réécrire, avec les deux racines (hexadécimal). 0 < `first` ≤ "
                "`second` ≤ taille actuelle, sinon 422 `proof_impossible`.",
    operation_id="get_consistency_proof",
    responses=problem_responses(401, 422),
)
def consistency_proof(principal: CurrentPrincipal, session: ReadSession, first: Size, second: Size) -> Any:
    return use_cases.consistency(session, first=first, second=second)
