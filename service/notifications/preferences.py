"""Each person's choice per category of mail: ``instant``, ``daily`` (in the working day's
digest) or ``off``; mandatory categories are always sent at once."""

from __future__ import annotations

from sqlmodel import Session, select

from service.domain.access import Principal
from service.domain.errors import Forbidden, Issue, ValidationFailed
from service.domain.notifications import Mode, PreferenceRefused, categories_for, check_choice
from service.models import NotificationPreference, utcnow
from service.notifications.schemas import PreferenceChange, PreferenceOut


def _person(principal: Principal) -> int:
    if principal.person_id is None:
        raise Forbidden("Les préférences de messages sont celles d'une personne : une clé d'API ne reçoit pas de "
                        "courriels (l'adresse de contact de son organisation, si elle en a une, les reçoit tous).",
                        code="person_only")
    return principal.person_id


def preferences(session: Session, principal: Principal) -> list[PreferenceOut]:
    """Every category the person's organisation may receive, with its choice (or the default)."""
    person_id = _person(principal)
    chosen = {p.category: Mode(p.mode) for p in session.exec(
        select(NotificationPreference).where(NotificationPreference.person_id == person_id))}
    return [PreferenceOut(category=c.code, label=c.label, mode=Mode.INSTANT if c.mandatory else chosen.get(c.code,
                                                                                                           c.default),
                          default=c.default, mandatory=c.mandatory)
            for c in categories_for(principal.kind.value)]


def change(session: Session, principal: Principal, changes: list[PreferenceChange]) -> list[PreferenceOut]:
    """Record the choices given (the others are left as they are); all or nothing."""
    person_id = _person(principal)
    issues = []
    for index, item in enumerate(changes):
        try:
            check_choice(principal.kind.value, item.category, Mode(item.mode))
        except PreferenceRefused as refused:
            issues.append(Issue(code=refused.code, field=f"items[{index}]", message=refused.message))
    if issues:
        raise ValidationFailed(issues)
    now = utcnow()
    for item in changes:
        row = session.get(NotificationPreference, (person_id, item.category))
        if row is None:
            row = NotificationPreference(person_id=person_id, category=item.category, mode=item.mode)
        row.mode, row.updated_at = item.mode, now
        session.add(row)
    session.flush()
    return preferences(session, principal)
