"""The mail outbox: a mail is written — subject, text and HTML parts — in the transaction of the
change it tells of, then sent by the active deliverer (``service.notifications.sending``). A
crash loses none: a change is committed with its mails or not at all.

Templates are Jinja2, in ``templates/``: ``<name>.subject.txt``, ``<name>.txt`` and
``<name>.html`` (escaped); what a person typed reaches them as text, whatever it holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlmodel import Session

from service.models import MailMessage, utcnow

TEMPLATES = Path(__file__).parent / "templates"

_ENV = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, keep_trailing_newline=True,
                   autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False))


def render(template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """The subject (one line), text and HTML parts of ``template`` for ``context``."""
    subject = " ".join(_ENV.get_template(f"{template}.subject.txt").render(context).split())
    return subject, _ENV.get_template(f"{template}.txt").render(context), \
        _ENV.get_template(f"{template}.html").render(context)


def queue(session: Session, *, category: str, template: str, context: dict[str, Any],
          recipients: Iterable[str], request_id: int | None = None) -> MailMessage | None:
    """A mail to ``recipients`` (each once, as given), added to ``session``: sent once the change
    is committed. ``None`` when nobody is to receive it."""
    to = list(dict.fromkeys(address.strip().lower() for address in recipients if address and address.strip()))
    if not to:
        return None
    subject, text, html = render(template, context)
    mail = MailMessage(id=str(uuid.uuid4()), category=category, request_id=request_id, recipients=to,
                       subject=subject, text_body=text, html_body=html, next_attempt_at=utcnow())
    session.add(mail)
    return mail
