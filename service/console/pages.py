"""The console's pages: server-rendered French HTML over the same use cases as the API.

Every page resolves the signed-in person from the session cookie before it reads anything else
(no session: to the sign-in page); every form is checked against the session's CSRF token before
it changes anything (403 otherwise). Errors are the use cases' own, with their stable codes and
French messages; an object outside the key's scope answers 404, as in the API.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from service import actors
from service.console import sessions
from service.console.proconnect import PENDING_SECONDS, Pending, Provider, ProviderRefused
from service.console.sessions import SignedIn, SignInRefused
from service.control import use_cases as control
from service.domain.access import ROLE_LABELS, Role
from service.domain.errors import DomainError, Forbidden, NotFound, ValidationFailed
from service.domain.lifecycle import Milestone
from service.domain.notifications import BY_CODE, MAX_MESSAGE, categories_for
from service.domain.review import Decision, OutcomeCommand, ProofRequestCommand, ReviewCommand
from service.evidence import serving as evidence_serving
from service.http.limits import address_of, caller_of, enforce
from service.http.problems import STATUS_BY_ERROR, HttpProblem
from service.http.schemas import Page
from service.kit.db import Database
from service.kit.mailing import Mailing
from service.kit.pagination import PageRequest
from service.kit.rate_limits import DEFAULT, EXPORTS, SIGN_IN
from service.kit.settings import Settings
from service.models import iso_z, utcnow
from service.notifications import preferences, thread, unsubscribe
from service.notifications.schemas import PreferenceChange
from service.obligations import use_cases as obligations
from service.organisations import people
from service.proofs import serving as proof_serving
from service.reports import serving as report_serving
from service.review import use_cases as reviews
from service.submissions import use_cases as submissions

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
PREFIX = "/console"
#: Largest form accepted (url-encoded); a proof upload is bounded by the proof's own limit.
MAX_FORM_BYTES = 64 * 1024
#: How often a session's last use is written (it decides the idle expiry, to this precision).
TOUCH_EVERY = timedelta(minutes=1)
#: Items per page of a list; the next page is linked (``?curseur=``, the API's cursor).
PAGE_SIZE = 50
T = TypeVar("T")

router = APIRouter(prefix=PREFIX, include_in_schema=False)

INDICATORS = [("active_files", "Dossiers actifs", "G / H"), ("personal_plan", "Projet personnalisé", "I / G"),
              ("agenda", "Agenda", "J / G"), ("mssante", "MS Santé", "F / I"), ("dmp", "DMP", "E / I")]
FIELD_LABELS = {"dmp_fed": "E – DMP alimentés", "mss_messages_sent": "F – messages MS Santé",
                "active_dui": "G – DUI actifs", "persons_accompanied": "H – personnes accompagnées",
                "dui_with_personal_plan": "I – DUI avec projet personnalisé",
                "dui_with_agenda_event": "J – DUI avec événement d'agenda", "raison_sociale": "raison sociale",
                "period_start": "début de période", "period_end": "fin de période"}
DECISIONS = {"accepted": "acceptée", "rejected": "rejetée", "changes_requested": "corrections demandées"}
NEXT_ACTIONS = {"answer_proof_request": "répondre à une demande de preuve", "push": "transmettre les données",
                "resubmit": "transmettre une version corrigée", "upload_proofs": "déposer les preuves",
                "await_review": "attendre la décision de l'ARS", "none": "rien à faire"}
OUTCOMES = {"compliant": "conforme", "non_compliant": "non conforme"}
CASE_STATUS = {"open": "à prendre en charge", "claimed": "pris en charge", "closed": "clos"}


class NeedSignIn(Exception):
    def __init__(self, back: str) -> None:
        super().__init__(back)
        self.back = back


# --- the person, the forms, the answers ---------------------------------------------------------

def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _mailing(request: Request) -> Mailing:
    return Mailing.from_settings(_settings(request))


def _database(request: Request) -> Database:
    return request.app.state.database


def _today(request: Request) -> date:
    return datetime.now(ZoneInfo(_settings(request).timezone)).date()


def _idle(request: Request) -> timedelta:
    return timedelta(minutes=_settings(request).console_idle_minutes)


def _secure(request: Request) -> bool:
    """Cookies are ``Secure`` unless ``SERVICE_PUBLIC_URL`` says that people reach the console
    over plain ``http`` (development): never judged from the request, whose ``Host`` header and
    scheme a reverse proxy may not pass on."""
    public = _settings(request).public_url
    return public is None or not public.startswith("http://")


async def person_of(request: Request) -> SignedIn | None:
    database, today, idle = _database(request), _today(request), _idle(request)
    token = request.cookies.get(sessions.COOKIE)

    def look() -> tuple[SignedIn | None, bool]:
        with database.engine.connect() as conn:
            person = sessions.signed_in(conn, token, today=today, idle=idle)
            stale = person is not None and sessions.needs_touch(conn, person.token_hash, utcnow(), every=TOUCH_EVERY)
            return person, stale

    person, stale = await run_in_threadpool(look)
    if person is not None and stale:
        hashed, now = person.token_hash, utcnow()
        database.writer.submit(lambda session: sessions.touch(session, hashed, now))
    return person


async def read_form(request: Request) -> dict[str, str]:
    """An url-encoded form, bounded; the last value of a repeated field."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if not kind and request.headers.get("content-length", "0") == "0":
        return {}  # a form with no field at all
    if kind != "application/x-www-form-urlencoded":
        raise HttpProblem(415, "unsupported_media_type", "Type de contenu non pris en charge",
                          "Formulaire attendu (application/x-www-form-urlencoded).")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HttpProblem(413, "form_too_large", "Formulaire trop volumineux",
                              f"Le formulaire dépasse {MAX_FORM_BYTES} octets.")
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50))
    except (UnicodeDecodeError, ValueError):
        raise HttpProblem(400, "form_unreadable", "Formulaire illisible", "Le formulaire n'est pas lisible.") \
            from None


