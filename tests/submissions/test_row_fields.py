"""The pushed row's fields are the template's: the API model, the stored row and the domain's
column list agree, and the API schema refuses what the service refuses."""

from __future__ import annotations

import jsonschema
import pytest

from service.domain.declaration import COLUMNS, MAX_NAME_LENGTH, ROW_FIELDS
from service.http.schemas import FINESS_SCHEMA
from service.models import SUBMISSION_ROW_TABLE
from service.submissions.schemas import SubmissionRowIn
from tests.conftest import Api, rows_for


def test_the_pushed_row_has_the_template_fields_in_their_order() -> None:
    assert tuple(SubmissionRowIn.model_fields) == ROW_FIELDS


def test_each_documented_field_names_its_template_column() -> None:
    for name, field in SubmissionRowIn.model_fields.items():
        letter, label = COLUMNS[name]
        assert f"« {label} » (colonne {letter} du modèle CNSA)" in (field.description or ""), name


def test_the_name_is_bounded_as_the_domain_bounds_it() -> None:
    schema = SubmissionRowIn.model_json_schema()["properties"]["raison_sociale"]
    assert {"type": "string", "maxLength": MAX_NAME_LENGTH} in schema["anyOf"]


def test_every_row_field_is_a_stored_column() -> None:
    assert set(ROW_FIELDS) <= set(SUBMISSION_ROW_TABLE.c.keys())


@pytest.mark.parametrize(("finess", "valid"), [("240000372", True), ("2A0000000", True), ("000000000", False),
                                               ("24000037", False), ("2C0000000", False)])
def test_the_finess_schema_says_what_a_finess_cannot_be(finess: str, valid: bool) -> None:
    assert jsonschema.Draft202012Validator(FINESS_SCHEMA).is_valid(finess) is valid


def test_an_all_zero_finess_is_refused_by_the_service_as_its_schema_says(api: Api) -> None:
    req = api.create_request()
    rows = rows_for(req)
    rows[0]["finess"] = "000000000"
    response = api.push(req["galis_ref"], {"milestone": "va", "rows": rows})
    assert response.status_code == 422, response.text
    refused = {e["code"]: e for e in response.json()["errors"]}
    assert refused["finess_all_zero"]["row"] == 1 and refused["finess_all_zero"]["column"] == "C"
    assert not jsonschema.Draft202012Validator(FINESS_SCHEMA).is_valid(rows[0]["finess"])
    assert api.count("submission") == 0
