"""Demo data for a first look at the service: a few requests of Nouvelle-Aquitaine, one in
Corse (outside the demo ARS's scope), and one key per role.

The keys are kept in ``var/demo-keys.json`` (readable by the owner only) so that a restart
prints the same ones; the database stores only their hashes. Whatever the database lacks is
created on each run, so a fresh database beside an old keys file gets the demo data and keys
that work.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from service.access.keys import create_api_key, hash_key
from service.domain.access import Principal, Role
from service.funding_requests.schemas import EstablishmentIn, FundingRequestCreate, LifecycleEventCreate
from service.funding_requests.use_cases import create_funding_request, record_event
from service.kit.mailing import Mailing
from service.models import ApiKey, FundingRequest

DEMO_REQUESTS: list[dict[str, Any]] = [
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

DEMO_KEYS: list[dict[str, Any]] = [
    {"role": Role.ADMIN, "label": "démo administrateur"},
    {"role": Role.ARS_REVIEWER, "region_code": "75", "label": "démo ARS Nouvelle-Aquitaine"},
    {"role": Role.CNSA_AUDITOR, "label": "démo CNSA"},
    {"role": Role.PORTEUR, "siret": "73282932000074", "label": "démo porteur Association Les Tilleuls",
     "manager": True},
    {"role": Role.VENDOR, "galis_refs": ["12345678", "23456789"], "label": "démo éditeur DUI", "manager": True},
]


def seed_demo(session: Session, *, keys_file: Path, today: date, mailing: Mailing) -> dict[str, str]:
    """Create whatever demo data and keys the database lacks; return the demo keys by role.

    The keys of ``keys_file`` are kept from one run to the next. When the database does not
    know one of them (a new database beside an old keys file), its hash is registered again,
    so that the keys printed always work.
    """
    kept: dict[str, str] = json.loads(keys_file.read_text(encoding="utf-8")) if keys_file.exists() else {}
    keys: dict[str, str] = {}
    principals: dict[str, Principal] = {}
    for spec in DEMO_KEYS:
        role = str(spec["role"])
        secret = kept.get(role)
        key = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(secret))).first() if secret else None
        if key is None:
            key, secret = create_api_key(session, **spec, secret=secret)
        assert key.id is not None and secret is not None
        keys[role] = secret
        principals[role] = Principal(key_id=key.id, role=Role(key.role), label=key.label,
                                     organisation_id=key.organisation_id, manager=key.manager)
    admin = principals[Role.ADMIN]
    for spec in DEMO_REQUESTS:
        if session.exec(select(FundingRequest.id).where(FundingRequest.galis_ref == spec["galis_ref"])).first():
            continue
        payload = FundingRequestCreate(
            galis_ref=spec["galis_ref"], siret=spec["siret"], porteur_name=spec["porteur_name"],
            campaign_year=spec["campaign_year"],
            establishments=[EstablishmentIn(**e) for e in spec["establishments"]],
        )
        create_funding_request(session, admin, payload, today=today)
        for kind, on in spec["events"]:
            record_event(session, admin, spec["galis_ref"], LifecycleEventCreate(type=kind, date=on), today=today,
                         mailing=mailing)
    if keys != kept:
        _write_keys(keys_file, keys)
    return keys


def _write_keys(keys_file: Path, keys: dict[str, str]) -> None:
    """The keys file, readable by its owner only, replaced whole."""
    keys_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = keys_file.with_name(f".{keys_file.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(keys, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, keys_file)
