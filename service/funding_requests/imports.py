"""Bulk onboarding of funding requests from the GALIS platform's CSV: all or nothing, idempotent.

The file: ``;``-separated UTF-8 (a BOM allowed), header
``galis_ref;siret;porteur_name;campaign_year;finess;name;category`` (columns A to G), one line per
establishment, the lines of one request sharing its reference, SIRET, porteur and campaign. Each
request is registered by the same use case as ``POST /v1/funding-requests`` (every rule, the
FINESS registry's included), each in a savepoint so that every problem of every request is
found; any problem refuses the whole file, by line and column, and nothing is stored. A request
already registered with the same content is left as it is: the same file sent again creates
nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pydantic
from sqlmodel import Session, select

from service.domain import access
from service.domain.access import Principal
from service.domain.errors import DomainError, Issue, ValidationFailed
from service.funding_requests.schemas import FundingRequestCreate
from service.funding_requests.use_cases import create_funding_request
from service.http.problems import issue_from_pydantic
from service.models import Establishment, FundingRequest

HEADER = ("galis_ref", "siret", "porteur_name", "campaign_year", "finess", "name", "category")
COLUMN = dict(zip(HEADER, "ABCDEFG", strict=True))
#: Fields of a request that every one of its lines must repeat identically.
_SHARED = ("siret", "porteur_name", "campaign_year")


class DryRun(Exception):
    """Raised at the end of a dry run so that the writer rolls back what it did; carries the answer."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("dry run")
        self.result = result


@dataclass
class _Request:
    first_line: int
    shared: dict[str, str]
    lines: list[int] = field(default_factory=list)
    establishments: list[dict[str, Any]] = field(default_factory=list)


def _issue(code: str, message: str, line: int, column: str | None = None) -> Issue:
    return Issue(code=code, message=message, row=line, column=COLUMN.get(column or ""), field=column)


def _rows(content: bytes) -> Iterator[tuple[int, list[str]]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise ValidationFailed([_issue("file_not_utf8", "Fichier attendu en UTF-8 : un octet ne se lit pas "
                                       "(enregistrez le CSV en « UTF-8 »).", line)]) from None
    for number, fields in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=";"), start=1):
        if any(f.strip() for f in fields):
            yield number, [f.strip() for f in fields]


def parse(content: bytes) -> dict[str, _Request]:
    """The requests of the file, by reference, every problem of its form raised at once."""
    rows = _rows(content)
    first = next(rows, None)
    if first is None or tuple(h.lower() for h in first[1]) != HEADER:
        raise ValidationFailed([_issue("import_header", "En-tête attendu : " + ";".join(HEADER) + ".", 1)])
    issues: list[Issue] = []
    requests: dict[str, _Request] = {}
    for line, fields in rows:
        if len(fields) != len(HEADER):
            issues.append(_issue("import_columns", f"{len(fields)} colonne(s) au lieu de {len(HEADER)}.", line))
            continue
        values = dict(zip(HEADER, fields, strict=True))
        req = requests.get(values["galis_ref"])
        if req is None:
            requests[values["galis_ref"]] = req = _Request(line, {k: values[k] for k in _SHARED})
        else:
            for name in _SHARED:
                if values[name] != req.shared[name]:
                    issues.append(_issue("import_request_inconsistent", (
                        f"La demande {values['galis_ref']} a « {req.shared[name]} » en ligne {req.first_line} et "
                        f"« {values[name]} » ici : toutes ses lignes portent le même {name}."), line, name))
        req.lines.append(line)
        req.establishments.append({"finess": values["finess"], "name": values["name"] or None,
                                   "category": values["category"] or None})
    if issues:
        raise ValidationFailed(issues)
    return requests


def _payload(ref: str, req: _Request) -> tuple[FundingRequestCreate | None, list[Issue]]:
    year = req.shared["campaign_year"]
    body = {"galis_ref": ref, "siret": req.shared["siret"], "porteur_name": req.shared["porteur_name"],
            "campaign_year": int(year) if year.isdigit() else year, "establishments": req.establishments}
    try:
        return FundingRequestCreate.model_validate(body), []
    except pydantic.ValidationError as exc:
        return None, [_placed(issue_from_pydantic(dict(error)), req) for error in exc.errors()]


def _placed(issue: Issue, req: _Request) -> Issue:
    """An issue about a request (its row: the establishment's rank) placed at its line and column."""
    line = req.lines[issue.row - 1] if issue.row and issue.row <= len(req.lines) else req.first_line
    name = (issue.field or "").removeprefix("establishments.")
    return _issue(issue.code, issue.message, line, name if name in COLUMN else None)


def _same(session: Session, ref: str, payload: FundingRequestCreate) -> bool | None:
    """Whether a request ``ref`` is registered with this content (``None``: not registered)."""
    existing = session.exec(select(FundingRequest).where(FundingRequest.galis_ref == ref)).first()
    if existing is None:
        return None
    stored = {e.finess for e in session.exec(select(Establishment).where(Establishment.request_id == existing.id))}
    return (existing.siret, existing.porteur_name, existing.campaign_year, stored) == (
        payload.siret, payload.porteur_name.strip(), payload.campaign_year, {e.finess for e in payload.establishments})


def import_requests(session: Session, principal: Principal, content: bytes, *, today: date,
                    dry_run: bool) -> dict[str, Any]:
    access.require_may_create_requests(principal)
    requests = parse(content)
    issues: list[Issue] = []
    created: list[str] = []
    unchanged: list[str] = []
    establishments = 0
    for ref, req in requests.items():
        payload, problems = _payload(ref, req)
        if payload is None:
            issues += problems
            continue
        same = _same(session, ref, payload)
        if same:
            unchanged.append(ref)
            continue
        try:
            with session.begin_nested():
                create_funding_request(session, principal, payload, today=today)
        except ValidationFailed as exc:
            issues += [_placed(i, req) for i in exc.issues]
            continue
        except DomainError as exc:  # a conflict or a request outside the caller's région
            issues.append(_issue(exc.code, exc.message, req.first_line, "galis_ref" if same is False else None))
            continue
        created.append(ref)
        establishments += len(payload.establishments)
    if issues:
        raise ValidationFailed(sorted(issues, key=lambda i: (i.row or 0, i.column or "")))
    result = {"created": len(created), "establishments": establishments, "requests": created,
              "unchanged": unchanged, "dry_run": dry_run}
    if dry_run:
        raise DryRun(result)
    return result
