"""Typed errors raised by the business rules. They carry no HTTP status:
``service.http.problems`` maps each family to one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding about one place of a declaration (an error or a warning).

    ``row`` is the 1-based row of the JSON ``rows`` array (or the spreadsheet row),
    ``column`` the template letter A–L when the field has one.
    """

    code: str
    message: str
    row: int | None = None
    column: str | None = None
    field: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "row": self.row,
            "column": self.column,
            "field": self.field,
            "code": self.code,
            "message": self.message,
        }


class DomainError(Exception):
    """Base of every rule violation; ``code`` is stable, ``message`` is French."""

    code: str = "domain_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class InvalidIdentifier(DomainError):
    """An identifier (FINESS, SIRET, GALIS) failed one of its format rules."""


class ValidationFailed(DomainError):
    """A payload broke one or more rules; every issue found is carried, not only the first."""

    code = "validation_failed"

    def __init__(self, issues: list[Issue], message: str | None = None, *, code: str | None = None) -> None:
        n = len(issues)
        super().__init__(
            message
            or (f"La requête contient {n} erreur." if n == 1 else f"La requête contient {n} erreurs."),
            code=code,
        )
        self.issues = issues


class NotFound(DomainError):
    """The object does not exist, or lies outside the caller's scope (not revealed)."""

    code = "not_found"


class Forbidden(DomainError):
    """The caller may see the object but its role does not allow the action."""

    code = "forbidden"


class Conflict(DomainError):
    """The action is valid in itself but the current state refuses it."""

    code = "conflict"
