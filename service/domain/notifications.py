"""Who is told what, and when: the categories of mail, each person's choice per category, the
working days on which digests go out, and the moments of the reminders.

Pure: no I/O, no clock of its own (every rule takes the instant it is asked about).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

from service.domain.declaration import readable
from service.domain.errors import Issue, ValidationFailed


class Mode(enum.StrEnum):
    """How a person wants a category: each mail at once, gathered in one mail a working day, or
    not at all."""

    INSTANT = "instant"
    DAILY = "daily"
    OFF = "off"


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    label: str
    #: Who receives it (organisation kinds): a person of another kind never sees the category.
    kinds: frozenset[str]
    default: Mode
    #: A deadline that decides payment rides on it: it is always sent, at once.
    mandatory: bool = False


CATEGORIES: tuple[Category, ...] = (
    Category("proof_request", "Demandes de preuve de la CNSA (délai de 48 heures), rappels et retards",
             frozenset({"porteur", "cnsa"}), Mode.INSTANT, mandatory=True),
    Category("review", "Décisions de l'ARS sur vos versions", frozenset({"porteur"}), Mode.INSTANT),
    Category("fin_projet", "Ouverture, rappels et retard de la fin de projet", frozenset({"porteur", "ars"}),
             Mode.INSTANT, mandatory=True),
    Category("review_queue", "Versions en attente de revue dans votre région", frozenset({"ars"}), Mode.DAILY),
    Category("control", "Contrôles conclus non conformes", frozenset({"porteur", "ars"}), Mode.INSTANT),
    Category("mandate", "Mandats accordés et retirés", frozenset({"editeur"}), Mode.INSTANT),
    Category("message", "Nouveaux messages sur une demande", frozenset({"porteur", "ars", "cnsa", "administration"}),
             Mode.INSTANT),
)
BY_CODE = {category.code: category for category in CATEGORIES}


class PreferenceRefused(ValueError):
    """A choice a category does not allow; ``code`` and the French ``message`` say why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def categories_for(kind: str) -> list[Category]:
    """The categories a person of an organisation of ``kind`` may receive."""
    return [category for category in CATEGORIES if kind in category.kinds]


def check_choice(kind: str, code: str, mode: Mode) -> Category:
    """The category, if a person of ``kind`` may choose ``mode`` for it; else ``PreferenceRefused``."""
    category = BY_CODE.get(code)
    if category is None or kind not in category.kinds:
        raise PreferenceRefused("notification_unknown", f"« {code} » n'est pas une catégorie de messages "
                                                        "proposée à votre organisation")
    if category.mandatory and mode is not Mode.INSTANT:
        raise PreferenceRefused("notification_mandatory", f"« {category.label} » : ces messages portent un délai "
                                                          "dont dépend le paiement ; ils sont toujours envoyés "
                                                          "aussitôt")
    return category


def mode_of(code: str, chosen: Mode | None) -> Mode:
    """What a person receives of category ``code``: its choice, else the category's default; a
    mandatory category always at once."""
    category = BY_CODE[code]
    if category.mandatory:
        return Mode.INSTANT
    return chosen or category.default


# --- Working days -----------------------------------------------------------------------------

#: Régions (INSEE codes) whose public holidays are not only the national ones.
_HOLIDAY_SUBDIVISION = {"01": "971", "02": "972", "03": "973", "04": "974", "06": "976"}


@lru_cache(maxsize=64)
def _holidays(year: int, region_code: str | None) -> frozenset[date]:
    days = holidays.country_holidays("FR", subdiv=_HOLIDAY_SUBDIVISION.get(region_code or ""), years=year)
    return frozenset(days)


def is_working_day(day: date, region_code: str | None = None) -> bool:
    """Monday to Friday, except the public holidays of France (and of the overseas région)."""
    return day.weekday() < 5 and day not in _holidays(day.year, region_code)


