"""Instants as French readers are told them: « le mardi 9 décembre 2026 à 14 h 30 », in the
service's time zone (summer and winter time alike)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

WEEKDAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")


def long_date(day: date) -> str:
    """« mardi 9 décembre 2026 » (« 1er » for the first of a month)."""
    number = "1er" if day.day == 1 else str(day.day)
    return f"{WEEKDAYS[day.weekday()]} {number} {MONTHS[day.month - 1]} {day.year}"


def long_instant(instant: datetime, zone: str) -> str:
    """« mardi 9 décembre 2026 à 14 h 30 » for an aware ``instant``, read in ``zone``."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime: an instant needs its time zone")
    local = instant.astimezone(ZoneInfo(zone))
    return f"{long_date(local.date())} à {local.hour} h {local.minute:02d}"