def check_csrf(person: SignedIn, fields: Mapping[str, str]) -> None:
    if not sessions.same_token(fields.get("csrf_token"), person.csrf_token):
        raise Forbidden("Jeton de formulaire (CSRF) absent ou invalide : rechargez la page et recommencez. Rien n'a "
                        "été modifié.", code="csrf_invalid")


def _headers() -> dict[str, str]:
    return {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; form-action 'self'; "
                                       "frame-ancestors 'none'; base-uri 'none'"}


def render(request: Request, template: str, person: SignedIn | None, *, status: int = 200,
           **context: Any) -> HTMLResponse:
    role = person.principal.role if person else None
    response = TEMPLATES.TemplateResponse(request, template, {
        "person": person, "role": role.value if role else None, "role_label": ROLE_LABELS.get(role) if role else None,
        "nav": _nav(role), "prefix": PREFIX, "indicators": INDICATORS, "field_labels": FIELD_LABELS,
        "decisions": DECISIONS, "next_actions": NEXT_ACTIONS, "outcomes": OUTCOMES, "case_status": CASE_STATUS,
        "fr_date": fr_date, "fr_datetime": lambda v: fr_datetime(v, _settings(request).timezone), "pct": pct,
        "iso_z": iso_z, "actor": actors.in_words,
        "path": request.url.path, **context}, status_code=status, headers=_headers())
    return response


def _nav(role: Role | None) -> list[tuple[str, str]]:
    if role is None:
        return []
    items = [("obligations", "Mes obligations")]
    if role in (Role.ARS_REVIEWER, Role.ADMIN):
        items.insert(0, ("examen", "Versions à examiner"))
    if role in (Role.CNSA_AUDITOR, Role.ADMIN):
        items.insert(0, ("controle", "File de contrôle"))
    return [(f"{PREFIX}/{slug}", label) for slug, label in items]


def _home(role: Role) -> str:
    if role is Role.CNSA_AUDITOR:
        return f"{PREFIX}/controle"
    if role in (Role.ARS_REVIEWER, Role.ADMIN):
        return f"{PREFIX}/examen"
    return f"{PREFIX}/obligations"


def fr_date(value: Any) -> str:
    if not value:
        return "—"
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return day.strftime("%d/%m/%Y")


def fr_datetime(value: Any, zone: str) -> str:
    if not value:
        return "—"
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment.astimezone(ZoneInfo(zone)).strftime("%d/%m/%Y à %H:%M")


def pct(value: Any) -> str:
    return "non calculable" if value is None else f"{value:.1f} %".replace(".", ",")


