"""Milestones (jalons) of a funding request and the events that move them.

* **VA** (Vérification d'Aptitude): opens when the ARS records ``va_validated``; the porteur
  sends usage data only.
* **Fin de projet**: opens on ``vsr_validated`` (Vérification de Service Régulier of the last
  establishment of the grappe); data and proofs are due 3 months later, a date the ARS may
  move with ``deadline_extended``.
* ``balance_paid`` (paiement du solde) closes the request: nothing more is accepted.

Declarations may be sent again as often as needed until the balance is paid.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from service.domain.errors import Conflict, Issue, ValidationFailed

FIN_PROJET_DELAY_MONTHS = 3


class Milestone(StrEnum):
    VA = "va"
    FIN_PROJET = "fin_projet"

    @property
    def label(self) -> str:
        return "Vérification d'Aptitude (VA)" if self is Milestone.VA else "Fin de projet"

    @classmethod
    def parse(cls, raw: object) -> Milestone:
        try:
            return cls(raw)  # type: ignore[arg-type]
        except ValueError:
            raise ValidationFailed([Issue(
                code="milestone_invalid",
                message="Jalon obligatoire : « va » ou « fin_projet »." if raw is None else
                f"Jalon inconnu « {raw} » : valeurs admises « va » ou « fin_projet ».",
                field="milestone",
            )]) from None


class EventType(StrEnum):
    VA_VALIDATED = "va_validated"
    VSR_VALIDATED = "vsr_validated"
    DEADLINE_EXTENDED = "deadline_extended"
    BALANCE_PAID = "balance_paid"


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, clamped to the end of a shorter month (31/11 -> 30/11)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _invalid(code: str, message: str, field: str) -> ValidationFailed:
    return ValidationFailed([Issue(code=code, message=message, field=field)])


@dataclass(frozen=True, slots=True)
class LifecycleState:
    va_opened_on: date | None = None
    fin_projet_opened_on: date | None = None
    fin_projet_due_on: date | None = None
    closed_on: date | None = None

    @property
    def is_closed(self) -> bool:
        return self.closed_on is not None

    def opened_on(self, milestone: Milestone) -> date | None:
        return self.va_opened_on if milestone is Milestone.VA else self.fin_projet_opened_on

    def require_not_closed(self) -> None:
        """After the balance is paid, nothing more is accepted: no declaration, no proof."""
        if self.is_closed:
            raise Conflict(
                f"La demande est close depuis le paiement du solde ({self.closed_on:%d/%m/%Y}) : "
                "plus aucun envoi n'est accepté.",
                code="request_closed",
            )

    def require_open(self, milestone: Milestone) -> None:
        """Refuse a declaration on a closed request or a milestone not opened yet."""
        self.require_not_closed()
        if self.opened_on(milestone) is None:
            trigger = "la validation de la VA" if milestone is Milestone.VA else "la validation de la VSR"
            raise Conflict(
                f"Le jalon « {milestone.label} » n'est pas ouvert : il s'ouvre avec {trigger}.",
                code="milestone_not_open",
            )

    def lateness_warning(self, milestone: Milestone, *, today: date) -> Issue | None:
        """A fin de projet declaration sent after its due date is accepted but flagged."""
        due = self.fin_projet_due_on
        if milestone is Milestone.FIN_PROJET and due is not None and today > due:
            return Issue(code="deadline_passed",
                         message=f"Envoi après l'échéance du jalon « Fin de projet » ({due:%d/%m/%Y}).")
        return None

    def apply(self, event: EventType, *, on: date, until: date | None, today: date) -> LifecycleState:
        """The state after ``event`` dated ``on``; raise when the event is not allowed now."""
        if on > today:
            raise _invalid("event_date_in_future", f"La date de l'événement ({on:%d/%m/%Y}) est dans le futur.", "date")
        if until is not None and event is not EventType.DEADLINE_EXTENDED:
            raise _invalid("until_not_allowed", "« until » ne s'emploie qu'avec deadline_extended.", "until")
        if self.is_closed:
            raise Conflict(
                f"La demande est close depuis le paiement du solde ({self.closed_on:%d/%m/%Y}).",
                code="request_closed",
            )
        if event is EventType.VA_VALIDATED:
            if self.va_opened_on is not None:
                raise Conflict(f"La VA a déjà été validée le {self.va_opened_on:%d/%m/%Y}.",
                               code="milestone_already_open")
            return replace(self, va_opened_on=on)
        if event is EventType.VSR_VALIDATED:
            if self.fin_projet_opened_on is not None:
                raise Conflict(f"La VSR a déjà été validée le {self.fin_projet_opened_on:%d/%m/%Y}.",
                               code="milestone_already_open")
            if self.va_opened_on is None:
                raise Conflict("La VSR ne peut être validée qu'après la VA.", code="va_not_validated")
            if on < self.va_opened_on:
                raise _invalid("event_date_before_va",
                               f"La VSR ({on:%d/%m/%Y}) ne peut précéder la VA ({self.va_opened_on:%d/%m/%Y}).",
                               "date")
            return replace(self, fin_projet_opened_on=on,
                           fin_projet_due_on=add_months(on, FIN_PROJET_DELAY_MONTHS))
        # deadline_extended and balance_paid both need the fin de projet milestone open.
        if self.fin_projet_opened_on is None or self.fin_projet_due_on is None:
            raise Conflict("Le jalon « Fin de projet » n'est pas ouvert (VSR non validée).",
                           code="milestone_not_open")
        if on < self.fin_projet_opened_on:
            raise _invalid("event_date_before_vsr",
                           f"L'événement ({on:%d/%m/%Y}) ne peut précéder la VSR "
                           f"({self.fin_projet_opened_on:%d/%m/%Y}).", "date")
        if event is EventType.DEADLINE_EXTENDED:
            if until is None:
                raise _invalid("until_required", "« until » (nouvelle échéance) est obligatoire pour une prolongation.",
                               "until")
            if until <= self.fin_projet_due_on:
                raise _invalid("until_not_later",
                               f"La nouvelle échéance ({until:%d/%m/%Y}) doit être postérieure à l'échéance "
                               f"actuelle ({self.fin_projet_due_on:%d/%m/%Y}).", "until")
            return replace(self, fin_projet_due_on=until)
        return replace(self, closed_on=on)
