from datetime import date

import pytest

from service.domain.errors import Conflict, ValidationFailed
from service.domain.lifecycle import EventType, LifecycleState, Milestone, add_months

TODAY = date(2024, 12, 1)


def test_va_validation_opens_the_va_milestone_only() -> None:
    state = LifecycleState().apply(EventType.VA_VALIDATED, on=date(2024, 3, 1), until=None, today=TODAY)
    state.require_open(Milestone.VA)
    with pytest.raises(Conflict) as caught:
        state.require_open(Milestone.FIN_PROJET)
    assert caught.value.code == "milestone_not_open"


def test_vsr_validation_opens_fin_de_projet_due_three_months_later() -> None:
    state = LifecycleState(va_opened_on=date(2024, 3, 1)).apply(
        EventType.VSR_VALIDATED, on=date(2024, 8, 31), until=None, today=TODAY)
    assert state.fin_projet_due_on == date(2024, 11, 30)


def test_vsr_before_va_is_refused() -> None:
    with pytest.raises(Conflict) as caught:
        LifecycleState().apply(EventType.VSR_VALIDATED, on=date(2024, 3, 1), until=None, today=TODAY)
    assert caught.value.code == "va_not_validated"


def test_deadline_extension_must_move_the_deadline_later() -> None:
    state = LifecycleState(va_opened_on=date(2024, 1, 1), fin_projet_opened_on=date(2024, 6, 1),
                           fin_projet_due_on=date(2024, 9, 1))
    extended = state.apply(EventType.DEADLINE_EXTENDED, on=date(2024, 8, 1), until=date(2024, 12, 31), today=TODAY)
    assert extended.fin_projet_due_on == date(2024, 12, 31)
    with pytest.raises(ValidationFailed) as caught:
        state.apply(EventType.DEADLINE_EXTENDED, on=date(2024, 8, 1), until=date(2024, 8, 15), today=TODAY)
    assert caught.value.issues[0].code == "until_not_later"


def test_balance_paid_closes_everything() -> None:
    state = LifecycleState(va_opened_on=date(2024, 1, 1), fin_projet_opened_on=date(2024, 6, 1),
                           fin_projet_due_on=date(2024, 9, 1))
    closed = state.apply(EventType.BALANCE_PAID, on=date(2024, 10, 1), until=None, today=TODAY)
    for milestone in Milestone:
        with pytest.raises(Conflict) as caught:
            closed.require_open(milestone)
        assert caught.value.code == "request_closed"
    with pytest.raises(Conflict):
        closed.apply(EventType.DEADLINE_EXTENDED, on=date(2024, 10, 2), until=date(2025, 1, 1), today=TODAY)


def test_event_dated_in_the_future_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        LifecycleState().apply(EventType.VA_VALIDATED, on=date(2025, 1, 1), until=None, today=TODAY)
    assert caught.value.issues[0].code == "event_date_in_future"


def test_late_fin_de_projet_declaration_is_flagged_not_refused() -> None:
    state = LifecycleState(va_opened_on=date(2024, 1, 1), fin_projet_opened_on=date(2024, 6, 1),
                           fin_projet_due_on=date(2024, 9, 1))
    warning = state.lateness_warning(Milestone.FIN_PROJET, today=TODAY)
    assert warning is not None and warning.code == "deadline_passed"
    assert state.lateness_warning(Milestone.VA, today=TODAY) is None


@pytest.mark.parametrize(("start", "months", "end"), [
    (date(2024, 1, 31), 1, date(2024, 2, 29)), (date(2024, 11, 30), 3, date(2025, 2, 28)),
    (date(2024, 6, 15), 3, date(2024, 9, 15)),
])
def test_add_months_clamps_to_the_end_of_month(start: date, months: int, end: date) -> None:
    assert add_months(start, months) == end
