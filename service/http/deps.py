"""FastAPI dependencies shared by the routers: database, caller, today, pagination.

Dependencies that do no I/O are ``async`` so that FastAPI does not hop to its thread pool
for them on every request.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Protocol
from zoneinfo import ZoneInfo

from fastapi import Depends, Path, Query, Request
from sqlmodel import Session

from service.domain.access import Principal
from service.http.limits import count_failed_sign_in
from service.http.problems import HttpProblem
from service.http.schemas import CURSOR_SCHEMA, FINESS_SCHEMA, GALIS_REF_SCHEMA, REGION_SCHEMA
from service.kit.db import Database
from service.kit.mailing import Mailing
from service.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, PageRequest
from service.kit.settings import Settings


class Authenticator(Protocol):
    """Resolves the secret of ``Authorization: Bearer <secret>`` to its caller, or to the
    ``(code, detail)`` of its refusal (``app.state.authenticate``, set by ``create_app``)."""

    async def __call__(self, secret: str, today: date, /) -> Principal | tuple[str, str]: ...


async def get_database(request: Request) -> Database:
    return request.app.state.database


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_mailing(request: Request) -> Mailing:
    """What the mails a change queues need of the settings (links, time zone)."""
    return Mailing.from_settings(request.app.state.settings)


def read_session(request: Request) -> Iterator[Session]:
    """A session for reading, closed (rolled back) at the end of the request."""
    yield from request.app.state.database.read_session()


def _unauthenticated(code: str, detail: str) -> HttpProblem:
    return HttpProblem(401, code, "Authentification requise", detail,
                       headers={"WWW-Authenticate": 'Bearer realm="esms-usage"'})


async def current_principal(request: Request) -> Principal:
    """The caller behind ``Authorization: Bearer <clé>``; 401 otherwise.

    Resolved once per request (``GuardedRoute`` resolves it before the body is read) and kept
    in the request's state.
    """
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    header = request.headers.get("authorization")
    if not header:
        raise _unauthenticated("unauthenticated", "En-tête Authorization: Bearer <clé d'API> manquant.")
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise _unauthenticated("unauthenticated", "Le schéma d'authentification attendu est « Bearer <clé d'API> ».")
    authenticate: Authenticator = request.app.state.authenticate
    found = await authenticate(secret, await today(request))
    if not isinstance(found, Principal):
        await count_failed_sign_in(request)
        raise _unauthenticated(*found)
    request.state.principal = found
    return found


async def today(request: Request) -> date:
    """Today's date where the programme runs (Europe/Paris by default)."""
    return datetime.now(ZoneInfo(request.app.state.settings.timezone)).date()


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Taille de page (50 par défaut, 500 au plus).")]
    = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="Curseur rendu par la page précédente (`next_cursor`), tel "
                                                    "quel ; un curseur inconnu est refusé (422 `invalid_cursor`).",
                                        json_schema_extra=CURSOR_SCHEMA)] = None,
) -> PageRequest:
    return PageRequest(limit=limit, cursor=cursor)


#: Path and query parameters shared by the routers, documented once. A malformed identifier in a
#: path answers 404 like an unknown one; the description says what a valid one looks like.
GalisRefPath = Annotated[str, Path(description="Référence de la demande GALIS (8 chiffres).", examples=["12345678"],
                                   json_schema_extra=GALIS_REF_SCHEMA)]
SubmissionIdPath = Annotated[str, Path(description="Identifiant de la version (UUID).",
                                       json_schema_extra={"format": "uuid"})]
ProofIdPath = Annotated[str, Path(description="Identifiant de la preuve (UUID).", json_schema_extra={"format": "uuid"})]
FinessPath = Annotated[str, Path(description="Numéro FINESS géographique (9 caractères, clé de Luhn).",
                                 examples=["240000372"], json_schema_extra=FINESS_SCHEMA)]
CaseIdPath = Annotated[str, Path(description="Identifiant du dossier de contrôle (UUID).",
                                 json_schema_extra={"format": "uuid"})]
OrganisationIdPath = Annotated[int, Path(description="Identifiant de l'organisation.", ge=1, le=2**31 - 1)]
RegionQuery = Annotated[str | None, Query(description="Code de région (INSEE) d'une ARS, par exemple `75`.",
                                          json_schema_extra=REGION_SCHEMA)]

CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
ReadSession = Annotated[Session, Depends(read_session)]
Today = Annotated[date, Depends(today)]
Page = Annotated[PageRequest, Depends(page_params)]
DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
MailingDep = Annotated[Mailing, Depends(get_mailing)]
