"""The mail outbox: a mail is written — subject, text and HTML parts — in the transaction of the
change it tells of, then sent by the active deliverer (``service.notifications.sending``). A
crash loses none: a change is committed with its mails or not at all.

Templates are Jinja2, in ``templates/``: ``<name>.subject.txt``, ``<name>.txt`` and
``<name>.html`` (escaped); what a person typed reaches them as text, whatever it holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlmodel import Session, col, select

from service.domain.notifications import Mode, mode_of
from service.models import (
    HeldNotification,
    MailMessage,
    NotificationPreference,
    Organisation,
    Person,
    RequestMessage,
    utcnow,
)

TEMPLATES = Path(__file__).parent / "templates"

_ENV = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, keep_trailing_newline=True,
                   autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False))


def render(template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """The subject (one line), text and HTML parts of ``template`` for ``context``."""
    subject = " ".join(_ENV.get_template(f"{template}.subject.txt").render(context).split())
    return subject, _ENV.get_template(f"{template}.txt").render(context), \
        _ENV.get_template(f"{template}.html").render(context)


def _address(raw: str | None) -> str | None:
    """An address as mails are sent to it (and counted once): trimmed, lower case."""
    return raw.strip().lower() or None if raw else None


def queue(session: Session, *, category: str, template: str, context: dict[str, Any],
          recipients: Iterable[str], request_id: int | None = None, person_id: int | None = None) -> MailMessage | None:
    """A mail to ``recipients`` (each once, as given), added to ``session``: sent once the change
    is committed. ``None`` when nobody is to receive it."""
    to = list(dict.fromkeys(filter(None, map(_address, recipients))))
    if not to:
        return None
    return _add(session, category, render(template, context), to, request_id, person_id)


def _add(session: Session, category: str, parts: tuple[str, str, str], recipients: list[str],
         request_id: int | None, person_id: int | None = None) -> MailMessage:
    subject, text, html = parts
    mail = MailMessage(id=str(uuid.uuid4()), category=category, request_id=request_id, person_id=person_id,
                       recipients=recipients, subject=subject, text_body=text, html_body=html,
                       next_attempt_at=utcnow())
    session.add(mail)
    return mail


@dataclass(frozen=True, slots=True)
class Audience:
    """Who receives one mail of a category: the addresses to write to now (with the person each
    is, ``None`` for an organisation's contact address), and the people who chose to read it in
    their daily digest."""

    addresses: list[tuple[str, int | None]]
    daily: list[int]


def audience(session: Session, category: str, organisation: Organisation | None,
             people: Sequence[int] = (), *, contact: bool = True) -> Audience:
    """The active people of ``organisation`` and the ``people`` named (each by its preference for
    ``category``), and the organisation's ``contact_email`` (unless ``contact`` is false)."""
    who: sa.ColumnElement[bool] = sa.false()
    if organisation is not None:
        who = col(Person.organisation_id) == organisation.id
    if people:
        who = sa.or_(who, col(Person.id).in_(list(people)))
    rows = session.exec(
        select(Person.id, Person.email, NotificationPreference.mode)
        .outerjoin(NotificationPreference, sa.and_(col(NotificationPreference.person_id) == Person.id,
                                                   col(NotificationPreference.category) == category))
        .where(who, col(Person.active).is_(True)).order_by(col(Person.id))).all()
    addresses: list[tuple[str, int | None]] = []
    daily: list[int] = []
    for person_id, address, chosen in rows:
        mode = mode_of(category, Mode(chosen) if chosen else None)
        if mode is Mode.INSTANT:
            addresses.append((address, person_id))
        elif mode is Mode.DAILY and person_id is not None:
            daily.append(person_id)
    if contact and organisation is not None and organisation.contact_email:
        addresses.append((organisation.contact_email, None))
    return Audience(addresses=addresses, daily=daily)


def tell(session: Session, *, category: str, template: str, context: dict[str, Any],
         audiences: Iterable[Audience], request_id: int | None = None, thread: bool = True) -> list[MailMessage]:
    """One mail per address (nobody sees who else was told), what is held for the digests of
    those who read this category daily, and — about a request — its copy in the request's
    thread (unless ``thread`` is false: a mail telling of a message of the thread)."""
    mails: list[MailMessage] = []
    held: list[int] = []
    to: dict[str, int | None] = {}  # each address once, as the person it is when one is
    for group in audiences:
        for raw, person_id in group.addresses:
            address = _address(raw)
            if address:
                to[address] = to.get(address) or person_id
        held.extend(group.daily)
    if not to and not held:
        return mails
    parts = render(template, context)
    mails = [_add(session, category, parts, [address], request_id, person_id) for address, person_id in to.items()]
    for person_id in dict.fromkeys(held):
        session.add(HeldNotification(person_id=person_id, category=category, request_id=request_id,
                                     subject=parts[0]))
    if request_id is not None and thread:
        session.add(RequestMessage(id=str(uuid.uuid4()), request_id=request_id, kind="notification",
                                   subject=parts[0], body=parts[1], mail_id=mails[0].id if mails else None))
    return mails