#: The overseas régions' own time zones: their agents' mornings are not Paris's.
REGION_ZONES = {"01": "America/Guadeloupe", "02": "America/Martinique", "03": "America/Cayenne",
                "04": "Indian/Reunion", "06": "Indian/Mayotte"}


def digest_day(now: datetime, zone: str, hour: int, region_code: str | None = None) -> date | None:
    """The day whose digest is due at ``now``: today (in ``zone``, or the overseas région's
    own) once ``hour`` has struck on a working day; ``None`` before that hour or on a day off
    (nothing is sent on a day off: its news waits for the next working day's digest)."""
    local = now.astimezone(ZoneInfo(REGION_ZONES.get(region_code or "", zone)))
    if local.hour < hour or not is_working_day(local.date(), region_code):
        return None
    return local.date()


# --- Reminders --------------------------------------------------------------------------------

#: Before a proof request's deadline, when its reminder is sent if it is still unanswered.
PROOF_REMINDER_BEFORE = timedelta(hours=12)

#: Before the fin de projet's due date, the days on which a reminder goes out while no version
#: of the fin de projet exists (D-30, D-7, D-1).
FIN_PROJET_REMINDER_DAYS = (30, 7, 1)


def fin_projet_reminder_due(due_on: date, today: date, sent: tuple[int, ...]) -> int | None:
    """The reminder (days before ``due_on``) due ``today``, given those ``sent``: the nearest one
    whose day has come and which was not sent. A reminder missed (the service down that day) is
    sent late, but only the nearest: the porteur is not told three times at once."""
    left = (due_on - today).days
    if left < 0:
        return None
    come = [days for days in FIN_PROJET_REMINDER_DAYS if left <= days]
    if not come:
        return None
    nearest = min(come)
    return None if nearest in sent or any(days < nearest for days in sent) else nearest



def next_fin_projet_reminder_on(due_on: date, sent: tuple[int, ...]) -> date | None:
    """The day the next reminder is due, given those ``sent``: the nearest of D-30, D-7 and D-1
    after the last one sent; ``None`` once D-1 is."""
    later = [days for days in FIN_PROJET_REMINDER_DAYS if not sent or days < min(sent)]
    return due_on - timedelta(days=max(later)) if later else None

# --- Messages of a request's thread -----------------------------------------------------------

MAX_MESSAGE = 5000
#: What a message may hold, for clients: no control character but tabs and line breaks, and
#: something that is not a space (what ``parse_message`` checks). The characters themselves, not
#: ``\u`` escapes, which some validators' regular expressions read otherwise; lone surrogates,
#: which UTF-8 JSON cannot carry, are left out.
_UNREADABLE_IN_MESSAGE = "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff"
MESSAGE_PATTERN = f"^[^{_UNREADABLE_IN_MESSAGE}]*[^\\s{_UNREADABLE_IN_MESSAGE}][^{_UNREADABLE_IN_MESSAGE}]*$"


def parse_message(raw: object) -> str:
    """A message as written: lines kept (``\\r\\n`` and ``\\r`` become ``\\n``), trimmed, at most
    ``MAX_MESSAGE`` characters, no control character but line breaks and tabs; every refusal at
    ``body``."""
    if not isinstance(raw, str):
        raise ValidationFailed([Issue(code="not_text", field="body", message="Le message est un texte.")])
    text = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        raise ValidationFailed([Issue(code="message_empty", field="body", message="Le message est vide.")])
    if not all(readable(line.replace("\t", " ")) for line in text.split("\n")):
        raise ValidationFailed([Issue(code="text_invalid_characters", field="body",
                                      message="Le message contient des caractères de contrôle ou invalides (seuls "
                                              "les retours à la ligne et les tabulations sont admis).")])
    if len(text) > MAX_MESSAGE:
        raise ValidationFailed([Issue(code="text_too_long", field="body",
                                      message=f"Le message compte au plus {MAX_MESSAGE} caractères ({len(text)} "
                                              "reçus).")])
    return text