def countdown(due_at: datetime, now: datetime) -> str:
    """What is left of a 48-hour delay, in words."""
    left = due_at - now
    if left.total_seconds() <= 0:
        late = -left
        return f"échue depuis {int(late.total_seconds() // 3600)} h {int(late.total_seconds() % 3600 // 60):02d} min"
    return f"reste {int(left.total_seconds() // 3600)} h {int(left.total_seconds() % 3600 // 60):02d} min"


def error_page(request: Request, person: SignedIn | None, exc: Exception) -> HTMLResponse:
    if isinstance(exc, HttpProblem):
        status, code, title, message, issues = exc.status, exc.code, exc.title, exc.detail, []
    else:
        assert isinstance(exc, DomainError)
        status, title = next(((st, ti) for family, (st, ti) in STATUS_BY_ERROR.items() if isinstance(exc, family)),
                             (500, "Erreur"))
        code, message = exc.code, exc.message
        issues = exc.issues if isinstance(exc, ValidationFailed) else []
    return render(request, "erreur.html", person, status=status, title=title, code=code, message=message,
                  issues=issues)


async def page(request: Request, body: Callable[[SignedIn], Awaitable[Response]], *,
               rate: str = DEFAULT) -> Response:
    """A page for a signed-in person, counted in the class ``rate`` of rate limits: to the sign-in
    page without a session; the use cases' refusals as an error page with their status."""
    person = await person_of(request)
    if person is None:
        raise NeedSignIn(request.url.path)
    try:
        await enforce(request, rate, caller_of(person.principal))
        return await body(person)
    except (DomainError, HttpProblem) as exc:
        return error_page(request, person, exc)


async def read(request: Request, fn: Callable[[Session], T]) -> T:
    database = _database(request)

    def run() -> T:
        with Session(database.engine) as session:
            return fn(session)

    return await run_in_threadpool(run)


def page_of(request: Request) -> PageRequest:
    return PageRequest(limit=PAGE_SIZE, cursor=request.query_params.get("curseur") or None)


def next_link(request: Request, cursor: str | None) -> str | None:
    return f"{request.url.path}?curseur={quote(cursor)}" if cursor else None


async def list_page(request: Request, template: str,
                    fetch: Callable[[Session, SignedIn, PageRequest], Page[Any]], **context: Any) -> Response:
    """A page of a list (a use case answering a ``Page``), linked to the next."""
    async def body(person: SignedIn) -> Response:
        listed = await read(request, lambda s: fetch(s, person, page_of(request)))
        return render(request, template, person, items=listed.items,
                      next_page=next_link(request, listed.next_cursor), **context)

    return await page(request, body)


async def form_action(request: Request, back: str, message: str,
                      action: Callable[[Session, SignedIn, dict[str, str]], Any]) -> Response:
    """A form that changes something: read (bounded), its CSRF token checked, the use case run
    through the writer, then back to ``back`` saying ``message``."""
    async def body(person: SignedIn) -> Response:
        fields = await read_form(request)
        check_csrf(person, fields)
        await _database(request).writer.run(lambda session: action(session, person, fields))
        return done(back, message)

    return await page(request, body)


def done(path: str, message: str) -> RedirectResponse:
    """After a change: back to the page, which says what was done (POST, redirect, GET)."""
    return RedirectResponse(f"{path}?fait={quote(message)}", status_code=303)


# --- sign-in, sign-out ---------------------------------------------------------------------------

@router.get("/")
async def home(request: Request) -> Response:
    person = await person_of(request)
    return RedirectResponse(_home(person.principal.role) if person else f"{PREFIX}/connexion", status_code=303)


def _sign_in_form(request: Request, *, status: int = 200, error: str | None = None) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(request, "connexion.html", None, status=status, csrf_token=token, error=error,
                      back=request.query_params.get("suite", ""), done=request.query_params.get("fait"),
                      proconnect=_provider(request) is not None, key_sign_in=_settings(request).console_key_sign_in)
    response.set_cookie(sessions.SIGN_IN_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request),
                        path=f"{PREFIX}/connexion", max_age=3600)
    return response


def _target(back: str, person: SignedIn) -> str:
    """Where to go once signed in: the page asked for, when it is a console page; else home."""
    return back if back.startswith(f"{PREFIX}/") and not back.startswith("//") else _home(person.principal.role)


def _with_session(response: Response, request: Request, token: str) -> Response:
    response.set_cookie(sessions.COOKIE, token, httponly=True, samesite="strict", secure=_secure(request),
                        path=PREFIX, max_age=_settings(request).console_max_hours * 3600)
    return response


