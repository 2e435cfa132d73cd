"""The message thread of each funding request, each person's mail preferences, the mails sent."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, status

from service.domain import access
from service.http.deps import CurrentPrincipal, DatabaseDep, GalisRefPath, MailingDep, Page, ReadSession
from service.http.problems import problem_responses
from service.http.routing import api_router, caller_rule
from service.http.schemas import GALIS_REF_SCHEMA
from service.http.schemas import Page as PageOut
from service.notifications import mailbox, preferences, thread
from service.notifications.schemas import MailOut, MessageCreate, MessageOut, Preferences, PreferencesChange

router = api_router(tags=["messages"])


@router.get(
    "/v1/funding-requests/{galis_ref}/messages",
    response_model=PageOut[MessageOut],
    summary="Fil des messages d'une demande",
    description="Les messages échangés au sujet de la demande entre le porteur, son ARS, la CNSA et les "
                "administrateurs, et la copie de chaque courriel envoyé par le service à son sujet "
                "(`kind: notification`), du plus ancien au plus récent.",
    operation_id="list_request_messages",
    dependencies=[caller_rule(access.require_may_use_threads)],
    responses=problem_responses(400, 401, 403, 404, 422),
)
def list_messages(galis_ref: GalisRefPath, principal: CurrentPrincipal, session: ReadSession, page: Page) -> Any:
    return thread.thread(session, principal, galis_ref, page)


@router.post(
    "/v1/funding-requests/{galis_ref}/messages",
    response_model=MessageOut,
    status_code=status.HTTP_201_CREATED,
    summary="Écrire un message sur une demande",
    description="Ajoute un message au fil de la demande et l'envoie par courriel à l'autre partie : l'ARS quand le "
                "porteur écrit, le porteur quand l'ARS écrit, les deux quand la CNSA ou un administrateur écrit (et "
                "les personnes de la CNSA qui ont déjà écrit dans le fil). Au plus 5 000 caractères ; retours à la "
                "ligne admis, aucun autre caractère de contrôle (422 avec le champ `body`).",
    operation_id="post_request_message",
    dependencies=[caller_rule(access.require_may_use_threads)],
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def post_message(galis_ref: GalisRefPath, payload: MessageCreate, principal: CurrentPrincipal,
                       database: DatabaseDep, mailing: MailingDep) -> Any:
    return await database.writer.run(
        lambda session: thread.post(session, principal, galis_ref, payload.body, mailing=mailing))


@router.get(
    "/v1/me/notifications",
    response_model=Preferences,
    summary="Mes préférences de messages",
    description="Pour chaque catégorie de courriels que reçoit l'organisation de la personne : `instant`, `daily` "
                "(récapitulatif de chaque jour ouvré) ou `off`. Les catégories obligatoires (`mandatory`) sont "
                "toujours envoyées aussitôt. Une clé d'API ne reçoit pas de courriels (403 `person_only`).",
    operation_id="get_my_notifications",
    responses=problem_responses(401, 403),
)
def get_preferences(principal: CurrentPrincipal, session: ReadSession) -> Any:
    return {"items": preferences.preferences(session, principal)}


@router.put(
    "/v1/me/notifications",
    response_model=Preferences,
    summary="Changer mes préférences de messages",
    description="Change les catégories données, les autres restent telles quelles ; tout ou rien. Une catégorie "
                "obligatoire refuse `off` et `daily` (422 `notification_mandatory`) ; une catégorie que "
                "l'organisation ne reçoit pas est refusée (422 `notification_unknown`).",
    operation_id="put_my_notifications",
    responses=problem_responses(400, 401, 403, 422),
)
async def put_preferences(payload: PreferencesChange, principal: CurrentPrincipal, database: DatabaseDep) -> Any:
    return {"items": await database.writer.run(
        lambda session: preferences.change(session, principal, payload.items))}


@router.get(
    "/v1/mail",
    response_model=PageOut[MailOut],
    summary="Courriels envoyés par le service",
    description="Chaque courriel, ses destinataires, son état (`pending` : envoi à venir, `sent`, `failed` : "
                "refusé définitivement par le serveur ou tentatives épuisées, avec la raison), du plus récent au "
                "plus ancien. Administrateurs.",
    operation_id="list_mail",
    dependencies=[caller_rule(access.require_may_read_mail)],
    responses=problem_responses(400, 401, 403, 422),
)
def list_mail(
    principal: CurrentPrincipal, session: ReadSession, page: Page,
    mail_status: Annotated[Literal["pending", "sent", "failed"] | None,
                           Query(alias="status", description="pending, sent ou failed.")] = None,
    galis_ref: Annotated[str | None, Query(description="Référence de la demande GALIS (8 chiffres).",
                                           json_schema_extra=GALIS_REF_SCHEMA)] = None,
) -> Any:
    return mailbox.list_mail(session, principal, page, status=mail_status, galis_ref=galis_ref)
