from service.domain import indicators
from service.domain.targets import DEFAULT_TARGETS, targets_for

COUNTS = {"dmp_fed": 40, "mss_messages_sent": 120, "active_dui": 95, "persons_accompanied": 100,
          "dui_with_personal_plan": 90, "dui_with_agenda_event": 93}


def test_rates_follow_the_guide_formulas() -> None:
    ev = indicators.evaluate(COUNTS, DEFAULT_TARGETS)
    assert (ev["active_files"].numerator, ev["active_files"].denominator, ev["active_files"].rate) == (95, 100, 95.0)
    assert ev["personal_plan"].rate == 94.7  # I / G
    assert ev["agenda"].rate == 97.9  # J / G
    assert ev["mssante"].rate == 133.3  # F / I, may exceed 100 %
    assert ev["dmp"].rate == 44.4  # E / I
    assert ev["dmp"].met is False and ev["mssante"].met is True


def test_zero_denominator_gives_no_rate_and_no_verdict() -> None:
    ev = indicators.evaluate({**COUNTS, "active_dui": 0, "dui_with_personal_plan": 0, "dui_with_agenda_event": 0},
                             DEFAULT_TARGETS)
    assert ev["personal_plan"].rate is None and ev["personal_plan"].met is None
    assert ev["mssante"].rate is None and ev["dmp"].met is None
    assert ev["active_files"].rate == 0.0 and ev["active_files"].met is False


def test_rate_is_rounded_half_up_to_one_decimal() -> None:
    assert indicators.rate(1, 8) == 12.5
    assert indicators.rate(1, 16) == 6.3  # 6.25 -> 6.3, not banker's 6.2
    assert indicators.rate(2, 3) == 66.7


def test_target_is_judged_on_the_exact_ratio_not_the_rounded_rate() -> None:
    # 8997 / 10000 = 89.97 % rounds to 90.0 but does not reach 90 %.
    assert indicators.rate(8997, 10000) == 90.0
    assert indicators.exact_ratio_met(8997, 10000, 90.0) is False
    assert indicators.exact_ratio_met(9, 10, 90.0) is True


def test_targets_met_requires_every_indicator_computable_and_met() -> None:
    good = {**COUNTS, "dmp_fed": 90}
    assert indicators.all_met([indicators.evaluate(good, DEFAULT_TARGETS)]) is True
    assert indicators.all_met([indicators.evaluate(COUNTS, DEFAULT_TARGETS)]) is False


def test_default_targets_and_the_unconditioned_start_up_phase() -> None:
    default = targets_for(campaign_year=2024, category="500")
    assert [default.target(k) for k in ("active_files", "personal_plan", "agenda", "mssante", "dmp")] == \
        [90, 90, 90, 70, 70]
    assert default.binding is True
    assert targets_for(campaign_year=2021, category=None).binding is False


def test_integer_arithmetic_matches_decimal_half_up_rounding_and_exact_comparison() -> None:
    from decimal import ROUND_HALF_UP, Decimal

    for denominator in range(1, 260):
        for numerator in range(0, 3 * denominator, 7):
            reference = float((Decimal(numerator) * 100 / Decimal(denominator)).quantize(
                Decimal("0.1"), rounding=ROUND_HALF_UP))
            assert indicators.rate(numerator, denominator) == reference, (numerator, denominator)
            for target in (90.0, 70.0, 62.5, 33.3, 12.345):
                exact = Decimal(numerator) * 100 >= Decimal(str(target)) * Decimal(denominator)
                assert indicators.exact_ratio_met(numerator, denominator, target) is exact


def test_evaluate_agrees_with_rate_and_exact_ratio_for_every_target_set() -> None:
    from service.domain.targets import INDICATOR_KEYS, INITIAL_SETS, TargetSet

    odd = TargetSet(id="t", label="t", active_files=62.5, personal_plan=33.33, agenda=90.0, mssante=70.0, dmp=0.0)
    for targets in (*INITIAL_SETS, odd):
        for n in range(0, 40, 3):
            for d in range(0, 40, 5):
                counts = {"active_dui": n, "persons_accompanied": d, "dui_with_personal_plan": n,
                          "dui_with_agenda_event": n, "mss_messages_sent": n, "dmp_fed": n}
                counts["active_dui"] = d  # denominators of the G-based rates
                result = indicators.evaluate(counts, targets)
                for key in INDICATOR_KEYS:
                    num, den = (counts[f] for f in indicators.FORMULAS[key])
                    expected_rate = indicators.rate(num, den)
                    assert result[key].rate == expected_rate
                    assert result[key].met == (None if expected_rate is None else
                                               indicators.exact_ratio_met(num, den, targets.target(key)))
