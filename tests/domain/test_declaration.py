from datetime import date

import pytest

from service.domain.declaration import evaluate_declaration, parse_row, parse_submission
from service.domain.errors import ValidationFailed
from tests.factories import row

TODAY = date(2024, 6, 1)


def codes(raw: dict, today: date = TODAY) -> set[tuple[str, str | None]]:
    _, issues = parse_row(raw, row=1, today=today)
    return {(i.code, i.column) for i in issues}


def test_a_valid_row_has_no_issue() -> None:
    parsed, issues = parse_row(row(), row=1, today=TODAY)
    assert issues == [] and parsed is not None and parsed.active_dui == 95


def test_dui_with_plan_cannot_exceed_active_dui() -> None:
    assert codes(row(dui_with_personal_plan=96)) == {("personal_plan_exceeds_active", "I")}


def test_dui_with_agenda_event_cannot_exceed_active_dui() -> None:
    assert codes(row(dui_with_agenda_event=96)) == {("agenda_exceeds_active", "J")}


def test_period_start_after_end_is_refused() -> None:
    assert codes(row(period_start="2024-04-01", period_end="2024-03-31")) == {("period_reversed", "K")}


def test_period_ending_in_the_future_is_refused() -> None:
    assert codes(row(period_end="2024-06-02", period_start="2024-03-01")) == {("period_end_in_future", "L")}


@pytest.mark.parametrize(("field", "value", "code"), [
    ("active_dui", -1, "negative_count"),
    ("active_dui", "95", "not_an_integer"),
    ("active_dui", 95.5, "not_an_integer"),
    ("active_dui", True, "not_an_integer"),
    ("active_dui", None, "field_required"),
    ("persons_accompanied", 10**10, "count_out_of_range"),
    ("period_start", "01/01/2024", "invalid_date"),
    ("period_start", 0, "invalid_date"),
    ("period_end", "2024-02-30", "invalid_date"),
    ("finess", 240000372, "identifier_not_text"),
    ("raison_sociale", 12, "not_text"),
])
def test_each_malformed_value_is_named_with_its_column(field: str, value: object, code: str) -> None:
    from service.domain.declaration import column_of

    found = codes(row(**{field: value}))
    assert (code, column_of(field)) in found


def test_unknown_field_is_refused() -> None:
    assert ("unknown_field", None) in codes({**row(), "actve_dui": 3})


def test_every_error_of_a_submission_is_reported_at_once() -> None:
    payload = {"milestone": "va", "rows": [
        row(dui_with_personal_plan=99), row(finess="240000373"), row(finess="160000253", active_dui=-1)]}
    with pytest.raises(ValidationFailed) as caught:
        parse_submission(payload, today=TODAY, max_rows=10, expected={"240000372": "500", "160013207": None},
                         galis_ref="12345678")
    found = {(i.row, i.column, i.code) for i in caught.value.issues}
    assert found == {
        (1, "I", "personal_plan_exceeds_active"),
        (2, "C", "finess_checksum"),
        (3, "G", "negative_count"),
        (3, "C", "finess_not_in_request"),
        (None, "C", "finess_missing"),
    }


def test_a_finess_appears_once_per_declaration() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_submission({"milestone": "va", "rows": [row(), row()]}, today=TODAY, max_rows=10)
    assert [(i.row, i.code) for i in caught.value.issues] == [(2, "finess_duplicate")]


def test_unknown_milestone_and_missing_rows() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_submission({"milestone": "vsr"}, today=TODAY, max_rows=10)
    assert {i.code for i in caught.value.issues} == {"milestone_invalid", "rows_missing"}


def test_too_many_rows_is_refused() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_submission({"milestone": "va", "rows": [row()] * 3}, today=TODAY, max_rows=2)
    assert caught.value.issues[0].code == "too_many_rows"


def evaluated_codes(**overrides: object) -> set[tuple[str, str | None]]:
    parsed, issues = parse_row(row(**overrides), row=1, today=TODAY)
    assert parsed is not None, issues
    result = evaluate_declaration([parsed], categories={}, campaign_year=2024)
    return {(w.code, w.column) for w in result.warnings}


def test_more_active_dui_than_persons_is_a_warning_not_an_error() -> None:
    assert ("active_exceeds_accompanied", "G") in evaluated_codes(active_dui=120)


def test_more_dmp_than_dui_with_plan_is_a_warning() -> None:
    assert ("dmp_exceeds_personal_plan", "E") in evaluated_codes(dmp_fed=91)


@pytest.mark.parametrize(("start", "end", "code"), [
    ("2024-02-01", "2024-04-28", "period_too_short"),  # 88 days
    ("2023-01-01", "2023-07-04", "period_too_long"),  # 185 days
])
def test_collection_period_outside_three_to_six_months_is_flagged(start: str, end: str, code: str) -> None:
    assert (code, "K") in evaluated_codes(period_start=start, period_end=end)


def test_three_and_six_calendar_months_are_not_flagged() -> None:
    assert not {c for c, _ in evaluated_codes(period_start="2023-02-01", period_end="2023-04-30")} & {
        "period_too_short", "period_too_long"}
    assert not {c for c, _ in evaluated_codes(period_start="2023-07-01", period_end="2023-12-31")} & {
        "period_too_short", "period_too_long"}


def test_rate_exactly_at_target_is_flagged() -> None:
    # G/H = 90/100 = 90.0 %, exactly the 90 % target
    found = evaluated_codes(active_dui=90, persons_accompanied=100, dui_with_personal_plan=85,
                            dui_with_agenda_event=85)
    assert ("rate_at_target", "G") in found


def test_large_jump_from_previous_version_is_flagged() -> None:
    parsed, _ = parse_row(row(), row=1, today=TODAY)
    assert parsed is not None
    before = {**parsed.counts(), "active_dui": 50, "dui_with_personal_plan": 45, "dui_with_agenda_event": 45}
    result = evaluate_declaration([parsed], categories={}, campaign_year=2024, previous={parsed.finess: before})
    assert ("rate_jump", "G") in {(w.code, w.column) for w in result.warnings}


def test_names_are_single_spaced_and_control_characters_refused() -> None:
    today = date(2026, 1, 1)
    ok, issues = parse_row(row(raison_sociale=" EHPAD\n Les\u00a0Tilleuls "), row=1, today=today)
    assert ok is not None and ok.raison_sociale == "EHPAD Les Tilleuls", issues
    for bad in ("EHPAD\x00", "EHPAD \ud800"):
        refused, issues = parse_row(row(raison_sociale=bad), row=1, today=today)
        assert refused is None and [i.code for i in issues] == ["text_invalid_characters"]


def test_a_row_without_finess_is_not_reported_again_as_an_establishment_missing() -> None:
    blank = row()
    del blank["finess"]
    with pytest.raises(ValidationFailed) as caught:
        parse_submission({"milestone": "va", "rows": [row(), blank]}, today=TODAY, max_rows=10,
                         expected={"240000372": "500", "160013207": None}, galis_ref="12345678")
    assert [(i.row, i.code) for i in caught.value.issues] == [(2, "field_required")]


def test_establishments_missing_beyond_the_rows_without_finess_are_reported() -> None:
    blank = row()
    del blank["finess"]
    with pytest.raises(ValidationFailed) as caught:
        parse_submission({"milestone": "va", "rows": [blank]}, today=TODAY, max_rows=10,
                         expected={"240000372": "500", "160013207": None}, galis_ref="12345678")
    assert sorted((i.row or 0, i.code) for i in caught.value.issues) == [
        (0, "finess_missing"), (0, "finess_missing"), (1, "field_required")]
