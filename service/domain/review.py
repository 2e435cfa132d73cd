"""ARS decisions on a version and CNSA control outcomes: which are allowed, and when."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

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
