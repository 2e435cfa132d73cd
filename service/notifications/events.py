"""What the service tells people, event by event: who receives which mail, with what in it.

Each function queues its mails in the caller's transaction (``service.notifications.outbox``);
the timed ones (reminders, digests) are jobs of the active deliverer's housekeeping and take the
instant they run at, so that the tests give them theirs.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session, col, select

from service.domain.french_time import long_date, long_instant
from service.domain.lifecycle import Milestone
from service.domain.notifications import (
    PROOF_REMINDER_BEFORE,
    Mode,
    digest_day,
    fin_projet_reminder_due,
    mode_of,
    next_fin_projet_reminder_on,
)
from service.domain.review import DECISION_LABELS, Decision, Outcome
from service.kit.mailing import Mailing
from service.models import (
    ControlCase,
    Establishment,
    FundingRequest,
    HeldNotification,
    MailDigest,
    NotificationPreference,
    Organisation,
    Person,
    ProofRequest,
    Submission,
)
from service.notifications.outbox import Audience, audience, queue, tell

#: Most versions a digest lists (the oldest first); it says how many there are in all.
DIGEST_LISTED = 20


def porteur_of(session: Session, req: FundingRequest) -> Organisation | None:
    return session.exec(select(Organisation).where(Organisation.kind == "porteur",
                                                   Organisation.siret == req.siret)).first()


def ars_of(session: Session, region_code: str) -> Organisation | None:
    return session.exec(select(Organisation).where(Organisation.kind == "ars",
                                                   Organisation.region_code == region_code)).first()


# --- Proof requests ---------------------------------------------------------------------------

def _proof_request_context(session: Session, mailing: Mailing, pr: ProofRequest) -> tuple[FundingRequest,
                                                                                         dict[str, Any]]:
    req = session.get(FundingRequest, pr.request_id)
    case = session.get(ControlCase, pr.case_id)
    assert req is not None and case is not None
    establishment = session.exec(select(Establishment.name).where(Establishment.finess == pr.finess)).first()
    return req, {
        "finess": pr.finess, "establishment": establishment or "", "galis_ref": req.galis_ref,
        "porteur": req.porteur_name, "milestone": Milestone(pr.milestone).label, "message": pr.message,
        "requested": long_instant(pr.requested_at, mailing.zone), "due": long_instant(pr.due_at, mailing.zone),
        "link": mailing.link(f"/console/versions/{case.submission_id}"),
    }


def proof_request_opened(session: Session, mailing: Mailing, pr: ProofRequest) -> None:
    """The porteur is told at once what the CNSA asks, for which FINESS, and by when."""
    req, context = _proof_request_context(session, mailing, pr)
    tell(session, category="proof_request", template="proof_request.opened", context=context,
         audiences=[audience(session, "proof_request", porteur_of(session, req))], request_id=req.id)


def remind_proof_requests(session: Session, now: datetime, *, mailing: Mailing, limit: int = 500) -> int:
    """Timed: the porteur reminded once, ``PROOF_REMINDER_BEFORE`` the deadline of each proof
    request still unanswered. How many reminders were queued."""
    due = list(session.exec(
        select(ProofRequest).where(col(ProofRequest.answered_at).is_(None), col(ProofRequest.reminded_at).is_(None),
                                   ProofRequest.due_at > now, ProofRequest.due_at <= now + PROOF_REMINDER_BEFORE)
        .order_by(col(ProofRequest.due_at)).limit(limit).with_for_update()))
    for pr in due:
        pr.reminded_at = now
        session.add(pr)
        req, context = _proof_request_context(session, mailing, pr)
        tell(session, category="proof_request", template="proof_request.reminder", context=context,
             audiences=[audience(session, "proof_request", porteur_of(session, req))], request_id=req.id)
    return len(due)


def proof_request_overdue(session: Session, mailing: Mailing, pr: ProofRequest) -> None:
    """Past the deadline: the porteur, and the CNSA person who asked (or the CNSA's contact
    address when a key asked)."""
    req, context = _proof_request_context(session, mailing, pr)
    asker: Audience
    if pr.requested_by_person_id is not None:
        asker = audience(session, "proof_request", None, [pr.requested_by_person_id])
    else:
        cnsa = session.exec(select(Organisation).where(Organisation.kind == "cnsa")).first()
        asker = Audience(addresses=[(cnsa.contact_email, None)] if cnsa and cnsa.contact_email else [], daily=[])
    tell(session, category="proof_request", template="proof_request.overdue", context=context,
         audiences=[audience(session, "proof_request", porteur_of(session, req)), asker], request_id=req.id)


# --- Daily digests ----------------------------------------------------------------------------

def _digest_people(session: Session) -> list[tuple[Person, Organisation]]:
    """Whoever may get a digest: ARS people (the review queue is theirs, daily by default) and
    anyone with news held for it."""
    held = select(HeldNotification.person_id).where(col(HeldNotification.digest_id).is_(None))
    rows = session.exec(select(Person, Organisation).join(Organisation, col(Organisation.id) == Person.organisation_id)
                        .where(col(Person.active).is_(True),
                               sa.or_(col(Organisation.kind) == "ars", col(Person.id).in_(held)))
                        .order_by(col(Person.id))).all()
    return [(person, organisation) for person, organisation in rows]


def _awaiting_review(session: Session, region_code: str) -> tuple[int, list[tuple[Submission, FundingRequest]]]:
    waiting = (select(Submission, FundingRequest).join(FundingRequest, col(FundingRequest.id) == Submission.request_id)
               .where(col(Submission.awaiting_review), FundingRequest.region_code == region_code,
                      col(FundingRequest.closed_on).is_(None)))
    listed = session.exec(waiting.order_by(col(Submission.received_at), col(Submission.id))
                          .limit(DIGEST_LISTED)).all()
    if len(listed) < DIGEST_LISTED:
        return len(listed), [(sub, req) for sub, req in listed]
    count = session.exec(select(sa.func.count()).select_from(waiting.subquery())).one()
    return int(count), [(sub, req) for sub, req in listed]


def queue_digests(session: Session, now: datetime, *, mailing: Mailing) -> int:
    """Timed: each person's digest of the day, once, from ``mailing.digest_hour`` on a working
    day (of its région for an ARS): the versions awaiting review in its région (ARS people who
    read them daily) and what it chose to read daily. How many digests were queued."""
    queued = 0
    done: dict[date, set[int]] = {}
    waiting: dict[str, tuple[int, list[tuple[Submission, FundingRequest]]]] = {}
    for person, organisation in _digest_people(session):
        assert person.id is not None
        day = digest_day(now, mailing.zone, mailing.digest_hour, organisation.region_code)
        if day is None:
            continue
        if day not in done:
            done[day] = set(session.exec(select(MailDigest.person_id).where(MailDigest.day == day)).all())
        if person.id in done[day]:
            continue
        context = _digest_context(session, mailing, person, organisation, day, waiting)
        digest = MailDigest(person_id=person.id, day=day)
        session.add(digest)
        session.flush()
        if context is not None:
            mail = queue(session, category="digest", template="digest", context=context, recipients=[person.email],
                         person_id=person.id)
            if mail is not None:
                session.flush()
                digest.mail_id = mail.id
                session.add(digest)
                queued += 1
            for held in context["held"]:
                held.digest_id = digest.id
                session.add(held)
    return queued


def _digest_context(session: Session, mailing: Mailing, person: Person, organisation: Organisation, day: date,
                    waiting: dict[str, tuple[int, list[tuple[Submission, FundingRequest]]]]) -> dict[str, Any] | None:
    """What one person's digest says; ``None`` when it would say nothing."""
    count, listed = 0, list[tuple[Submission, FundingRequest]]()
    if organisation.kind == "ars" and organisation.region_code:
        chosen = session.get(NotificationPreference, (person.id, "review_queue"))
        if mode_of("review_queue", Mode(chosen.mode) if chosen else None) is Mode.DAILY:
            if organisation.region_code not in waiting:
                waiting[organisation.region_code] = _awaiting_review(session, organisation.region_code)
            count, listed = waiting[organisation.region_code]
    held = list(session.exec(select(HeldNotification).where(HeldNotification.person_id == person.id,
                                                            col(HeldNotification.digest_id).is_(None))
                             .order_by(col(HeldNotification.created_at), col(HeldNotification.id))))
    if not count and not held:
        return None
    return {
        "day": long_date(day), "name": " ".join(filter(None, (person.given_name, person.usual_name))),
        "organisation": organisation.name, "awaiting_count": count,
        "awaiting": [{"galis_ref": req.galis_ref, "porteur": req.porteur_name,
                      "milestone": Milestone(sub.milestone).label, "version": sub.version,
                      "received": long_date(sub.received_at.astimezone(ZoneInfo(mailing.zone)).date()),
                      "link": mailing.link(f"/console/versions/{sub.id}")} for sub, req in listed],
        "more": max(0, count - len(listed)), "queue_link": mailing.link("/console/examen"),
        "held": held, "preferences_link": mailing.link("/console/messages"),
    }


