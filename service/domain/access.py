"""Who may see and do what. Pure rules over a caller (``Principal``) and an object's scope.

Roles: ``admin`` (everything); ``ars_reviewer`` (one région); ``cnsa_auditor`` (national,
read and control); ``porteur`` (one SIRET: its own requests); ``vendor`` (the GALIS
references it is mandated for). An object outside the caller's scope is reported as absent
(not revealed); an object in scope that the role may not change is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from service.domain.errors import Forbidden, NotFound

#: The day of the programme (a mandate's first and last day, a key's expiry) is Paris's.
PROGRAMME_ZONE = ZoneInfo("Europe/Paris")


class Role(StrEnum):
    ADMIN = "admin"
    ARS_REVIEWER = "ars_reviewer"
    CNSA_AUDITOR = "cnsa_auditor"
    PORTEUR = "porteur"
    VENDOR = "vendor"


ROLE_LABELS = {
    Role.ADMIN: "administrateur",
    Role.ARS_REVIEWER: "ARS",
    Role.CNSA_AUDITOR: "CNSA",
    Role.PORTEUR: "porteur de projet",
    Role.VENDOR: "éditeur DUI",
}


class Kind(StrEnum):
    """The kinds of organisation; each acts with one role."""

    PORTEUR = "porteur"
    EDITEUR = "editeur"
    ARS = "ars"
    CNSA = "cnsa"
    ADMINISTRATION = "administration"


ROLE_OF_KIND = {Kind.PORTEUR: Role.PORTEUR, Kind.EDITEUR: Role.VENDOR, Kind.ARS: Role.ARS_REVIEWER,
                Kind.CNSA: Role.CNSA_AUDITOR, Kind.ADMINISTRATION: Role.ADMIN}
KIND_OF_ROLE = {role: kind for kind, role in ROLE_OF_KIND.items()}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who calls: an API key (``key_id``) or a person signed in (``person_id``, ``key_id`` 0), acting
    with its organisation's scope. ``label`` names it in records (a key's label, or « Marie Dupont
    (ARS Occitanie) »); an éditeur's ``galis_refs`` are its active mandates when it was looked up."""

    key_id: int
    role: Role
    label: str = ""
    region_code: str | None = None
    siret: str | None = None
    galis_refs: frozenset[str] = frozenset()
    organisation_id: int | None = None
    organisation_name: str = ""
    person_id: int | None = None
    manager: bool = False
    #: How records name it: a person's « Marie Dupont », a key's label (its prefix without one).
    name: str = ""

    @property
    def kind(self) -> Kind:
        return KIND_OF_ROLE[self.role]


@dataclass(frozen=True, slots=True)
class RequestScope:
    """What decides who sees a funding request."""

    galis_ref: str
    siret: str
    region_code: str


def sees_request(principal: Principal, scope: RequestScope) -> bool:
    role = principal.role
    if role in (Role.ADMIN, Role.CNSA_AUDITOR):
        return True
    if role is Role.ARS_REVIEWER:
        return principal.region_code == scope.region_code
    if role is Role.PORTEUR:
        return principal.siret == scope.siret
    return scope.galis_ref in principal.galis_refs


def require_sees(principal: Principal, scope: RequestScope) -> None:
    if not sees_request(principal, scope):
        raise not_found_request(scope.galis_ref)


def not_found_request(galis_ref: str) -> NotFound:
    return NotFound(f"Demande GALIS {galis_ref} introuvable.", code="funding_request_not_found")


def require_may_create_request(principal: Principal, *, region_code: str | None) -> None:
    """Admin anywhere; an ARS reviewer only in its own région."""
    if principal.role is Role.ADMIN:
        return
    if principal.role is Role.ARS_REVIEWER:
        if region_code is None or region_code == principal.region_code:
            return
        raise Forbidden(
            f"Les établissements relèvent de la région {region_code}, hors du périmètre de votre ARS "
            f"(région {principal.region_code}).",
            code="region_out_of_scope",
        )
    raise Forbidden("Seule une ARS (ou un administrateur) enregistre les demandes de financement.",
                    code="role_not_allowed")


def require_may_create_requests(principal: Principal) -> None:
    """The role alone, before the establishments (and so the région) are known."""
    require_may_create_request(principal, region_code=None)


def require_may_record_event(principal: Principal) -> None:
    """Milestones are recorded by the ARS of the région (scope checked by ``require_sees``) or an admin."""
    if principal.role not in (Role.ADMIN, Role.ARS_REVIEWER):
        raise Forbidden("Seule l'ARS de la région enregistre les jalons d'une demande.", code="role_not_allowed")


def require_may_submit(principal: Principal) -> None:
    """Declarations are pushed by a mandated vendor, the porteur itself, or an admin."""
    if principal.role not in (Role.ADMIN, Role.PORTEUR, Role.VENDOR):
        raise Forbidden(
            "Les données d'usage sont transmises par le porteur ou un éditeur mandaté, pas par "
            f"un compte {ROLE_LABELS[principal.role]}.",
            code="role_not_allowed",
        )


