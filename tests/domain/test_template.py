"""Template rules that need no file: cell names, labels, a FINESS that lost its leading zero."""

from __future__ import annotations

from datetime import date

from service.domain import template
from tests.template_files import LABELS


def test_cell_names() -> None:
    assert [template.column_letter(i) for i in (0, 11, 25, 26, 27, 701, 702)] == \
        ["A", "L", "Z", "AA", "AB", "ZZ", "AAA"]
    assert template.cell_name(2, 7) == "C7"


def test_a_header_with_two_columns_swapped_reports_both_places_once() -> None:
    header = list(LABELS)
    header[4], header[5] = header[5], header[4]
    issues = template.check_header(header)
    assert [(i.code, i.column) for i in issues] == [("template_column_out_of_order", "E"),
                                                     ("template_column_out_of_order", "F")]


def test_an_eight_digit_number_is_a_lost_leading_zero_only_when_the_restored_finess_is_valid() -> None:
    assert template._lost_zero("10000016") == "010000016"
    assert template._lost_zero("10000017") is None  # 010000017 fails the check key
    assert template._lost_zero("1000001") is None


def test_issues_of_the_rules_on_a_cell_the_template_refused_are_dropped_and_others_addressed() -> None:
    refused = template._issue("date_as_number", "x", row=4, column="K", field_name="period_start")
    rules = [template.Issue(code="field_required", message="y", row=4, column="K", field="period_start"),
             template.Issue(code="negative_count", message="z", row=5, column="G", field="active_dui")]
    merged = template.merge_issues([refused], rules)
    assert [(i.code, i.message) for i in merged] == [("date_as_number", "K4 : x"), ("negative_count", "G5 : z")]


def test_rows_are_read_from_the_second_row_whatever_the_cell_types() -> None:
    sheet = template.Sheet(sheet_names=[template.SHEET_NAME], rows=[
        LABELS,
        ["12345678", "73282932000074", "010000016", None, 1.0, 2, "3", 4.0, 1.0, 1.0, date(2024, 1, 1),
         "31/03/2024"],
    ])
    read = template.read_template(sheet, filename="12345678.xlsx", galis_ref="12345678", siret="73282932000074",
                                  max_rows=10)
    assert read.issues == [] and read.row_numbers == [2]
    assert read.rows[0] == {"finess": "010000016", "raison_sociale": None, "dmp_fed": 1, "mss_messages_sent": 2,
                            "active_dui": 3, "persons_accompanied": 4, "dui_with_personal_plan": 1,
                            "dui_with_agenda_event": 1, "period_start": "2024-01-01", "period_end": "2024-03-31"}
