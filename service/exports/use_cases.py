"""Exports in the CNSA template: one version, or the latest versions in the caller's scope."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service.domain import indicators
from service.domain.access import Principal
from service.domain.declaration import COUNT_FIELDS
from service.domain.identifiers import region_name
from service.domain.lifecycle import Milestone
from service.exports.files import BlankTemplate, ExportRow
from service.funding_requests.use_cases import LAST_VERSION, require_known_region
from service.models import (
    FUNDING_REQUEST_TABLE,
    SUBMISSION_ROW_TABLE,
    SUBMISSION_TABLE,
    Establishment,
    FundingRequest,
)
from service.scope import load_request, load_submission, scoped_requests_query
from service.target_sets import use_cases as target_sets

_REQ = FUNDING_REQUEST_TABLE
_SUB = SUBMISSION_TABLE
_ROW = SUBMISSION_ROW_TABLE
_COLUMNS = (_REQ.c.galis_ref, _REQ.c.siret, _SUB.c.milestone, _SUB.c.version, _SUB.c.software_name,
            _SUB.c.software_version, _SUB.c.extracted_at, _ROW.c.finess,
            _ROW.c.raison_sociale, *(_ROW.c[f] for f in COUNT_FIELDS), _ROW.c.period_start, _ROW.c.period_end,
            _ROW.c.target_set_id)
#: Rows fetched from the database at a time: an export of the whole programme stays in bounded memory.
_BATCH = 2_000


def version_filename(galis_ref: str, milestone: str, version: int) -> str:
    """File name without extension; it carries the GALIS reference, as a re-imported file must."""
    return f"mesures-usage-{galis_ref}-{milestone}-v{version}"


def version_rows(session: Session, principal: Principal, submission_id: str) -> tuple[str, Iterator[ExportRow]]:
    """One version's rows (the caller must see it), with the file name to give them."""
    sub, req = load_submission(session, principal, submission_id)
    query = (sa.select(*_COLUMNS).select_from(_ROW.join(_SUB).join(_REQ))
             .where(_SUB.c.id == sub.id).order_by(_ROW.c.row_number))
    return version_filename(req.galis_ref, sub.milestone, sub.version), _rows(session, query)


def latest_rows(session: Session, principal: Principal, *, milestone: Milestone, region_code: str | None,
                today: date) -> tuple[str, Iterator[ExportRow]]:
    """The latest version of ``milestone`` of every request the caller sees (optionally one region)."""
    require_known_region(region_code)
    scoped = scoped_requests_query(principal).with_only_columns(FundingRequest.id).scalar_subquery()
    query = (sa.select(*_COLUMNS).select_from(_ROW.join(_SUB).join(_REQ))
             .where(_REQ.c.id.in_(scoped), _SUB.c.milestone == milestone.value,
                    _SUB.c.version == LAST_VERSION[milestone])
             .order_by(_REQ.c.galis_ref, _ROW.c.row_number))
    if region_code is not None:
        query = query.where(_REQ.c.region_code == region_code)
    name = f"mesures-usage-{milestone.value}" + (f"-region-{region_code}" if region_code else "") + f"-{today}"
    return name, _rows(session, query)


def blank_template(session: Session, principal: Principal, galis_ref: str) -> tuple[str, BlankTemplate]:
    """The request's template to fill (the caller must see the request), with its file name."""
    req = load_request(session, principal, galis_ref)
    establishments = session.exec(select(Establishment.finess, Establishment.name)
                                  .where(Establishment.request_id == req.id).order_by(Establishment.finess)).all()
    notice = [
        f"Modèle de déclaration des indicateurs d'usage pré-rempli pour la demande GALIS {req.galis_ref} — "
        f"{req.porteur_name} (SIRET {req.siret}), {region_name(req.region_code)}.",
        "Feuille « Liste des mesures d'usage » : une ligne par établissement (FINESS géographique) de la demande. "
        "Ne changez ni le nom de la feuille, ni les intitulés ni l'ordre des colonnes ; ne fusionnez pas de "
        "cellules.",
        "Colonnes A à D : déjà remplies (A à C au format texte : gardez les zéros en tête). Vous pouvez corriger la "
        "raison sociale (D).",
        "Colonnes E à J : des nombres entiers positifs ou nuls, comptés sur la période de recueil. Les DUI avec "
        "projet personnalisé (I) et avec un événement d'agenda (J) ne dépassent pas les DUI actifs (G).",
        "Colonnes K et L : premier et dernier jour de la période de recueil (JJ/MM/AAAA), trois à six mois en "
        "général ; le dernier jour n'est pas dans le futur.",
        "Déposez le fichier rempli dans la console ou par l'API (POST /v1/funding-requests/"
        f"{req.galis_ref}/submissions, en multipart) : chaque dépôt est une nouvelle version ; un envoi refusé "
        "indique chaque erreur par sa cellule (« C7 : … ») et n'enregistre rien.",
        "Gardez les preuves d'usage de chaque chiffre déclaré (même période, mêmes nombres) : elles peuvent vous "
        "être demandées à tout moment, à fournir sous 48 heures.",
    ]
    return f"modele-mesures-usage-{req.galis_ref}", BlankTemplate(
        galis_ref=req.galis_ref, siret=req.siret, establishments=[(f, n) for f, n in establishments], notice=notice)


def _rows(session: Session, query: Any) -> Iterator[ExportRow]:
    sets = target_sets.every_set(session.connection())  # read before the rows stream on the same connection
    result = session.connection().execution_options(yield_per=_BATCH).execute(query)
    for r in result:
        target_set = sets[r.target_set_id]
        counts = {f: getattr(r, f) for f in COUNT_FIELDS}
        yield ExportRow(galis_ref=r.galis_ref, siret=r.siret, milestone=r.milestone, version=r.version,
                        finess=r.finess, raison_sociale=r.raison_sociale, counts=counts,
                        period_start=r.period_start, period_end=r.period_end,
                        indicators=indicators.evaluate(counts, target_set),
                        software=f"{r.software_name} {r.software_version or ''}".strip() if r.software_name else None,
                        extracted_at=r.extracted_at)