# --- Decisions, controls, mandates ------------------------------------------------------------

def review_decided(session: Session, mailing: Mailing, req: FundingRequest, sub: Submission, *, decision: str,
                   comment: str | None, by: str) -> None:
    """The porteur is told the ARS decision on its version, with the comment."""
    tell(session, category="review", template="review.decided", request_id=req.id,
         audiences=[audience(session, "review", porteur_of(session, req))],
         context={"galis_ref": req.galis_ref, "porteur": req.porteur_name,
                  "milestone": Milestone(sub.milestone).label, "version": sub.version,
                  "decision": DECISION_LABELS[Decision(decision)], "accepted": decision == Decision.ACCEPTED.value,
                  "comment": comment or "", "by": by, "link": mailing.link(f"/console/versions/{sub.id}")})


def control_concluded(session: Session, mailing: Mailing, case: ControlCase, *, outcome: str,
                      comment: str | None, by: str) -> None:
    """A control concluded non compliant: the porteur and the ARS of the région are told, with
    the reasons."""
    if outcome != Outcome.NON_COMPLIANT.value:
        return
    req = session.get(FundingRequest, case.request_id)
    assert req is not None
    tell(session, category="control", template="control.non_compliant", request_id=req.id,
         audiences=[audience(session, "control", porteur_of(session, req)),
                    audience(session, "control", ars_of(session, req.region_code))],
         context={"galis_ref": req.galis_ref, "porteur": req.porteur_name,
                  "milestone": Milestone(case.milestone).label, "version": case.version, "comment": comment or "",
                  "by": by, "link": mailing.link(f"/console/versions/{case.submission_id}")})


