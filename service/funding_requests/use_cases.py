"""Use cases of funding requests (demandes GALIS) and their lifecycle events.

Load rows, call the domain rules, persist; no HTTP and no commit here.
"""

from __future__ import annotations

import unicodedata
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service.audit import trail as audit
from service.domain import access
from service.domain.access import Principal
from service.domain.declaration import COUNT_FIELDS
from service.domain.errors import Conflict, InvalidIdentifier, Issue, ValidationFailed
from service.domain.identifiers import REGIONS, Finess, region_name
from service.domain.lifecycle import EventType, LifecycleState, Milestone
from service.domain.proofs import DeclaredRow
from service.funding_requests.schemas import EstablishmentIn, FundingRequestCreate, LifecycleEventCreate
from service.kit.mailing import Mailing
from service.kit.pagination import Key, Keyset, PageRequest
from service.models import (
    ESTABLISHMENT_TABLE,
    FUNDING_REQUEST_TABLE,
    Establishment,
    FundingRequest,
    LifecycleEvent,
    SubmissionRow,
)
from service.notifications import events as tell
from service.organisations import directory
from service.registry.finess import registry_of
from service.scope import load_request, scoped_requests_query
from service.webhooks import outbox

#: The column counting the versions of each milestone (the latest version's number).
LAST_VERSION = {
    Milestone.VA: FUNDING_REQUEST_TABLE.c.va_last_version,
    Milestone.FIN_PROJET: FUNDING_REQUEST_TABLE.c.fin_projet_last_version,
}


def last_version(req: Any, milestone: Milestone | str) -> int:
    """The number of the latest version of ``milestone`` (0 when none) on a request or its row."""
    return int(getattr(req, LAST_VERSION[Milestone(milestone)].name))


def require_known_region(region_code: str | None) -> None:
    """A région filter names one of the 18 régions (422 ``region_unknown`` otherwise)."""
    if region_code is not None and region_code not in REGIONS:
        raise ValidationFailed([Issue(code="region_unknown", field="region",
                                      message=f"Code de région inconnu « {region_code} ».")])


def lifecycle_state(req: Any) -> LifecycleState:
    """The milestone state of a request (an ORM object or a plain row)."""
    return LifecycleState(va_opened_on=req.va_opened_on, fin_projet_opened_on=req.fin_projet_opened_on,
                          fin_projet_due_on=req.fin_projet_due_on, closed_on=req.closed_on)


# Statements built once: building a statement costs more than running it on the push path.
_ESTABLISHMENTS_OF = select(Establishment).where(Establishment.request_id == sa.bindparam("request_id"))
#: The request row by id (plain row: lifecycle columns and version counters).
REQUEST_ROW_BY_ID = sa.select(FUNDING_REQUEST_TABLE).where(
    FUNDING_REQUEST_TABLE.c.id == sa.bindparam("request_id"))
_CATEGORIES_OF = sa.select(ESTABLISHMENT_TABLE.c.finess, ESTABLISHMENT_TABLE.c.category).where(
    ESTABLISHMENT_TABLE.c.request_id == sa.bindparam("request_id"))


def declared_row(r: SubmissionRow) -> DeclaredRow:
    return DeclaredRow(finess=r.finess, period_start=r.period_start, period_end=r.period_end,
                       counts={f: getattr(r, f) for f in COUNT_FIELDS})


def declared_rows(session: Session, submission_id: str) -> dict[str, DeclaredRow]:
    """What version ``submission_id`` declares, per FINESS, as the proof rules read it."""
    stored = session.exec(select(SubmissionRow).where(SubmissionRow.submission_id == submission_id)).all()
    return {r.finess: declared_row(r) for r in stored}


def categories_of(session: Session, request_id: int) -> dict[str, str | None]:
    """FINESS -> ESMS category of the establishments of a request."""
    return {finess: category for finess, category in session.execute(_CATEGORIES_OF, {"request_id": request_id})}