@router.get("/connexion")
async def sign_in_page(request: Request) -> Response:
    return _sign_in_form(request)


async def sign_in_counted(request: Request) -> Response | None:
    """Count a step of sign-in against the client's address: the refusal page beyond the rate."""
    try:
        await enforce(request, SIGN_IN, address_of(request))
    except HttpProblem as exc:
        return error_page(request, None, exc)
    return None


@router.post("/connexion")
async def sign_in(request: Request) -> Response:
    if (refused := await sign_in_counted(request)) is not None:
        return refused
    if not _settings(request).console_key_sign_in:
        return error_page(request, None, NotFound("La connexion par clé d'API est désactivée : identifiez-vous avec "
                                                  "ProConnect.", code="key_sign_in_disabled"))
    try:
        fields = await read_form(request)
    except HttpProblem as exc:
        return error_page(request, None, exc)
    if not sessions.same_token(fields.get("csrf_token"), request.cookies.get(sessions.SIGN_IN_COOKIE) or "-"):
        return error_page(request, None, Forbidden("Jeton de formulaire (CSRF) absent ou invalide : rechargez la page "
                                                   "de connexion.", code="csrf_invalid"))
    settings = _settings(request)
    try:
        token, person = await _database(request).writer.run(lambda session: sessions.sign_in(
            session, fields.get("api_key", ""), today=_today(request), idle=_idle(request),
            longest=timedelta(hours=settings.console_max_hours)))
    except SignInRefused as exc:
        return _sign_in_form(request, status=401, error=exc.message)
    response = _with_session(RedirectResponse(_target(fields.get("suite", ""), person), status_code=303), request,
                             token)
    response.delete_cookie(sessions.SIGN_IN_COOKIE, path=f"{PREFIX}/connexion")
    return response


# --- ProConnect -----------------------------------------------------------------------------------

PROCONNECT = f"{PREFIX}/connexion/proconnect"
#: The cookies of a sign-in and of a sign-out under way at the provider (``SameSite=Lax``: the
#: provider's redirect back is a cross-site navigation).
PENDING_COOKIE = "esms_proconnect"
LEAVING_COOKIE = "esms_proconnect_sortie"


def _provider(request: Request) -> Provider | None:
    """The application's ProConnect provider (made at start-up when an issuer is set)."""
    return getattr(request.app.state, "proconnect", None)


def _public(request: Request, path: str) -> str:
    base = _settings(request).public_url or str(request.base_url)
    return base.rstrip("/") + path


def _refusal(request: Request, exc: ProviderRefused) -> Response:
    response = render(request, "refus.html", None, status=exc.status, code=exc.code, message=exc.message)
    response.delete_cookie(PENDING_COOKIE, path=PROCONNECT)
    return response


@router.get("/connexion/proconnect")
async def proconnect(request: Request) -> Response:
    if (refused := await sign_in_counted(request)) is not None:
        return refused
    provider = _provider(request)
    if provider is None:
        return error_page(request, None, NotFound("La connexion avec ProConnect n'est pas configurée.",
                                                  code="proconnect_disabled"))
    try:
        url, pending = await provider.authorization_url(_public(request, f"{PROCONNECT}/retour"),
                                                        request.query_params.get("suite", "")[:300])
    except ProviderRefused as exc:
        return _refusal(request, exc)
    response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(PENDING_COOKIE, pending.cookie(), httponly=True, samesite="lax", secure=_secure(request),
                        path=PROCONNECT, max_age=PENDING_SECONDS)
    return response


