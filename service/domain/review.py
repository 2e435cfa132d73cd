"""ARS decisions on a version and CNSA control outcomes: which are allowed, and when."""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from service.domain.declaration import readable
from service.domain.errors import Conflict, Issue, ValidationFailed
from service.domain.lifecycle import Milestone

MAX_COMMENT = 2000


class Decision(StrEnum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CHANGES_REQUESTED = "changes_requested"


DECISION_LABELS = {
    Decision.ACCEPTED: "acceptée",
    Decision.REJECTED: "rejetée",
    Decision.CHANGES_REQUESTED: "corrections demandées",
}


class Outcome(StrEnum):
    COMPLIANT = "compliant"
    NON_COMPLIANT = "non_compliant"


C = TypeVar("C", bound=StrEnum)

#: The decisions an ARS must explain, and the control outcome a CNSA auditor must (the API's
#: schema says the same, from these: ``comment`` required with them).
DECISIONS_NEEDING_COMMENT = (Decision.REJECTED, Decision.CHANGES_REQUESTED)
OUTCOMES_NEEDING_COMMENT = (Outcome.NON_COMPLIANT,)


def parse_comment(raw: object, *, required: bool, what: str) -> str | None:
    """A free comment: trimmed, bounded, required when the decision must be explained."""
    if raw is not None and not isinstance(raw, str):
        raise ValidationFailed([Issue(code="not_text", field="comment", message="Le commentaire est un texte.")])
    text = " ".join(raw.split()) if isinstance(raw, str) else ""
    if required and not text:
        raise ValidationFailed([Issue(code="comment_required", field="comment",
                                      message=f"Un commentaire est obligatoire pour {what}.")])
    if not readable(text):
        raise ValidationFailed([Issue(code="text_invalid_characters", field="comment",
                                      message="Le commentaire contient des caractères de contrôle ou invalides.")])
    if len(text) > MAX_COMMENT:
        raise ValidationFailed([Issue(code="text_too_long", field="comment",
                                      message=f"Le commentaire compte au plus {MAX_COMMENT} caractères.")])
    return text or None


def check_review(decision: Decision, *, version: int, latest_version: int, already: Decision | None,
                 milestone: Milestone, proofs_missing: Sequence[str]) -> None:
    """Only the latest version of a milestone is reviewed, once; a fin de projet version is
    accepted only when every establishment has a proof."""
    if version != latest_version:
        raise Conflict(f"La version {version} a été remplacée par la version {latest_version} : seule la "
                       "dernière version d'un jalon est examinée.", code="submission_superseded")
    if already is not None:
        raise Conflict(f"Cette version a déjà fait l'objet d'une décision ({DECISION_LABELS[already]}) ; une "
                       "nouvelle décision porte sur une nouvelle version.", code="submission_already_reviewed")
    if decision is Decision.ACCEPTED and milestone is Milestone.FIN_PROJET and proofs_missing:
        shown = ", ".join(proofs_missing[:10]) + (" …" if len(proofs_missing) > 10 else "")
        raise Conflict(f"Une version de fin de projet n'est acceptée que si chaque établissement a une preuve "
                       f"d'usage ; sans preuve : {shown}.", code="proofs_missing")


def _choice(kind: type[C], value: str | None, *, field: str, code: str, message: str) -> C:
    """One of ``kind``'s values, or the refusal ``code`` on ``field``."""
    try:
        return kind(value or "")
    except ValueError:
        raise ValidationFailed([Issue(code=code, field=field, message=message)]) from None


@dataclass(frozen=True)
class ReviewCommand:
    """An ARS decision as asked (the API's body, the console's form), checked by ``checked()``
    once the version is known to be the caller's to decide."""

    decision: str | None
    comment: str | None = None

    def checked(self) -> tuple[Decision, str | None]:
        decision = _choice(Decision, self.decision, field="decision", code="decision_invalid", message=(
            "Décision attendue : « accepted », « rejected » ou « changes_requested »."))
        return decision, parse_comment(self.comment, required=decision in DECISIONS_NEEDING_COMMENT,
                                       what="un rejet ou une demande de corrections")


@dataclass(frozen=True)
class OutcomeCommand:
    """A CNSA control's conclusion as asked, checked by ``checked()`` once the case is the caller's."""

    outcome: str | None
    comment: str | None = None

    def checked(self) -> tuple[Outcome, str | None]:
        outcome = _choice(Outcome, self.outcome, field="outcome", code="outcome_invalid",
                          message="Issue attendue : « compliant » ou « non_compliant ».")
        return outcome, parse_comment(self.comment, required=outcome in OUTCOMES_NEEDING_COMMENT,
                                      what="une conclusion de non-conformité (ses motifs)")


@dataclass(frozen=True)
class ProofRequestCommand:
    """A CNSA auditor's request for the proof of one FINESS of the controlled version."""

    finess: str | None
    message: str | None

    def checked(self, declared: Container[str]) -> tuple[str, str]:
        """The FINESS (one of ``declared``) and the message; every refusal at once."""
        finess = (self.finess or "").strip()
        issues = []
        if finess not in declared:
            issues.append(Issue(code="finess_not_in_version", field="finess",
                                message=f"Le FINESS « {finess} » ne figure pas dans la version contrôlée."))
        message = None
        try:
            message = parse_comment(self.message, required=True, what="une demande de preuve")
        except ValidationFailed as exc:
            issues.extend(Issue(code=i.code, field="message", message=i.message.replace("commentaire", "message"))
                          for i in exc.issues)
        if issues:
            raise ValidationFailed(issues)
        return finess, message or ""