def request_view(req: FundingRequest, establishments: list[Establishment], *, today: date) -> dict[str, Any]:
    state = lifecycle_state(req)
    return {
        "galis_ref": req.galis_ref,
        "siret": req.siret,
        "porteur_name": req.porteur_name,
        "campaign_year": req.campaign_year,
        "region_code": req.region_code,
        "region_name": region_name(req.region_code),
        "status": "closed" if state.is_closed else "open",
        "closed_on": _iso(req.closed_on),
        "milestones": {
            "va": {"open": state.va_opened_on is not None and not state.is_closed,
                   "opened_on": _iso(state.va_opened_on)},
            "fin_projet": {
                "open": state.fin_projet_opened_on is not None and not state.is_closed,
                "opened_on": _iso(state.fin_projet_opened_on),
                "due_on": _iso(state.fin_projet_due_on),
                "overdue": bool(state.fin_projet_due_on and not state.is_closed and today > state.fin_projet_due_on),
            },
        },
        "establishments": [{"finess": e.finess, "name": e.name, "category": e.category}
                           for e in sorted(establishments, key=lambda e: e.finess)],
        "created_at": req.created_at.isoformat(),
    }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def establishments_of(session: Session, request_id: int) -> list[Establishment]:
    return list(session.exec(_ESTABLISHMENTS_OF, params={"request_id": request_id}))


def create_funding_request(session: Session, principal: Principal, payload: FundingRequestCreate,
                           *, today: date) -> dict[str, Any]:
    """Register a request with its grappe; its région is the one of its FINESS géographiques."""
    access.require_may_create_request(principal, region_code=None)  # role first: 403 before any 422
    issues: list[Issue] = []
    galis_ref, siret = payload.galis_ref, payload.siret  # validated by the schema
    finesses: list[Finess] = []
    accepted: list[tuple[int, EstablishmentIn, str]] = []  # (row, establishment, FINESS) of each valid one
    regions: dict[str, list[str]] = {}
    seen: set[str] = set()
    for index, est in enumerate(payload.establishments, start=1):
        try:
            finess = Finess.parse(est.finess)
            region = finess.region_code
        except InvalidIdentifier as exc:
            issues.append(Issue(code=exc.code, message=exc.message, row=index, field="establishments.finess"))
            continue
        if finess.value in seen:
            issues.append(Issue(code="finess_duplicate", row=index, field="establishments.finess",
                                message=f"Le FINESS {finess.value} figure deux fois dans la grappe."))
            continue
        seen.add(finess.value)
        finesses.append(finess)
        accepted.append((index, est, finess.value))
        regions.setdefault(region, []).append(finess.value)
    if len(regions) > 1:
        detail = " ; ".join(f"région {code} ({region_name(code)}) : {', '.join(f)}"
                            for code, f in sorted(regions.items()))
        issues.append(Issue(
            code="establishments_multiple_regions", field="establishments",
            message=f"Tous les établissements d'une demande relèvent d'une même ARS ; trouvé {detail}."))
    known = registry_of(session, [f.value for f in finesses])
    names, warnings = _names_and_categories(accepted, known, issues)
    if issues:
        raise ValidationFailed(issues)
    region_code = next(iter(regions))
    access.require_may_create_request(principal, region_code=region_code)

    if session.exec(select(FundingRequest.id).where(FundingRequest.galis_ref == galis_ref)).first() is not None:
        raise Conflict(f"La demande GALIS {galis_ref} est déjà enregistrée.", code="galis_ref_exists")
    funded = session.exec(select(Establishment.finess).where(
        Establishment.finess.in_([f.value for f in finesses]))).all()  # type: ignore[attr-defined]
    if funded:
        raise Conflict(
            "Un FINESS géographique ne peut recevoir qu'un seul financement ESMS Numérique ; déjà financé(s) : "
            + ", ".join(sorted(funded)) + ".",
            code="finess_already_funded",
        )
    porteur = directory.porteur_of(session, siret, payload.porteur_name.strip())
    if payload.contact_email and not porteur.contact_email:
        porteur.contact_email = payload.contact_email
        session.add(porteur)
    req = FundingRequest(galis_ref=galis_ref, siret=siret, porteur_name=payload.porteur_name.strip(),
                         campaign_year=payload.campaign_year, region_code=region_code,
                         created_by_key_id=principal.key_id or None, created_by_person_id=principal.person_id)
    session.add(req)
    session.flush()
    assert req.id is not None
    establishments = [Establishment(request_id=req.id, finess=f.value, name=names[f.value][0],
                                    category=names[f.value][1]) for f in finesses]
    session.add_all(establishments)
    session.flush()
    audit.record(session, principal, "funding_request_created", "funding_request", galis_ref, request_id=req.id,
                 galis_ref=galis_ref, payload={
                     "siret": siret, "porteur_name": req.porteur_name, "campaign_year": req.campaign_year,
                     "region_code": region_code,
                     "establishments": [[e.finess, e.name, e.category] for e in establishments],
                     "warnings": [w.as_dict() for w in warnings]})
    return {**request_view(req, establishments, today=today), "warnings": [w.as_dict() for w in warnings]}


