"""Reading a proof's text: the FINESS it names (key checked), the figures next to their labels,
the dates of the measure and of the period; the comparison with the declaration, which says
``absent`` rather than ``different`` whenever the text is not clear."""

from __future__ import annotations

from datetime import date

from service.domain.proof_reading import compare, dates, figures, finess_numbers, read_text

REPORT = """Rapport d'activité du Dossier Usager Informatisé
EHPAD Les Tilleuls — FINESS géographique : 240000372
Mesure du 02/04/2024, période du 1er janvier 2024 au 31 mars 2024
Nombre de DUI actifs : 95
Personnes accompagnées : 100
DUI avec un projet personnalisé : 90
DUI avec au moins un événement d'agenda : 93
DUI avec DMP alimenté : 40
Messages envoyés par MS Santé : 1\u202f234
Taux de DUI actifs : 95 %
Signé : Marie Dupont, directrice générale
"""

DECLARED = {"finess": "240000372", "active_dui": 95, "persons_accompanied": 100, "dui_with_personal_plan": 90,
            "dui_with_agenda_event": 93, "dmp_fed": 40, "mss_messages_sent": 1234,
            "measured_on": date(2024, 4, 2), "period_start": date(2024, 1, 1), "period_end": date(2024, 3, 31)}


def values(found: dict[str, object]) -> dict[str, object]:
    return {field: getattr(f, "value", None) for field, f in found.items()}


def test_a_report_read_whole() -> None:
    read = read_text([REPORT])
    assert [f.value for f in read["finess"]] == ["240000372"]
    assert values(figures([REPORT])) == {"active_dui": 95, "persons_accompanied": 100, "dui_with_personal_plan": 90,
                                         "dui_with_agenda_event": 93, "dmp_fed": 40, "mss_messages_sent": 1234}
    assert values(dates([REPORT])) == {"measured_on": date(2024, 4, 2), "period_start": date(2024, 1, 1),
                                       "period_end": date(2024, 3, 31)}
    assert read["active_dui"].excerpt == "Nombre de DUI actifs : 95" and read["active_dui"].page == 1
    assert {v.field: v.verdict for v in compare(DECLARED, read)} == {field: "same" for field in DECLARED}


def test_a_figure_that_differs_is_said_so_with_what_was_read() -> None:
    read = read_text([REPORT.replace("DUI actifs : 95", "DUI actifs : 59")])
    verdicts = {v.field: v for v in compare(DECLARED, read)}
    assert (verdicts["active_dui"].verdict, verdicts["active_dui"].declared, verdicts["active_dui"].read) == (
        "different", 95, 59)
    assert verdicts["persons_accompanied"].verdict == "same"


def test_unclear_text_is_absent_never_different() -> None:
    twice = REPORT + "Dossiers actifs : 97\n"  # two values for one figure
    assert figures([twice])["active_dui"] is None
    assert {v.field: v.verdict for v in compare(DECLARED, read_text([twice]))}["active_dui"] == "absent"
    assert figures(["Nombre de DUI actifs :"])["active_dui"] is None  # a label with no figure
    assert figures(["Taux de DUI actifs : 95 %"])["active_dui"] is None  # a rate is not a count
    assert figures(["File active 2024"])["active_dui"] is None  # a year is not a count
    assert figures(["DUI actifs au 30/09/2024 : 95"])["active_dui"].value == 95  # the date is not a figure
    assert figures(["DUI actifs 120 130"])["active_dui"] is None  # two columns, or 120 130? unclear
    assert figures(["DUI actifs : 1\xa0234"])["active_dui"].value == 1234
    assert figures(["DUI actifs : 1.234"])["active_dui"].value == 1234


def test_finess_numbers_need_their_key() -> None:
    assert [f.value for f in finess_numbers(["FINESS 240000372 et 240000373", "ET : 2A0000014"])] == [
        "240000372", "2A0000014"]  # 240000373: a misread digit, its key fails
    assert [f.value for f in finess_numbers(["FINESS : 24 000 0372"])] == ["240000372"]
    other = compare({"finess": "240000372"}, read_text(["FINESS : 330000126"]))
    assert [(v.verdict, v.read) for v in other] == [("different", ["330000126"])]
    assert [v.verdict for v in compare({"finess": "240000372"}, read_text(["Aucun numéro"]))] == ["absent"]


def test_dates_in_their_french_and_iso_forms() -> None:
    assert values(dates(["Édité le 2024-04-02", "Période : 01/01/2024 - 31/03/2024"])) == {
        "measured_on": date(2024, 4, 2), "period_start": date(2024, 1, 1), "period_end": date(2024, 3, 31)}
    assert values(dates(["Situation au 2 avril 2024"]))["measured_on"] == date(2024, 4, 2)
    assert values(dates(["du 31/03/2024 au 01/01/2024"]))["period_start"] is None  # backwards: not a period
    assert values(dates(["le 31/02/2024"]))["measured_on"] is None  # not a date
