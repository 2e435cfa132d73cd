"""The rules of who is told what and when: categories and choices, working days, reminders."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from service.domain.notifications import (
    Mode,
    PreferenceRefused,
    categories_for,
    check_choice,
    digest_day,
    fin_projet_reminder_due,
    is_working_day,
    mode_of,
    next_fin_projet_reminder_on,
)


def test_categories_follow_the_organisation_kind() -> None:
    assert {c.code for c in categories_for("ars")} == {"fin_projet", "review_queue", "control", "message"}
    assert {c.code for c in categories_for("administration")} == {"message"}
    assert {c.code for c in categories_for("editeur")} == {"mandate"}
    assert "review_queue" not in {c.code for c in categories_for("porteur")}


def test_mandatory_categories_are_always_sent_at_once() -> None:
    with pytest.raises(PreferenceRefused) as refused:
        check_choice("porteur", "proof_request", Mode.OFF)
    assert refused.value.code == "notification_mandatory"
    with pytest.raises(PreferenceRefused):
        check_choice("porteur", "fin_projet", Mode.DAILY)
    assert check_choice("porteur", "proof_request", Mode.INSTANT).code == "proof_request"
    assert mode_of("proof_request", Mode.OFF) is Mode.INSTANT  # a stored choice cannot silence it
    assert check_choice("porteur", "review", Mode.OFF).code == "review"
    assert mode_of("review", Mode.OFF) is Mode.OFF
    assert mode_of("review_queue", None) is Mode.DAILY and mode_of("review", None) is Mode.INSTANT


def test_a_category_of_another_kind_is_unknown_to_a_person() -> None:
    with pytest.raises(PreferenceRefused) as refused:
        check_choice("porteur", "review_queue", Mode.DAILY)
    assert refused.value.code == "notification_unknown"
    with pytest.raises(PreferenceRefused):
        check_choice("ars", "nope", Mode.DAILY)


@pytest.mark.parametrize(("day", "region", "working"), [
    (date(2026, 12, 7), None, True),  # a Monday
    (date(2026, 12, 12), None, False),  # a Saturday
    (date(2026, 12, 25), None, False),  # Christmas, a Friday
    (date(2027, 5, 17), None, False),  # Whit Monday
    (date(2026, 5, 27), None, True),  # abolition of slavery: a holiday in Guadeloupe only
    (date(2026, 5, 27), "01", False),
    (date(2026, 12, 20), "04", False),  # La Réunion's 20 December (a Sunday anyway)
    (date(2027, 12, 20), "04", False),  # … a Monday
    (date(2027, 12, 20), "76", True),
])
def test_working_days(day: date, region: str | None, working: bool) -> None:
    assert is_working_day(day, region) is working


def test_the_digest_day_starts_at_its_hour_in_paris() -> None:
    # 7:59 UTC is 8:59 in Paris in winter; 8:00 UTC is 9:00
    assert digest_day(datetime(2026, 12, 7, 7, 59, tzinfo=UTC), "Europe/Paris", 9) is None
    assert digest_day(datetime(2026, 12, 7, 8, 0, tzinfo=UTC), "Europe/Paris", 9) == date(2026, 12, 7)
    # in summer, 9:00 in Paris is 7:00 UTC
    assert digest_day(datetime(2026, 7, 7, 7, 0, tzinfo=UTC), "Europe/Paris", 9) == date(2026, 7, 7)
    # overseas, the région's own morning: 9:00 in Guadeloupe is 13:00 UTC, in La Réunion 5:00 UTC
    assert digest_day(datetime(2026, 12, 7, 12, 59, tzinfo=UTC), "Europe/Paris", 9, "01") is None
    assert digest_day(datetime(2026, 12, 7, 13, 0, tzinfo=UTC), "Europe/Paris", 9, "01") == date(2026, 12, 7)
    assert digest_day(datetime(2026, 12, 7, 5, 0, tzinfo=UTC), "Europe/Paris", 9, "04") == date(2026, 12, 7)
    # 22:30 UTC on a Sunday is 23:30 in Paris, still Sunday: no digest
    assert digest_day(datetime(2026, 12, 6, 22, 30, tzinfo=UTC), "Europe/Paris", 9) is None


@pytest.mark.parametrize(("today", "sent", "due"), [
    (date(2027, 1, 1), (), None),  # 31 days before
    (date(2027, 1, 2), (), 30),
    (date(2027, 1, 3), (30,), None),
    (date(2027, 1, 25), (30,), 7),
    (date(2027, 1, 25), (), 7),  # D-30 missed: only the nearest is sent
    (date(2027, 1, 31), (30, 7), 1),
    (date(2027, 1, 31), (30, 7, 1), None),
    (date(2027, 2, 1), (30, 7), 1),  # the due day itself: D-1 still missing, sent late
    (date(2027, 2, 2), (), None),  # past due: the overdue mail's business
])
def test_fin_de_projet_reminders(today: date, sent: tuple[int, ...], due: int | None) -> None:
    assert fin_projet_reminder_due(date(2027, 2, 1), today, sent) == due


def test_the_next_fin_de_projet_reminder_follows_the_last_sent() -> None:
    due = date(2027, 2, 1)
    assert next_fin_projet_reminder_on(due, ()) == date(2027, 1, 2)
    assert next_fin_projet_reminder_on(due, (30,)) == date(2027, 1, 25)
    assert next_fin_projet_reminder_on(due, (7,)) == date(2027, 1, 31)  # D-30 missed, D-7 sent
    assert next_fin_projet_reminder_on(due, (30, 7, 1)) is None