def require_may_review(principal: Principal) -> None:
    """Versions are reviewed by the ARS of the région (scope checked by ``require_sees``) or an admin."""
    if principal.role not in (Role.ADMIN, Role.ARS_REVIEWER):
        raise Forbidden("Seule l'ARS de la région rend une décision sur une version.", code="role_not_allowed")


def require_may_control(principal: Principal) -> None:
    """The control queue is the CNSA's (and an admin's)."""
    if principal.role not in (Role.ADMIN, Role.CNSA_AUDITOR):
        raise Forbidden("Le contrôle des déclarations est réservé aux auditeurs de la CNSA.", code="role_not_allowed")


def require_may_use_threads(principal: Principal) -> None:
    """A request's messages are between its porteur, its ARS (scope checked by ``require_sees``),
    the CNSA and the administrators."""
    if principal.role not in (Role.PORTEUR, Role.ARS_REVIEWER, Role.CNSA_AUDITOR, Role.ADMIN):
        raise Forbidden("Les messages d'une demande sont échangés entre le porteur, son ARS, la CNSA et les "
                        "administrateurs.", code="role_not_allowed")


def require_may_follow_changes(principal: Principal) -> None:
    """The feed of changed versions is for the CNSA (national), an ARS (its région) and an admin."""
    if principal.role not in (Role.ADMIN, Role.CNSA_AUDITOR, Role.ARS_REVIEWER):
        raise Forbidden("Le fil des versions modifiées est réservé à la CNSA et aux ARS.", code="role_not_allowed")


def require_may_manage_registry(principal: Principal) -> None:
    """Reference data (the FINESS extract) is imported by an administrator."""
    if principal.role is not Role.ADMIN:
        raise Forbidden("Seul un administrateur importe l'extrait FINESS.", code="role_not_allowed")


def require_may_manage_targets(principal: Principal) -> None:
    """Target sets are set by an administrator."""
    if principal.role is not Role.ADMIN:
        raise Forbidden("Seul un administrateur fixe les jeux de cibles.", code="role_not_allowed")


def require_may_read_mail(principal: Principal) -> None:
    """The mails the service sent (to whom, how it went) are for the administrators."""
    if principal.role is not Role.ADMIN:
        raise Forbidden("Seul un administrateur consulte les courriels envoyés par le service.",
                        code="role_not_allowed")


def require_may_see_statistics(principal: Principal) -> None:
    """Peer statistics are for the ARS (their région and the national level), the CNSA and admins."""
    if principal.role not in (Role.ADMIN, Role.CNSA_AUDITOR, Role.ARS_REVIEWER):
        raise Forbidden("Les statistiques comparées sont réservées aux ARS et à la CNSA.", code="role_not_allowed")


def require_may_manage_keys(principal: Principal) -> None:
    """Every key of the service is listed by an administrator only."""
    if principal.role is not Role.ADMIN:
        raise Forbidden("Seul un administrateur gère les clés d'API.", code="role_not_allowed")


def require_may_grant_mandates(principal: Principal) -> None:
    """A porteur (its managers) mandates éditeurs for its requests; an administrator anywhere."""
    if principal.role not in (Role.ADMIN, Role.PORTEUR):
        raise Forbidden("Seul le porteur de la demande (ou un administrateur) mandate un éditeur.",
                        code="role_not_allowed")


def require_may_end_mandates(principal: Principal) -> None:
    """A mandate ends by the porteur, by the éditeur giving it up, or by an administrator."""
    if principal.role not in (Role.ADMIN, Role.PORTEUR, Role.VENDOR):
        raise Forbidden("Seul le porteur de la demande, l'éditeur mandaté ou un administrateur met fin à un mandat.",
                        code="role_not_allowed")


def manages(principal: Principal, organisation_id: int) -> bool:
    """An administrator manages every organisation; a manager (person or key) its own."""
    return principal.role is Role.ADMIN or (principal.manager and principal.organisation_id == organisation_id)


def require_manages(principal: Principal, organisation_id: int, what: str) -> None:
    """``what`` (« gérer les clés d'API ») is for the organisation's managers; a member is refused."""
    if not manages(principal, organisation_id):
        raise Forbidden(f"Seuls les gestionnaires de l'organisation peuvent {what}.", code="manager_required")


def sees_organisation(principal: Principal, organisation_id: int, kind: str) -> bool:
    """Administrators and the CNSA see every organisation; everyone sees the éditeurs (a porteur
    chooses its vendor among them); otherwise one's own."""
    return (principal.role in (Role.ADMIN, Role.CNSA_AUDITOR) or kind == Kind.EDITEUR
            or principal.organisation_id == organisation_id)


def standing(revoked_at: datetime | None, expires_on: date | None, today: date | None) -> str:
    """``revoked``, ``expired`` (from its ``expires_on`` day) or ``active``: the one rule of a key's use."""
    if revoked_at is not None:
        return "revoked"
    if expires_on is not None and today is not None and today >= expires_on:
        return "expired"
    return "active"


def mandate_in_force(revoked_at: datetime | None, starts_on: date | None, ends_on: date | None, today: date) -> bool:
    """A mandate lets its éditeur push from ``starts_on`` to ``ends_on`` (both included) until revoked."""
    return revoked_at is None and (starts_on is None or starts_on <= today) and (ends_on is None or today <= ends_on)
