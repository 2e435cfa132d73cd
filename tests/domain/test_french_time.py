"""Instants told in French, in the service's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from service.domain.french_time import long_date, long_instant


def test_winter_and_summer_time() -> None:
    assert long_instant(datetime(2026, 12, 9, 13, 30, tzinfo=UTC), "Europe/Paris") == \
        "mercredi 9 décembre 2026 à 14 h 30"
    assert long_instant(datetime(2026, 7, 14, 7, 5, tzinfo=UTC), "Europe/Paris") == "mardi 14 juillet 2026 à 9 h 05"


def test_the_first_of_a_month_and_midnight() -> None:
    assert long_date(date(2027, 1, 1)) == "vendredi 1er janvier 2027"
    assert long_instant(datetime(2026, 10, 31, 23, 0, tzinfo=UTC), "Europe/Paris") == \
        "dimanche 1er novembre 2026 à 0 h 00"


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError):
        long_instant(datetime(2026, 12, 9, 14, 30), "Europe/Paris")