def _names_and_categories(accepted: list[tuple[int, EstablishmentIn, str]], known: dict[str, Any] | None,
                          issues: list[Issue]) -> tuple[dict[str, tuple[str, str | None]], list[Issue]]:
    """Each establishment's name and category: as the request says them or, when it omits them,
    as the FINESS registry knows them. Once an extract is imported, a FINESS the registry does not
    know, or knows as closed, is refused; a name or category that differs from it is a warning."""
    names: dict[str, tuple[str, str | None]] = {}
    warnings: list[Issue] = []
    for index, est, finess in accepted:
        row = None if known is None else known.get(finess)
        if known is not None and row is None:
            issues.append(Issue(code="finess_unknown", row=index, field="establishments.finess", message=(
                f"Le FINESS {est.finess} est inconnu du répertoire FINESS (dernier extrait importé) : vérifiez "
                "qu'il s'agit bien d'un FINESS géographique ouvert.")))
            continue
        if row is not None and row.closed_on is not None:
            issues.append(Issue(code="finess_closed", row=index, field="establishments.finess", message=(
                f"Le FINESS {est.finess} ({row.name}) est fermé selon le répertoire FINESS : absent de l'extrait "
                f"du {row.closed_on.isoformat()}.")))
            continue
        name = est.name.strip() if est.name else (row.name if row is not None else None)
        category = est.category or (row.category_code if row is not None else None)
        if name is None:
            issues.append(Issue(code="field_required", row=index, field="establishments.name", message=(
                f"Donnez la raison sociale du FINESS {est.finess} (aucun extrait FINESS importé pour la lire).")))
            continue
        if row is not None and est.name and _plain(est.name) != _plain(row.name) and \
                _plain(est.name) != _plain(row.long_name or ""):
            warnings.append(Issue(code="finess_name_differs", row=index, field="establishments.name", message=(
                f"La raison sociale « {est.name.strip()} » diffère de celle du répertoire FINESS pour "
                f"{est.finess} : « {row.name} ».")))
        if row is not None and est.category and row.category_code and est.category != row.category_code:
            label = row.category_label or "sans libellé"
            warnings.append(Issue(code="finess_category_differs", row=index, field="establishments.category",
                                  message=f"La catégorie {est.category} diffère de celle du répertoire FINESS pour "
                                          f"{finess} : {row.category_code} ({label})."))
        names[finess] = (name, category)
    return names, warnings