@router.get("/connexion/proconnect/retour")
async def proconnect_return(request: Request) -> Response:
    """The provider sends the browser back here: the state checked, the code exchanged, the
    person linked, a session opened; a French page saying why otherwise."""
    if (refused := await sign_in_counted(request)) is not None:
        return refused
    provider, query = _provider(request), request.query_params
    pending = Pending.parse(request.cookies.get(PENDING_COOKIE))
    try:
        if provider is None:
            raise ProviderRefused("proconnect_disabled", "La connexion avec ProConnect n'est pas configurée.", 404)
        if pending is None or not sessions.same_token(query.get("state"), pending.state):
            raise ProviderRefused("oidc_state_invalid", "Cette connexion a expiré ou n'a pas été commencée dans ce "
                                  "navigateur : recommencez-la depuis la page de connexion.")
        if query.get("error") or not query.get("code"):
            raise ProviderRefused("oidc_error", "ProConnect a interrompu la connexion ("
                                  f"{(query.get('error') or 'aucun code')[:100]}) : recommencez-la.")
        identity = await provider.identity(pending, code=query["code"],
                                           redirect_uri=_public(request, f"{PROCONNECT}/retour"))
    except ProviderRefused as exc:
        return _refusal(request, exc)
    settings, today = _settings(request), _today(request)
    signed = people.SignedInIdentity(identity.issuer, identity.subject, identity.email, identity.given_name,
                                     identity.usual_name, identity.siret)

    def open_session(session: Session) -> tuple[str, SignedIn] | Forbidden:
        try:
            person_id = people.link_identity(session, signed, today)
        except Forbidden as refused:  # nothing changed: only the refusal is recorded
            people.record_refusal(session, signed, refused.code)
            return refused
        return sessions.sign_in_person(session, person_id, id_token=identity.id_token, today=today,
                                       idle=_idle(request), longest=timedelta(hours=settings.console_max_hours))

    opened = await _database(request).writer.run(open_session)
    if isinstance(opened, Forbidden):
        return _refusal(request, ProviderRefused(opened.code, opened.message, 403))
    token, person = opened
    assert pending is not None
    # A page, not a redirect: the session's cookie is SameSite=Strict, and a browser does not send
    # it on a redirect chain that started at the provider; a navigation from this page sends it.
    response = render(request, "connecte.html", person, target=_target(pending.back, person))
    response.delete_cookie(PENDING_COOKIE, path=PROCONNECT)
    return _with_session(response, request, token)


@router.post("/deconnexion")
async def sign_out(request: Request) -> Response:
    async def body(person: SignedIn) -> Response:
        check_csrf(person, await read_form(request))
        await _database(request).writer.run(lambda session: sessions.sign_out(session, person))
        response: Response = RedirectResponse(f"{PREFIX}/connexion", status_code=303)
        provider = _provider(request)
        if person.id_token and provider is not None:
            state = secrets.token_urlsafe(32)
            try:
                url = await provider.end_session_url(person.id_token, state, _public(request, f"{PROCONNECT}/sortie"))
            except ProviderRefused:
                url = None  # the service's session has ended; the provider's ends with its own expiry
            if url is not None:
                response = RedirectResponse(url, status_code=303)
                response.set_cookie(LEAVING_COOKIE, state, httponly=True, samesite="lax", secure=_secure(request),
                                    path=PROCONNECT, max_age=PENDING_SECONDS)
        response.delete_cookie(sessions.COOKIE, path=PREFIX)
        return response

    return await page(request, body)


@router.get("/connexion/proconnect/sortie")
async def proconnect_signed_out(request: Request) -> Response:
    """The provider's sign-out sends the browser back here (``post_logout_redirect_uri``)."""
    confirmed = sessions.same_token(request.query_params.get("state"), request.cookies.get(LEAVING_COOKIE) or "-")
    message = "Vous êtes déconnecté(e) de la console et de ProConnect." if confirmed else \
        "Vous êtes déconnecté(e) de la console."
    response = done(f"{PREFIX}/connexion", message)
    response.delete_cookie(LEAVING_COOKIE, path=PROCONNECT)
    return response


# --- ARS: review ------------------------------------------------------------------------------

@router.get("/examen")
async def review_queue(request: Request) -> Response:
    return await list_page(request, "examen.html", lambda s, person, at: reviews.review_queue(
        s, person.principal, at, today=_today(request)))


@router.get("/versions/{submission_id}")
async def version(request: Request, submission_id: str) -> Response:
    async def body(person: SignedIn) -> Response:
        def load(session: Session) -> dict[str, Any]:
            view = submissions.get_submission(session, person.principal, submission_id)
            case = control.case_of_submission(session, person.principal, submission_id) \
                if person.principal.role in (Role.CNSA_AUDITOR, Role.ADMIN) else None
            return {"version": view, "diff": submissions.diff_with_previous(session, person.principal, submission_id),
                    "case_id": case.id if case else None}

        found = await read(request, load)
        role = person.principal.role
        return render(request, "version.html", person, **found, done=request.query_params.get("fait"),
                      may_review=role in (Role.ARS_REVIEWER, Role.ADMIN),
                      may_upload=role in (Role.PORTEUR, Role.VENDOR, Role.ADMIN),
                      decision_choices=[d.value for d in Decision])

    return await page(request, body)