def mandate_changed(session: Session, mailing: Mailing, req: FundingRequest, editeur: Organisation, *,
                    granted: bool, by_editeur: bool, starts_on: date | None, ends_on: date | None, by: str) -> None:
    """A mandate granted or withdrawn: the éditeur is told; one it gave up itself: the porteur."""
    told = porteur_of(session, req) if by_editeur else editeur
    tell(session, category="mandate", template="mandate.granted" if granted else "mandate.revoked",
         request_id=req.id, audiences=[audience(session, "mandate", told)],
         context={"galis_ref": req.galis_ref, "porteur": req.porteur_name, "editeur": editeur.name,
                  "starts_on": long_date(starts_on) if starts_on else "", "ends_on": long_date(ends_on) if ends_on
                  else "", "by": by, "by_editeur": by_editeur})


# --- Fin de projet ----------------------------------------------------------------------------

def _fin_projet_context(mailing: Mailing, req: FundingRequest, today: date | None = None) -> dict[str, Any]:
    assert req.fin_projet_due_on is not None
    return {"galis_ref": req.galis_ref, "porteur": req.porteur_name,
            "opened_on": long_date(req.fin_projet_opened_on) if req.fin_projet_opened_on else "",
            "due_on": long_date(req.fin_projet_due_on),
            "days_left": (req.fin_projet_due_on - today).days if today else None,
            "link": mailing.link(f"/console/demandes/{req.galis_ref}")}


def fin_projet_opened(session: Session, mailing: Mailing, req: FundingRequest, *, extended: bool = False) -> None:
    """The VSR validated (or the deadline extended): the porteur is told the fin de projet's due
    date; the reminders start again from it."""
    assert req.fin_projet_due_on is not None
    req.fin_projet_reminders_sent, req.fin_projet_overdue_told_on = "", None
    req.fin_projet_next_reminder_on = next_fin_projet_reminder_on(req.fin_projet_due_on, ())
    session.add(req)
    tell(session, category="fin_projet", template="fin_projet.extended" if extended else "fin_projet.opened",
         request_id=req.id, audiences=[audience(session, "fin_projet", porteur_of(session, req))],
         context=_fin_projet_context(mailing, req))


