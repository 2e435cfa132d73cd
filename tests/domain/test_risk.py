"""Risk rules of the control queue: each fires on its own pattern, with a sentence that says why."""

from __future__ import annotations

from datetime import date

from service.domain import indicators, risk
from service.domain.lifecycle import Milestone
from service.domain.targets import DEFAULT_TARGETS

BASE = {"dmp_fed": 53, "mss_messages_sent": 121, "active_dui": 87, "persons_accompanied": 113,
        "dui_with_personal_plan": 71, "dui_with_agenda_event": 64}


def row(finess: str, **counts: int) -> risk.RowFacts:
    values = {**BASE, **counts}
    return risk.RowFacts(finess=finess, counts=values, indicators=indicators.evaluate(values, DEFAULT_TARGETS))


def facts(*rows: risk.RowFacts, **kw: object) -> risk.VersionFacts:
    return risk.VersionFacts(**{"milestone": Milestone.VA, "rows": rows, "received_on": date(2024, 6, 1), **kw})  # type: ignore[arg-type]


def codes(reasons: list[risk.Reason]) -> list[str]:
    return [r.code for r in reasons]


def test_plain_measured_figures_carry_no_risk() -> None:
    reasons = risk.assess(facts(row("240000372"), row("240000380", active_dui=91, dmp_fed=47)))
    assert reasons == [] and risk.score_of(reasons) == 0


def test_a_rate_just_at_its_target() -> None:
    reasons = risk.assess(facts(row("240000372", active_dui=90, persons_accompanied=100)))
    assert codes(reasons) == ["rate_at_target"]
    assert "240000372" in reasons[0].message and "90,0 %" in reasons[0].message and "de justesse" in reasons[0].message


def test_more_active_files_than_persons() -> None:
    reasons = risk.assess(facts(row("240000372", active_dui=120, persons_accompanied=100)))
    assert "active_exceeds_accompanied" in codes(reasons)
    assert "G > H" in reasons[0].message


def test_the_same_figures_copied_across_establishments() -> None:
    reasons = risk.assess(facts(row("240000372"), row("240000380"), row("240000398", active_dui=91)))
    assert codes(reasons) == ["copied_figures"]
    assert "2 établissements" in reasons[0].message and "240000372, 240000380" in reasons[0].message


def test_round_numbers_everywhere() -> None:
    reasons = risk.assess(facts(row("240000372", dmp_fed=50, mss_messages_sent=120, active_dui=80,
                                    persons_accompanied=110, dui_with_personal_plan=70, dui_with_agenda_event=60)))
    assert codes(reasons) == ["round_figures"]


def test_a_rate_that_jumps_since_the_previous_version() -> None:
    previous = {"240000372": {**BASE, "active_dui": 40, "persons_accompanied": 113}}
    reasons = risk.assess(facts(row("240000372"), previous=previous))
    assert codes(reasons) == ["rate_jump"]
    assert "passé de 35,4 % à 77,0 %" in reasons[0].message


def test_fin_de_projet_without_proof_and_sent_at_the_last_minute() -> None:
    reasons = risk.assess(facts(row("240000372"), row("240000380", active_dui=91), milestone=Milestone.FIN_PROJET,
                                due_on=date(2024, 6, 3), proofs_missing=["240000380"]))
    assert codes(reasons) == ["proofs_missing", "sent_near_deadline"]
    assert "1 établissement sur 2 sans preuve" in reasons[0].message
    assert "2 jours avant l'échéance du 03/06/2024" in reasons[1].message
    assert risk.score_of(reasons) == 40
    late = risk.assess(facts(row("240000372"), milestone=Milestone.FIN_PROJET, due_on=date(2024, 5, 1)))
    assert "31 jours après l'échéance" in late[0].message


def test_score_is_capped_and_the_proof_reason_follows_the_proofs() -> None:
    many = [risk.Reason(code, "x", points) for code, points in risk.POINTS.items()]
    assert risk.score_of(many) == 100
    stored = [r.as_dict() for r in risk.assess(facts(row("240000372"), milestone=Milestone.FIN_PROJET,
                                                     proofs_missing=["240000372"]))]
    assert risk.with_proofs(stored, Milestone.FIN_PROJET, [], 1) == []
    assert risk.with_proofs([], Milestone.FIN_PROJET, ["240000372"], 1)[0]["code"] == "proofs_missing"