@router.post("/versions/{submission_id}/decision")
async def decide(request: Request, submission_id: str) -> Response:
    def decision(session: Session, person: SignedIn, fields: dict[str, str]) -> Any:
        command = ReviewCommand(decision=fields.get("decision") or None, comment=fields.get("comment") or None)
        return reviews.record_review(session, person.principal, submission_id, command, mailing=mailing)

    mailing = _mailing(request)

    return await form_action(request, f"{PREFIX}/versions/{submission_id}", "Décision enregistrée.", decision)


@router.get("/versions/{submission_id}/synthese.pdf")
async def version_report(request: Request, submission_id: str) -> Response:
    async def body(person: SignedIn) -> Response:
        database, settings = _database(request), _settings(request)

        def make(session: Session) -> Response:
            return report_serving.report_response(submission_id, request, person.principal, session, settings, database)

        return await read(request, make)

    return await page(request, body, rate=EXPORTS)


@router.post("/versions/{submission_id}/preuves")
async def upload(request: Request, submission_id: str) -> Response:
    async def body(person: SignedIn) -> Response:
        await proof_serving.receive_proof(request, person.principal, submission_id, database=_database(request),
                                         settings=_settings(request), today=_today(request),
                                         check_fields=lambda fields: check_csrf(person, fields))
        return done(f"{PREFIX}/versions/{submission_id}", "Preuve déposée.")

    return await page(request, body)


# --- CNSA: control ----------------------------------------------------------------------------

@router.get("/controle")
async def control_queue(request: Request) -> Response:
    return await list_page(request, "controle.html", lambda s, person, at: control.control_queue(
        s, person.principal, at, region_code=None, milestone=None, status=None))


@router.get("/dossiers/{case_id}")
async def case(request: Request, case_id: str) -> Response:
    async def body(person: SignedIn) -> Response:
        def load(session: Session) -> dict[str, Any]:
            view = control.get_case(session, person.principal, case_id)
            rows = submissions.get_submission(session, person.principal, view.submission_id)["rows"]
            return {"case": view, "finesses": [(r["finess"], r["raison_sociale"]) for r in rows]}

        found = await read(request, load)
        now = utcnow()
        countdowns = {pr.id: countdown(pr.due_at, now) for pr in found["case"].proof_requests or []}
        return render(request, "dossier.html", person, **found, countdowns=countdowns,
                      done=request.query_params.get("fait"))

    return await page(request, body)


def _case_action(action: Callable[[Session, SignedIn, str, dict[str, str], Mailing], Any], message: str) -> Any:
    async def handler(request: Request, case_id: str) -> Response:
        mailing = _mailing(request)
        return await form_action(request, f"{PREFIX}/dossiers/{case_id}", message,
                                 lambda s, person, fields: action(s, person, case_id, fields, mailing))

    return handler


router.add_api_route("/dossiers/{case_id}/prise-en-charge", _case_action(
    lambda s, p, case_id, f, m: control.claim(s, p.principal, case_id), "Dossier pris en charge."), methods=["POST"])
router.add_api_route("/dossiers/{case_id}/demandes-de-preuve", _case_action(
    lambda s, p, case_id, f, m: control.request_proof(s, p.principal, case_id, ProofRequestCommand(
        finess=f.get("finess", ""), message=f.get("message", "")), mailing=m),
    "Preuve demandée : à rendre sous 48 heures."), methods=["POST"])
router.add_api_route("/dossiers/{case_id}/conclusion", _case_action(
    lambda s, p, case_id, f, m: control.record_outcome(s, p.principal, case_id, OutcomeCommand(
        outcome=f.get("outcome") or None, comment=f.get("comment") or None), mailing=m),
    "Conclusion enregistrée : dossier clos."), methods=["POST"])


@router.get("/dossiers/{case_id}/dossier-de-preuve.zip")
async def case_bundle(request: Request, case_id: str) -> Response:
    async def body(person: SignedIn) -> Response:
        database, settings = _database(request), _settings(request)
        return await run_in_threadpool(evidence_serving.case_evidence, case_id, request, person.principal,
                                       database, settings)

    return await page(request, body, rate=EXPORTS)


# --- porteurs and vendors: obligations, versions ---------------------------------------------------

@router.get("/obligations")
async def obligations_page(request: Request) -> Response:
    return await list_page(request, "obligations.html", lambda s, person, at: obligations.obligations(
        s, person.principal, at, today=_today(request), now=utcnow()))


