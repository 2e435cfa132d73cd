"""Plain factory functions with keyword overrides, and valid identifiers for tests."""

from __future__ import annotations

import copy
import itertools
from datetime import date
from typing import Any

from stdnum import luhn

_serial = itertools.count(1)


def finess(department: str = "24", serial: int | None = None) -> str:
    """A valid FINESS géographique of ``department`` (``2A``/``2B`` and ``9701``… allowed)."""
    serial = next(_serial) if serial is None else serial
    width = 8 - len(department)
    body = f"{department}{serial % 10**width:0{width}d}"  # a long run wraps around, never overflows
    digits = body.replace("2A", "21", 1) if body.startswith("2A") else body
    digits = digits.replace("2B", "22", 1) if digits.startswith("2B") else digits
    return body + luhn.calc_check_digit(digits)


def siret(serial: int | None = None) -> str:
    serial = next(_serial) if serial is None else serial
    siren8 = f"{(7000000 + serial) % 10**8:08d}"
    siren = siren8 + luhn.calc_check_digit(siren8)
    body = siren + "0001"
    return body + luhn.calc_check_digit(body)


def galis_ref(serial: int | None = None) -> str:
    return f"{50000000 + (next(_serial) if serial is None else serial):08d}"


def row(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "finess": "240000372", "raison_sociale": "EHPAD Les Tilleuls",
        "dmp_fed": 40, "mss_messages_sent": 120, "active_dui": 95,
        "persons_accompanied": 100, "dui_with_personal_plan": 90, "dui_with_agenda_event": 93,
        "period_start": "2024-01-01", "period_end": "2024-03-31",
    }
    base.update(overrides)
    return base


def submission(*rows: dict[str, Any], milestone: str = "va") -> dict[str, Any]:
    return {"milestone": milestone, "rows": [copy.deepcopy(r) for r in rows] or [row()]}


def funding_request(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "galis_ref": galis_ref(), "siret": siret(), "porteur_name": "Association de test",
        "campaign_year": 2024,
        "establishments": [{"finess": finess("24"), "name": "EHPAD de test", "category": "500"}],
    }
    base.update(overrides)
    return base


TODAY = date.today()