def remind_fin_projet(session: Session, now: datetime, *, mailing: Mailing, limit: int = 500) -> int:
    """Timed: while a request has no fin de projet version, its porteur is reminded at D-30, D-7
    and D-1 of the due date (in ``mailing.zone``), and told with its ARS once it is overdue. How
    many mails' events were queued."""
    today = now.astimezone(ZoneInfo(mailing.zone)).date()
    open_without_version = (select(FundingRequest).where(
        col(FundingRequest.fin_projet_due_on).is_not(None), col(FundingRequest.closed_on).is_(None),
        FundingRequest.fin_projet_last_version == 0))
    told = 0
    soon = session.exec(open_without_version.where(
        col(FundingRequest.fin_projet_next_reminder_on) <= today, col(FundingRequest.fin_projet_due_on) >= today)
        .order_by(col(FundingRequest.fin_projet_next_reminder_on), col(FundingRequest.id))
        .limit(limit).with_for_update()).all()
    for req in soon:
        assert req.fin_projet_due_on is not None
        sent = tuple(int(days) for days in req.fin_projet_reminders_sent.split(",") if days)
        due = fin_projet_reminder_due(req.fin_projet_due_on, today, sent)
        if due is not None:
            sent = (*sent, due)
            req.fin_projet_reminders_sent = ",".join(str(days) for days in sent)
        req.fin_projet_next_reminder_on = next_fin_projet_reminder_on(req.fin_projet_due_on, sent)
        session.add(req)
        if due is None:
            continue
        tell(session, category="fin_projet", template="fin_projet.reminder", request_id=req.id,
             audiences=[audience(session, "fin_projet", porteur_of(session, req))],
             context=_fin_projet_context(mailing, req, today))
        told += 1
    late = session.exec(open_without_version.where(
        col(FundingRequest.fin_projet_due_on) < today, col(FundingRequest.fin_projet_overdue_told_on).is_(None))
        .order_by(col(FundingRequest.id)).limit(limit).with_for_update()).all()
    for req in late:
        req.fin_projet_overdue_told_on = today
        session.add(req)
        tell(session, category="fin_projet", template="fin_projet.overdue", request_id=req.id,
             audiences=[audience(session, "fin_projet", porteur_of(session, req)),
                        audience(session, "fin_projet", ars_of(session, req.region_code))],
             context=_fin_projet_context(mailing, req, today))
        told += 1
    return told


# --- Versions awaiting review, at once --------------------------------------------------------

def tell_versions_awaiting(session: Session, now: datetime, *, mailing: Mailing, limit: int = 500) -> int:
    """Timed: the ARS people who want each version at once (``review_queue``: ``instant``) are
    told of the versions awaiting review in their région not told yet, in one mail per pass;
    the others read them in their digest. How many versions were told."""
    new = session.exec(
        select(Submission, FundingRequest).join(FundingRequest, col(FundingRequest.id) == Submission.request_id)
        .where(col(Submission.awaiting_review), col(Submission.review_told).is_(False))
        .order_by(col(Submission.received_at), col(Submission.id)).limit(limit)).all()
    by_region: dict[str, list[tuple[Submission, FundingRequest]]] = {}
    for sub, req in new:
        by_region.setdefault(req.region_code, []).append((sub, req))
        sub.review_told = True
        session.add(sub)
    for region_code, versions in by_region.items():
        ars = ars_of(session, region_code)
        instant = audience(session, "review_queue", ars, contact=False)
        if not instant.addresses:
            continue
        tell(session, category="review_queue", template="review_queue.new",
             audiences=[Audience(addresses=instant.addresses, daily=[])],
             context={"count": len(versions), "organisation": ars.name if ars else "",
                      "versions": [{"galis_ref": req.galis_ref, "porteur": req.porteur_name,
                                    "milestone": Milestone(sub.milestone).label, "version": sub.version,
                                    "received": long_instant(sub.received_at, mailing.zone),
                                    "link": mailing.link(f"/console/versions/{sub.id}")} for sub, req in versions],
                      "queue_link": mailing.link("/console/examen")})
    return len(new)