@router.get("/demandes/{galis_ref}")
async def versions_of_request(request: Request, galis_ref: str) -> Response:
    return await list_page(request, "demande.html", lambda s, person, at: submissions.list_versions(
        s, person.principal, galis_ref, at, milestone=None), galis_ref=galis_ref,
        milestones={m.value: m.label for m in Milestone})


@router.get("/demandes/{galis_ref}/messages")
async def request_thread(request: Request, galis_ref: str) -> Response:
    return await list_page(request, "fil.html", lambda s, person, at: thread.thread(
        s, person.principal, galis_ref, at), galis_ref=galis_ref, max_message=MAX_MESSAGE,
        done=request.query_params.get("fait"))


@router.post("/demandes/{galis_ref}/messages")
async def post_to_thread(request: Request, galis_ref: str) -> Response:
    mailing = _mailing(request)
    return await form_action(request, f"{PREFIX}/demandes/{galis_ref}/messages", "Message envoyé.",
                             lambda s, person, fields: thread.post(s, person.principal, galis_ref,
                                                                   fields.get("body", ""), mailing=mailing))


# --- a person's mail preferences -------------------------------------------------------------

@router.get("/messages")
async def preferences_page(request: Request) -> Response:
    async def body(person: SignedIn) -> Response:
        items = await read(request, lambda session: preferences.preferences(session, person.principal))
        return render(request, "messages.html", person, items=items, done=request.query_params.get("fait"))

    return await page(request, body)


@router.post("/messages")
async def change_preferences(request: Request) -> Response:
    def change(session: Session, person: SignedIn, fields: dict[str, str]) -> Any:
        kind = person.principal.kind.value
        return preferences.change(session, person.principal, [
            PreferenceChange(category=c.code, mode=fields[c.code]) for c in categories_for(kind)
            if not c.mandatory and fields.get(c.code) in ("instant", "daily", "off")])

    return await form_action(request, f"{PREFIX}/messages", "Préférences enregistrées.", change)


# --- one-click unsubscribe ---------------------------------------------------------------------

async def _unsubscribe_page(request: Request, *, confirm: bool) -> Response:
    """The one-click unsubscribe of a mail (RFC 8058): the link signs the person and category; no
    session. GET shows what the button will do; POST (the mail reader's, or the button's) does it."""
    params = request.query_params
    try:
        # counted per address in the default class: mail providers post from a few addresses
        await enforce(request, DEFAULT, address_of(request))
        if not confirm:
            person, category = await read(request, lambda session: unsubscribe.check(
                session, params.get("p"), params.get("c"), params.get("t")))
            label = ("vos récapitulatifs quotidiens" if category == unsubscribe.DIGEST
                     else f"« {BY_CODE[category].label} »")
            return render(request, "desabonnement.html", None, confirmed=None, label=label, email=person.email,
                          action=f"{request.url.path}?{request.url.query}")
        # The body is not read: the signed query says everything, and mail readers send
        # « List-Unsubscribe=One-Click » as a form or as multipart (RFC 8058), the button as a form.

        def turn_off(session: Session) -> tuple[str, list[str]]:
            person, category = unsubscribe.check(session, params.get("p"), params.get("c"), params.get("t"))
            return person.email, unsubscribe.unsubscribe(session, person, category)

        email, labels = await _database(request).writer.run(turn_off)
        return render(request, "desabonnement.html", None, confirmed=labels, email=email)
    except (DomainError, HttpProblem) as exc:
        return error_page(request, None, exc)


@router.get("/desabonnement")
async def unsubscribe_page(request: Request) -> Response:
    return await _unsubscribe_page(request, confirm=False)


@router.post("/desabonnement")
async def unsubscribe_now(request: Request) -> Response:
    return await _unsubscribe_page(request, confirm=True)


# --- wiring --------------------------------------------------------------------------------------

@router.get("/{rest:path}")
async def not_found(request: Request, rest: str) -> Response:
    return error_page(request, await person_of(request), NotFound("Cette page n'existe pas.", code="page_not_found"))


def install_console(app: FastAPI) -> None:
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.include_router(router)

    async def to_sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, NeedSignIn)
        return RedirectResponse(f"{PREFIX}/connexion?suite={quote(exc.back)}", status_code=303)

    app.add_exception_handler(NeedSignIn, to_sign_in)