def _plain(name: str) -> str:
    """A name as compared with the registry's: case, accents and spacing aside."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def get_funding_request(session: Session, principal: Principal, galis_ref: str, *, today: date) -> dict[str, Any]:
    req = load_request(session, principal, galis_ref)
    assert req.id is not None
    return request_view(req, establishments_of(session, req.id), today=today)


def record_event(session: Session, principal: Principal, galis_ref: str, payload: LifecycleEventCreate,
                 *, today: date, mailing: Mailing) -> dict[str, Any]:
    """Apply a milestone event under the request's row lock and keep it in the history; the
    fin de projet's opening and extensions are mailed to the porteur."""
    req = load_request(session, principal, galis_ref, for_update=True)
    access.require_may_record_event(principal)
    assert req.id is not None
    new_state = lifecycle_state(req).apply(EventType(payload.type), on=payload.date, until=payload.until,
                                           today=today)
    req.va_opened_on = new_state.va_opened_on
    req.fin_projet_opened_on = new_state.fin_projet_opened_on
    req.fin_projet_due_on = new_state.fin_projet_due_on
    req.closed_on = new_state.closed_on
    session.add(req)
    session.add(LifecycleEvent(request_id=req.id, type=payload.type.value, event_on=payload.date,
                               until=payload.until, recorded_by_key_id=principal.key_id or None,
                               recorded_by_person_id=principal.person_id))
    session.flush()
    audit.record(session, principal, "lifecycle_event_recorded", "funding_request", req.galis_ref,
                 request_id=req.id, galis_ref=req.galis_ref, payload={
                     "type": payload.type.value, "date": payload.date.isoformat(), "until": _iso(payload.until)})
    _announce(session, req.id, payload.type, new_state)
    if payload.type in (EventType.VSR_VALIDATED, EventType.DEADLINE_EXTENDED):
        tell.fin_projet_opened(session, mailing, req, extended=payload.type is EventType.DEADLINE_EXTENDED)
    return request_view(req, establishments_of(session, req.id), today=today)


def _announce(session: Session, request_id: int, event: EventType, state: LifecycleState) -> None:
    """The webhook event of a milestone event, queued with it."""
    if event is EventType.VA_VALIDATED:
        outbox.emit(session, "milestone.opened", request_id=request_id, data={
            "milestone": Milestone.VA.value, "opened_on": _iso(state.va_opened_on), "due_on": None})
    elif event is EventType.VSR_VALIDATED:
        outbox.emit(session, "milestone.opened", request_id=request_id, data={
            "milestone": Milestone.FIN_PROJET.value, "opened_on": _iso(state.fin_projet_opened_on),
            "due_on": _iso(state.fin_projet_due_on)})
    elif event is EventType.DEADLINE_EXTENDED:
        outbox.emit(session, "deadline.extended", request_id=request_id, data={
            "milestone": Milestone.FIN_PROJET.value, "due_on": _iso(state.fin_projet_due_on)})
    else:
        outbox.emit(session, "request.closed", request_id=request_id, data={"closed_on": _iso(state.closed_on)})


def list_events(session: Session, principal: Principal, galis_ref: str) -> list[dict[str, Any]]:
    req = load_request(session, principal, galis_ref)
    events = session.exec(select(LifecycleEvent).where(LifecycleEvent.request_id == req.id)
                          .order_by(LifecycleEvent.id)).all()  # type: ignore[arg-type]
    return [{"type": e.type, "date": e.event_on.isoformat(), "until": _iso(e.until),
             "recorded_at": e.recorded_at.isoformat()} for e in events]


_BY_REFERENCE = Keyset(Key("after", FundingRequest.galis_ref, str))


def list_funding_requests(session: Session, principal: Principal, page: PageRequest, *, today: date,
                          region_code: str | None = None, status: str | None = None) -> dict[str, Any]:
    query = scoped_requests_query(principal)
    if region_code is not None:
        query = query.where(FundingRequest.region_code == region_code)
    if status == "open":
        query = query.where(FundingRequest.closed_on.is_(None))  # type: ignore[union-attr]
    elif status == "closed":
        query = query.where(FundingRequest.closed_on.is_not(None))  # type: ignore[union-attr]
    rows, next_cursor = _BY_REFERENCE.page(list(session.exec(_BY_REFERENCE.select(query, page))), page,
                                           lambda r: (r.galis_ref,))
    ids = [r.id for r in rows]
    ests: dict[int, list[Establishment]] = {}
    if ids:
        for est in session.exec(select(Establishment).where(Establishment.request_id.in_(ids))):  # type: ignore[attr-defined]
            ests.setdefault(est.request_id, []).append(est)
    return {
        "items": [request_view(r, ests.get(r.id or 0, []), today=today) for r in rows],
        "next_cursor": next_cursor,
    }
