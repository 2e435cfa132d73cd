"""The one place where errors become RFC 9457 ``application/problem+json`` responses.

Domain code raises typed errors with no HTTP status; this module gives each family its
status. Every body has ``type``, ``title``, ``status``, ``detail`` and ``code``; validation
problems add ``errors: [{row, column, field, code, message}]`` with French messages.
"""

from __future__ import annotations

import errno
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from service.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidIdentifier,
    Issue,
    NotFound,
    ValidationFailed,
)
from service.http.schemas import ProblemDetails
from service.kit.db import DB_UNAVAILABLE, is_database_full, short_reason
from service.kit.offload import OffloadTimeout

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:esms-usage:problem:"

#: Domain error family -> (HTTP status, French title).
STATUS_BY_ERROR: dict[type[DomainError], tuple[int, str]] = {
    ValidationFailed: (422, "Données invalides"),
    InvalidIdentifier: (422, "Identifiant invalide"),
    NotFound: (404, "Introuvable"),
    Forbidden: (403, "Action non autorisée"),
    Conflict: (409, "Conflit avec l'état actuel"),
}


class HttpProblem(Exception):
    """A refusal decided by the HTTP layer itself (authentication, body size, media type)."""

    def __init__(self, status: int, code: str, title: str, detail: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.title, self.detail, self.headers = status, code, title, detail, headers


def problem_body(*, status: int, code: str, title: str, detail: str,
                 errors: list[Issue] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"type": TYPE_PREFIX + code, "title": title, "status": status,
                            "detail": detail, "code": code}
    if errors is not None:
        body["errors"] = [issue.as_dict() for issue in errors]
    return body


def problem_response(*, status: int, code: str, title: str, detail: str,
                     errors: list[Issue] | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(problem_body(status=status, code=code, title=title, detail=detail, errors=errors),
                        status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def http_problem_response(exc: HttpProblem) -> JSONResponse:
    return problem_response(status=exc.status, code=exc.code, title=exc.title, detail=exc.detail, headers=exc.headers)


#: The errors of a write on a full file system (no space, or the user's quota reached).
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a write refused for want of space."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def storage_full() -> HttpProblem:
    """507: the file system of proofs and uploads has no room left; nothing was kept."""
    return HttpProblem(507, "storage_full", "Espace de stockage épuisé",
                       "L'espace de stockage des fichiers est plein : le fichier n'a pas été enregistré et rien "
                       "n'a été modifié. L'exploitation est alertée ; réessayez plus tard.",
                       headers={"Retry-After": "300"})


def database_full() -> HttpProblem:
    """507: the database has no room left for a write; nothing was stored."""
    return HttpProblem(507, "database_full", "Base de données pleine",
                       "La base de données n'a plus de place pour enregistrer : rien n'a été enregistré. "
                       "L'exploitation est alertée ; réessayez plus tard.", headers={"Retry-After": "300"})


def domain_problem(exc: DomainError) -> JSONResponse:
    status, title = next(((st, ti) for family, (st, ti) in STATUS_BY_ERROR.items() if isinstance(exc, family)),
                         (500, "Erreur interne"))
    errors: list[Issue] | None = None
    if isinstance(exc, ValidationFailed):
        errors = exc.issues
    elif isinstance(exc, InvalidIdentifier):
        errors = [Issue(code=exc.code, message=exc.message)]
    return problem_response(status=status, code=exc.code, title=title, detail=exc.message, errors=errors)


# Pydantic error type -> (stable code, French message template).
_PYDANTIC_CODES: dict[str, tuple[str, str]] = {
    "missing": ("field_required", "valeur obligatoire"),
    "extra_forbidden": ("unknown_field", "champ inconnu"),
    "int_type": ("not_an_integer", "un nombre entier est attendu"),
    "int_parsing": ("not_an_integer", "un nombre entier est attendu"),
    "int_from_float": ("not_an_integer", "un nombre entier est attendu"),
    "string_type": ("not_text", "un texte est attendu"),
    "bool_type": ("not_a_boolean", "true ou false est attendu"),
    "bool_parsing": ("not_a_boolean", "true ou false est attendu"),
    "greater_than_equal": ("value_too_small", "la valeur doit être supérieure ou égale à {ge}"),
    "greater_than": ("value_too_small", "la valeur doit être supérieure à {gt}"),
    "less_than_equal": ("value_too_large", "la valeur doit être inférieure ou égale à {le}"),
    "string_too_short": ("text_too_short", "texte trop court ({min_length} caractère(s) au moins)"),
    "string_too_long": ("text_too_long", "texte trop long ({max_length} caractères au plus)"),
    "too_short": ("list_too_short", "au moins {min_length} élément(s) attendu(s)"),
    "too_long": ("list_too_long", "au plus {max_length} éléments"),
    "date_type": ("invalid_date", "date invalide (attendu AAAA-MM-JJ)"),
    "date_parsing": ("invalid_date", "date invalide (attendu AAAA-MM-JJ)"),
    "date_from_datetime_parsing": ("invalid_date", "date invalide (attendu AAAA-MM-JJ)"),
    "literal_error": ("invalid_choice", "valeur non admise (valeurs admises : {expected})"),
    "enum": ("invalid_choice", "valeur non admise (valeurs admises : {expected})"),
    "list_type": ("not_a_list", "une liste est attendue"),
    "dict_type": ("not_an_object", "un objet JSON est attendu"),
    "model_type": ("not_an_object", "un objet JSON est attendu"),
    "model_attributes_type": ("not_an_object", "un objet JSON est attendu"),
}


def issue_from_pydantic(error: dict[str, Any]) -> Issue:
    loc = list(error.get("loc", ()))
    if loc and loc[0] in ("body", "query", "path", "header"):  # where it was (a field may be named so too)
        loc = loc[1:]
    indexes = [part for part in loc if isinstance(part, int)]
    names = [str(part) for part in loc if not isinstance(part, int)]
    field = ".".join(names) or None
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "value_error" and isinstance(ctx.get("error"), ValueError) and ctx["error"].args:
        # Our own validators raise ValueError("code: message").
        code, _, message = str(ctx["error"].args[0]).partition(": ")
    else:
        code, template = _PYDANTIC_CODES.get(kind, ("invalid_value", "valeur invalide"))
        try:
            message = template.format(**ctx)
        except (KeyError, IndexError):
            message = template
    return Issue(code=code, message=f"{field} : {message}" if field else message,
                 row=indexes[0] + 1 if indexes else None, column=None, field=field)


#: The methods a route of the service may serve (HEAD follows GET, see ``service.http.routing``).
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path, with HEAD wherever GET is (the
    router's own 405 names only the methods of the first route matched)."""
    allowed = [method for method in _METHODS
               if any(route.matches({**request.scope, "method": method})[0] is Match.FULL
                      for route in request.app.router.routes)]
    if "GET" in allowed:
        allowed.insert(1, "HEAD")
    return allowed


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError) -> JSONResponse:
        return domain_problem(exc)

    @app.exception_handler(HttpProblem)
    async def _http_problem(_request: Request, exc: HttpProblem) -> JSONResponse:
        return http_problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _request_validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            return problem_response(status=400, code="malformed_json", title="Requête mal formée",
                                    detail="Le corps de la requête n'est pas un JSON valide.")
        issues = [issue_from_pydantic(e) for e in errors]
        return domain_problem(ValidationFailed(issues))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: ("not_found", "Introuvable", "Aucune ressource à cette adresse."),
                 405: ("method_not_allowed", "Méthode non admise", "Cette méthode n'est pas admise ici."),
                 400: ("bad_request", "Requête mal formée", "La requête est mal formée."),
                 408: ("request_timeout", "Délai dépassé", str(exc.detail)),
                 413: ("payload_too_large", "Requête trop volumineuse", str(exc.detail))}
        code, title, detail = codes.get(exc.status_code, ("http_error", "Erreur", str(exc.detail)))
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            allowed = _allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            detail = f"Méthode {request.method} non admise ici ; méthodes admises : {', '.join(allowed)}."
        return problem_response(status=exc.status_code, code=code, title=title, detail=detail, headers=headers)

    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # An outage is an operating condition, not a defect: one line, no traceback.
        if is_database_full(exc):
            log.warning("database full (%s %s): %s", request.method, request.url.path, short_reason(exc))
            return http_problem_response(database_full())
        log.warning("database unavailable (%s %s): %s", request.method, request.url.path, short_reason(exc))
        return database_unavailable()

    for family in DB_UNAVAILABLE:
        app.add_exception_handler(family, _database_unavailable)

    @app.exception_handler(OSError)
    async def _os_error(request: Request, exc: OSError) -> JSONResponse:
        if not is_disk_full(exc):
            raise exc  # to the handler of unexpected errors
        # A full disk is an operating condition: one line, no traceback, and its own answer.
        log.warning("no space left (%s %s): %s", request.method, request.url.path, exc)
        return http_problem_response(storage_full())

    @app.exception_handler(OffloadTimeout)
    async def _too_long(request: Request, exc: OffloadTimeout) -> JSONResponse:
        log.warning("file too long to write (%s %s): over %g s", request.method, request.url.path, exc.seconds)
        return problem_response(status=503, code="export_too_long", title="Fichier trop long à produire",
                                detail=f"Le fichier demandé n'a pu être produit en {exc.seconds:g} s. Restreignez la "
                                       "demande (une région, un jalon) ou réessayez plus tard.",
                                headers={"Retry-After": "60"})

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return problem_response(status=500, code="internal_error", title="Erreur interne",
                                detail="Une erreur interne est survenue ; elle a été journalisée.")


#: Seconds a client should wait before trying again after a 503.
RETRY_AFTER_SECONDS = 5


def database_unavailable() -> JSONResponse:
    return problem_response(status=503, code="database_unavailable", title="Service indisponible",
                            detail="La base de données est momentanément injoignable ; rien n'a été enregistré. "
                                   f"Réessayez dans {RETRY_AFTER_SECONDS} secondes.",
                            headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problems a route may answer."""
    descriptions = {
        400: "Corps mal formé (`malformed_json`, `malformed_multipart`).",
        401: "Clé d'API absente ou invalide (`unauthenticated`).",
        403: "Le rôle de la clé ne permet pas cette action.",
        404: "Objet inexistant ou hors du périmètre de la clé.",
        409: "L'état actuel refuse l'action (jalon non ouvert, demande close, …).",
        413: "Corps trop volumineux (`payload_too_large`, `proof_too_large`).",
        415: "Type de contenu non pris en charge (`unsupported_media_type`, `proof_modifiable_format`, "
             "`proof_unsupported_type`).",
        422: "Données invalides : chaque erreur est listée dans `errors` avec ligne, colonne, champ et code.",
        429: "Trop de requêtes pour la classe de la route (`rate_limited`) : rien n'a été fait ; réessayer après "
             "le délai de `Retry-After`. `RateLimit-Policy` et `RateLimit` disent le quota et ce qu'il en reste.",
        500: "Incident interne signalé à l'exploitation (`proof_integrity_error`, `proof_missing_from_store`).",
        503: "Base de données momentanément injoignable (`database_unavailable`), ou fichier trop long à "
             "produire (`export_too_long`) : rien n'a été fait ; réessayer après le délai de l'en-tête "
             "`Retry-After`.",
        507: "Espace disque épuisé, pour les fichiers (`storage_full`) ou pour la base de données "
             "(`database_full`) : rien n'a été enregistré ; réessayer après le délai de `Retry-After`.",
    }
    return {
        status: {"description": descriptions[status], "model": ProblemDetails,
                 "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
                 **({"headers": RATE_LIMIT_HEADERS} if status == 429 else {})}
        for status in (*statuses, 429, 503, 507)
    }


#: The headers of a 429, as the OpenAPI document describes them.
RATE_LIMIT_HEADERS = {
    "Retry-After": {"description": "Secondes à attendre avant la prochaine requête admise.",
                    "schema": {"type": "integer", "minimum": 1}},
    "RateLimit-Policy": {"description": "Le quota de la classe : `\"exports\";q=30;w=60` (30 requêtes par 60 s).",
                         "schema": {"type": "string"}},
    "RateLimit": {"description": "Ce qu'il en reste : `\"exports\";r=0;t=40` (requêtes restantes, secondes avant "
                                 "le quota entier).", "schema": {"type": "string"}},
}

