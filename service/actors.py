"""Who did something, as every view names it: a person of an organisation, or an API key of one.

``{"type": "person"|"api_key"|"service", "id", "name", "organisation": {"id", "name", "kind"},
"role", "label"}``. ``role`` and ``label`` are the fields views carried before people existed (a
key's role and label); ``type: "service"`` is the service itself (the command line, the sign-in
desk), with no organisation. Records keep the key's and the person's ids; their names are read
when shown, a page of records at a time (two queries, whatever the page's length).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa

from service.domain.access import ROLE_OF_KIND, Kind, Principal
from service.models import API_KEY_TABLE, ORGANISATION_TABLE, PERSON_TABLE

_KEY, _PERSON, _ORG = API_KEY_TABLE, PERSON_TABLE, ORGANISATION_TABLE
_ORG_COLUMNS = (_ORG.c.id.label("org_id"), _ORG.c.name.label("org_name"), _ORG.c.kind.label("org_kind"))


def display_name(person: Any) -> str:
    """« Marie Dupont », or the e-mail address of a person who never signed in."""
    name = " ".join(part for part in (person.given_name, person.usual_name) if part)
    return name or person.email


def _organisation(row: Any) -> dict[str, Any]:
    return {"id": row.org_id, "name": row.org_name, "kind": row.org_kind}


def _person(row: Any) -> dict[str, Any]:
    name = display_name(row)
    return {"type": "person", "id": row.id, "name": name, "organisation": _organisation(row),
            "role": ROLE_OF_KIND[Kind(row.org_kind)].value, "label": f"{name} ({row.org_name})"}


def _key(row: Any) -> dict[str, Any]:
    return {"type": "api_key", "id": row.id, "name": row.label or row.prefix, "organisation": _organisation(row),
            "role": row.role, "label": row.label}


def of_principal(principal: Principal) -> dict[str, Any]:
    """The actor of a change being made (no query: the caller carries its organisation)."""
    organisation = {"id": principal.organisation_id, "name": principal.organisation_name,
                    "kind": principal.kind.value} if principal.organisation_id is not None else None
    if principal.person_id is not None:
        return {"type": "person", "id": principal.person_id, "name": principal.name or principal.label,
                "organisation": organisation, "role": principal.role.value, "label": principal.label}
    if principal.key_id:
        return {"type": "api_key", "id": principal.key_id, "name": principal.name or principal.label,
                "organisation": organisation, "role": principal.role.value, "label": principal.label}
    return service_actor(principal.label, principal.role.value)


def service_actor(label: str, role: str) -> dict[str, Any]:
    return {"type": "service", "id": None, "name": label, "organisation": None, "role": role, "label": label}


Resolve = Callable[[int | None, int | None], dict[str, Any] | None]


def resolver(conn: sa.Connection, refs: Iterable[tuple[int | None, int | None]]) -> Resolve:
    """``(key_id, person_id)`` pairs of some records, read at once; the function naming each
    record's actor (the person when there is one, else the key; ``None`` for neither)."""
    key_ids, person_ids = set(), set()
    for key_id, person_id in refs:
        if person_id:
            person_ids.add(person_id)
        elif key_id:
            key_ids.add(key_id)
    people = {row.id: _person(row) for row in conn.execute(
        sa.select(_PERSON.c.id, _PERSON.c.given_name, _PERSON.c.usual_name, _PERSON.c.email, *_ORG_COLUMNS)
        .join(_ORG, _ORG.c.id == _PERSON.c.organisation_id).where(_PERSON.c.id.in_(sorted(person_ids))))} \
        if person_ids else {}
    keys = {row.id: _key(row) for row in conn.execute(
        sa.select(_KEY.c.id, _KEY.c.label, _KEY.c.prefix, _KEY.c.role, *_ORG_COLUMNS)
        .join(_ORG, _ORG.c.id == _KEY.c.organisation_id).where(_KEY.c.id.in_(sorted(key_ids))))} \
        if key_ids else {}

    def named(key_id: int | None, person_id: int | None) -> dict[str, Any] | None:
        if person_id:
            return people.get(person_id)
        return keys.get(key_id) if key_id else None

    return named


def one(conn: sa.Connection, key_id: int | None, person_id: int | None) -> dict[str, Any] | None:
    """The actor of one record."""
    return resolver(conn, [(key_id, person_id)])(key_id, person_id)


def in_words(actor: Any) -> str:
    """« Marie Dupont (ARS Occitanie) », « clé « Logiciel X » (Éditeur Y) », as pages and PDFs say
    it; ``actor`` a view's dict or its API model."""
    if actor is None:
        return "—"
    def field(of: Any, name: str) -> Any:
        return of.get(name) if isinstance(of, dict) else getattr(of, name)

    organisation = field(actor, "organisation")
    name = field(actor, "name") or "—"
    if field(actor, "type") == "api_key":
        name = f"clé « {name} »"
    return f"{name} ({field(organisation, 'name')})" if organisation else name
