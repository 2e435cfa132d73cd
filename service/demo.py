"""Demo data for a first look at the service: a few requests of Nouvelle-Aquitaine, one in
Corse (outside the demo ARS's scope), and one key per role.

The keys are shown once and kept in ``var/demo-keys.json`` (readable by the owner only) so
that a restart prints the same ones; the database stores only their hashes.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from sqlmodel import Session, select

from service.api_keys import create_api_key
from service.domain.access import Principal, Role
from service.funding_requests import create_funding_request, record_event
from service.models import FundingRequest
from service.schemas import EstablishmentIn, FundingRequestCreate, LifecycleEventCreate

DEMO_REQUESTS = [
    {"galis_ref": "12345678", "siret": "73282932000074", "porteur_name": "Association Les Tilleuls",
     "campaign_year": 2024,
     "establishments": [{"finess": "240000372", "name": "EHPAD Les Tilleuls", "category": "500"}],
     "events": [("va_validated", date(2024, 3, 1))]},
    {"galis_ref": "23456789", "siret": "77501234700016", "porteur_name": "Fondation Val de Charente",
     "campaign_year": 2024,
     "establishments": [{"finess": "160000253", "name": "IME Les Sources", "category": "183"},
                        {"finess": "160013207", "name": "SESSAD L'Envol", "category": "182"},
                        {"finess": "330000126", "name": "MAS Océane", "category": "255"}],
     "events": [("va_validated", date(2024, 2, 15)), ("vsr_validated", date(2024, 9, 2))]},
    {"galis_ref": "34567890", "siret": "33020123700022", "porteur_name": "Association Cœur de Gironde",
     "campaign_year": 2023,
     "establishments": [{"finess": "170000459", "name": "SSIAD de l'Œuvre Saint-Jean", "category": "354"}],
     "events": []},
    {"galis_ref": "45678901", "siret": "31005678300015", "porteur_name": "Association Corse Solidarité",
     "campaign_year": 2024,
     "establishments": [{"finess": "2B0000020", "name": "EHPAD A Casa", "category": "500"}],
     "events": [("va_validated", date(2024, 4, 2))]},
]

DEMO_KEYS = [
    {"role": Role.ADMIN, "label": "démo administrateur"},
    {"role": Role.ARS_REVIEWER, "region_code": "75", "label": "démo ARS Nouvelle-Aquitaine"},
    {"role": Role.CNSA_AUDITOR, "label": "démo CNSA"},
    {"role": Role.PORTEUR, "siret": "73282932000074", "label": "démo porteur Association Les Tilleuls"},
    {"role": Role.VENDOR, "galis_refs": ["12345678", "23456789"], "label": "démo éditeur DUI"},
]


def seed_demo(session: Session, *, keys_file: Path, today: date) -> dict[str, str]:
    """Create the demo data if absent; return the demo keys by role."""
    if keys_file.exists():
        return json.loads(keys_file.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    keys: dict[str, str] = {}
    principals: dict[str, Principal] = {}
    for spec in DEMO_KEYS:
        key, secret = create_api_key(session, **spec)  # type: ignore[arg-type]
        keys[key.role] = secret
        assert key.id is not None
        principals[key.role] = Principal(key_id=key.id, role=Role(key.role), label=key.label)
    admin = principals[Role.ADMIN]
    for spec in DEMO_REQUESTS:
        if session.exec(select(FundingRequest.id).where(FundingRequest.galis_ref == spec["galis_ref"])).first():
            continue
        payload = FundingRequestCreate(
            galis_ref=spec["galis_ref"], siret=spec["siret"], porteur_name=spec["porteur_name"],
            campaign_year=spec["campaign_year"],
            establishments=[EstablishmentIn(**e) for e in spec["establishments"]],  # type: ignore[attr-defined]
        )
        create_funding_request(session, admin, payload, today=today)
        for kind, on in spec["events"]:  # type: ignore[attr-defined]
            record_event(session, admin, spec["galis_ref"], LifecycleEventCreate(type=kind, date=on), today=today)
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(keys_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(keys, handle, indent=2)
    return keys
